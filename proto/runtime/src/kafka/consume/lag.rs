//! Consumer lag, computed by the consumer itself for the partitions
//! assigned to it, in messages and in seconds, exported as two gauges by
//! `topic` and `partition` ([`super::ConsumerMetrics::lag_messages`] and
//! [`super::ConsumerMetrics::lag_seconds`]).
//!
//! **Messages**: the log end minus the offset of the next message to
//! process. The log end is the high watermark the log-end watch reads
//! every 2 s (`log_end.rs`, the same client, no second one), raised to the
//! consumer's fetch position when that is higher (Tansu reports the start
//! of its last record batch plus one as the high watermark; a consumer
//! that holds a message knows the log reaches at least past it). The next
//! message to process is the one after the last message whose batch was
//! acknowledged downstream (its offset stored); before the first such
//! batch, the first message of the oldest batch in hand, else the group's
//! committed offset, else the log start (the consumer reads from the
//! earliest message); never below the log start (retention).
//!
//! **Seconds**: the age of the oldest unprocessed message, 0 when the lag
//! in messages is 0. When the loop holds that message (a batch read and not
//! yet acknowledged, e.g. retried while ClickHouse is down) it is now minus
//! the message's Kafka timestamp. When it holds none of the partition's
//! messages (they are still in the broker or in librdkafka's queue) it is
//! the time since this consumer first saw the lag above 0 at the same next
//! offset: an undercount by however long the message waited before that,
//! which keeps rising for as long as nothing of the partition is processed
//! and starts again from 0 at each batch acknowledged.
//!
//! Both are set every [`TICK`] from what the loop did last and the last
//! look at the watermarks, so they keep rising while the handler retries a
//! batch. A partition revoked from this instance has its two series set to
//! 0 (the exporter cannot remove a series): its new owner reports it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};

use super::names::ConsumerMetrics;
use super::offsets::OffsetRange;
use fiducia_proto::time::now_ms;

/// How often the gauges are set.
pub(super) const TICK: Duration = Duration::from_millis(500);

/// What the loop did, as the lag needs it: shared by the loop (which reads
/// and acknowledges batches) and the watch (which sets the gauges).
#[derive(Debug, Default)]
pub(super) struct Processed {
    /// Per partition, the offset after the last message acknowledged.
    acked: HashMap<i32, i64>,
    /// Batches read and not yet acknowledged, oldest first: per partition
    /// the first offset and its Kafka timestamp (Unix ms).
    in_hand: VecDeque<Vec<(i32, i64, Option<i64>)>>,
}

impl Processed {
    /// A batch was read.
    pub(super) fn read(&mut self, ranges: &[OffsetRange]) {
        self.in_hand.push_back(
            ranges
                .iter()
                .map(|r| (r.partition, r.first, r.first_timestamp_ms))
                .collect(),
        );
    }

    /// The oldest batch in hand, of these `ranges`, was acknowledged.
    pub(super) fn acknowledged(&mut self, ranges: &[OffsetRange]) {
        self.in_hand.pop_front();
        for range in ranges {
            self.acked.insert(range.partition, range.last + 1);
        }
    }

    /// Forgets what was acknowledged of `partition` (revoked, or re-read
    /// from `from` after a reset).
    pub(super) fn restart(&mut self, partition: i32, from: Option<i64>) {
        match from {
            Some(offset) => self.acked.insert(partition, offset),
            None => self.acked.remove(&partition),
        };
    }

    /// The first offset and timestamp of `partition` in the oldest batch
    /// in hand that holds it.
    fn oldest_held(&self, partition: i32) -> Option<(i64, Option<i64>)> {
        self.in_hand.iter().find_map(|batch| {
            batch
                .iter()
                .find(|(p, ..)| *p == partition)
                .map(|&(_, first, timestamp)| (first, timestamp))
        })
    }
}

/// What the lag of one partition is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LagInput {
    /// The log end: the high watermark, or the fetch position if higher.
    pub end: i64,
    /// The offset of the next message to process (module docs).
    pub next: i64,
    /// The Kafka timestamp (Unix ms) of the oldest unprocessed message,
    /// when the loop holds it.
    pub oldest_timestamp_ms: Option<i64>,
    /// When this consumer first saw the lag above 0 at `next` (Unix ms).
    pub lagging_since_ms: i64,
    /// Now (Unix ms).
    pub now_ms: i64,
}

/// The rule of the module docs: the lag in messages and in seconds.
#[must_use]
pub(super) fn lag(input: LagInput) -> (u64, f64) {
    let messages = u64::try_from(input.end - input.next).unwrap_or(0);
    if messages == 0 {
        return (0, 0.0);
    }
    let since = input.oldest_timestamp_ms.unwrap_or(input.lagging_since_ms);
    #[allow(clippy::cast_precision_loss)] // milliseconds of age, far below 2^52
    let seconds = (input.now_ms - since).max(0) as f64 / 1000.0;
    (messages, seconds)
}

/// What the log-end watch last read of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Watermarks {
    /// The log start.
    pub low: i64,
    /// The log end: the high watermark, or the true end when it was read.
    pub high: i64,
    /// The group's committed offset, when the consumer had no position.
    pub committed: Option<i64>,
}

/// The two gauges of every partition assigned, kept current.
pub(super) struct LagGauges {
    topic: String,
    names: ConsumerMetrics,
    /// Per partition reported: its gauges, and where and since when it lags.
    reported: HashMap<i32, Reported>,
}

struct Reported {
    messages: metrics::Gauge,
    seconds: metrics::Gauge,
    lagging: Option<(i64, i64)>,
}

impl LagGauges {
    pub(super) fn new(topic: &str, names: ConsumerMetrics) -> Self {
        Self {
            topic: topic.to_owned(),
            names,
            reported: HashMap::new(),
        }
    }

    /// Sets the gauges of every assigned partition of the topic that has
    /// been looked at, and 0 for those no longer assigned.
    pub(super) fn update(
        &mut self,
        consumer: &StreamConsumer,
        progress: &Mutex<Processed>,
        watermarks: &HashMap<i32, Watermarks>,
    ) {
        let Ok(assignment) = consumer.assignment() else {
            return;
        };
        let assigned: Vec<i32> = assignment
            .elements_for_topic(&self.topic)
            .iter()
            .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
            .collect();
        let positions = consumer.position().ok();
        let now = now_ms();
        let revoked: Vec<i32> = self
            .reported
            .keys()
            .filter(|p| !assigned.contains(p))
            .copied()
            .collect();
        let mut progress = progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for partition in revoked {
            if let Some(gone) = self.reported.remove(&partition) {
                gone.messages.set(0.0);
                gone.seconds.set(0.0);
            }
            progress.restart(partition, None);
        }
        for partition in assigned {
            let Some(marks) = watermarks.get(&partition) else {
                continue;
            };
            let position = positions
                .as_ref()
                .and_then(|p| p.find_partition(&self.topic, partition))
                .and_then(|p| p.offset().to_raw())
                .filter(|&offset| offset >= 0);
            let held = progress.oldest_held(partition);
            let next = progress
                .acked
                .get(&partition)
                .copied()
                .or(held.map(|(first, _)| first))
                .or(marks.committed)
                .or(position)
                .unwrap_or(marks.low)
                .max(marks.low);
            let end = marks.high.max(position.unwrap_or(0));
            let reported = self.reported.entry(partition).or_insert_with(|| {
                let labels = [
                    ("topic", self.topic.clone()),
                    ("partition", partition.to_string()),
                ];
                Reported {
                    messages: metrics::gauge!(self.names.lag_messages, &labels),
                    seconds: metrics::gauge!(self.names.lag_seconds, &labels),
                    lagging: None,
                }
            });
            let since = match reported.lagging {
                Some((at, since)) if at == next => since,
                _ => now,
            };
            reported.lagging = (end > next).then_some((next, since));
            let (messages, seconds) = lag(LagInput {
                end,
                next,
                oldest_timestamp_ms: held.and_then(|(_, timestamp)| timestamp),
                lagging_since_ms: since,
                now_ms: now,
            });
            #[allow(clippy::cast_precision_loss)] // a count of messages, far below 2^52
            reported.messages.set(messages as f64);
            reported.seconds.set(seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn input(end: i64, next: i64, oldest: Option<i64>, since: i64) -> LagInput {
        LagInput {
            end,
            next,
            oldest_timestamp_ms: oldest,
            lagging_since_ms: since,
            now_ms: NOW,
        }
    }

    #[test]
    fn nothing_left_to_process_is_no_lag_in_messages_or_seconds() {
        assert_eq!(lag(input(100, 100, None, NOW - 5_000)), (0, 0.0));
        // Tansu's watermark may sit below the position: still nothing left.
        assert_eq!(lag(input(91, 100, Some(NOW - 9_000), NOW)), (0, 0.0));
    }

    #[test]
    fn a_held_message_ages_from_its_kafka_timestamp() {
        assert_eq!(lag(input(110, 100, Some(NOW - 2_500), NOW)), (10, 2.5));
        // A timestamp ahead of this clock is no negative age.
        assert_eq!(lag(input(110, 100, Some(NOW + 2_000), NOW)), (10, 0.0));
    }

    #[test]
    fn a_message_not_held_ages_from_when_the_lag_was_first_seen() {
        assert_eq!(lag(input(110, 100, None, NOW - 30_000)), (10, 30.0));
        assert_eq!(lag(input(110, 100, None, NOW)), (10, 0.0));
    }

    #[test]
    fn the_age_keeps_rising_while_nothing_is_processed() {
        let since = NOW - 1_000;
        let seconds: Vec<f64> = [0, 60_000, 120_000]
            .into_iter()
            .map(|later| {
                lag(LagInput {
                    now_ms: NOW + later,
                    ..input(110, 100, None, since)
                })
                .1
            })
            .collect();
        assert_eq!(seconds, [1.0, 61.0, 121.0]);
    }

    #[test]
    fn the_oldest_batch_in_hand_holds_the_oldest_message_until_acknowledged() {
        let range = |partition, first, last, ts| OffsetRange {
            topic: "t".into(),
            partition,
            first,
            last,
            first_timestamp_ms: Some(ts),
        };
        let mut progress = Processed::default();
        let first = [range(0, 10, 19, 1_000), range(1, 5, 5, 2_000)];
        let second = [range(0, 20, 29, 3_000), range(2, 0, 3, 4_000)];
        progress.read(&first);
        progress.read(&second);
        assert_eq!(progress.oldest_held(0), Some((10, Some(1_000))));
        assert_eq!(progress.oldest_held(2), Some((0, Some(4_000))));
        progress.acknowledged(&first);
        assert_eq!(progress.oldest_held(0), Some((20, Some(3_000))));
        assert_eq!(progress.oldest_held(1), None);
        assert_eq!(progress.acked.get(&1), Some(&6));
        progress.acknowledged(&second);
        assert_eq!(progress.oldest_held(0), None);
        assert_eq!(progress.acked.get(&0), Some(&30));
    }
}
