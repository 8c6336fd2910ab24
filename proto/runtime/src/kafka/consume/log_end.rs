//! Noticing a consumer whose position lies beyond its partition's log: the
//! broker lost its data (a memory broker restarted, a cluster replaced) or
//! the topic was recreated, while the consumer kept its old offsets.
//!
//! A real Kafka answers such a fetch "offset out of range" and librdkafka
//! applies `auto.offset.reset`; Tansu 0.6 answers it with nothing, so the
//! consumer would wait in silence while every new event piles up behind it,
//! and its automatic commits would write the old offsets into the new log.
//!
//! The rule: every [`LogEndWatch::interval`], a client of its own reads each
//! assigned partition's watermarks on a blocking thread (never the consume
//! loop's). A partition is **reset to its beginning** when its high
//! watermark went back below one seen earlier (the log was replaced, even if
//! it has grown past the consumer's position since), or when the consumer's
//! position lies beyond the log's true end. Re-reading the new log from its
//! start costs duplicates, which every stage downstream drops by event id;
//! it never loses an acknowledged event. Each reset is logged as an error
//! and counted in [`ConsumerMetrics::offset_resets`] by `topic`.
//!
//! What each look reads (log start, high watermark or true end, committed
//! offset) is kept for the consumer lag gauges (`lag.rs`): one client for both.
//!
//! A reset must show: a partition whose log holds messages but whose
//! consumer still received none of them [`RESEEK_AFTER`] after the reset is
//! sought again; after [`STUCK_AFTER`] the consumer is given up as stuck
//! (librdkafka 2.12 can keep failing to fetch a partition of a topic
//! recreated under a new id while the rest of the topic flows): the loop
//! ends with [`Stuck`], the service exits non-zero, and its supervisor
//! starts it again with a fresh consumer, which finds its committed offset
//! beyond the log end and resets it the same way. Loud, never silent.
//!
//! The true end needs care: Tansu 0.6 reports the high watermark as the start
//! of the last record batch plus one, not the offset after its last record.
//! So a position above the high watermark is checked by reading from the
//! last batch's start (`high - 1`): a fetch answers with whole batches, so
//! the messages that arrive together end at the true log end.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::lag::{Processed, Watermarks};
use super::names::ConsumerMetrics;
use crate::kafka::client::group_reader;

/// How long a reset partition may receive nothing, while its log holds
/// messages, before it is sought to its beginning again.
const RESEEK_AFTER: Duration = Duration::from_secs(10);
/// How long before the consumer is given up as stuck (module docs).
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// A consumer that received nothing of a reset partition for
/// [`STUCK_AFTER`] while its log held messages.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "the consumer received nothing of {topic} partition {partition} for {seconds} s after \
     re-reading it from its beginning, while its log holds messages: stuck; a new consumer is needed"
)]
pub struct Stuck {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// How long it waited.
    pub seconds: u64,
}

/// What a reset partition that received nothing yet, while its log holds
/// messages, calls for after `waited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Waiting,
    SeekAgain,
    Stuck,
}

fn progress(waited: Duration, sought_again: bool) -> Progress {
    if waited >= STUCK_AFTER {
        Progress::Stuck
    } else if waited >= RESEEK_AFTER && !sought_again {
        Progress::SeekAgain
    } else {
        Progress::Waiting
    }
}

/// What one look at a partition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    partition: i32,
    /// The low watermark: the log start.
    low: i64,
    /// The high watermark as the broker reports it.
    high: i64,
    /// The consumer's position when the look began, or the group's
    /// committed offset when it has none yet (`None`: neither).
    position: Option<i64>,
    /// The log's true end, read only when the position lies above `high`.
    end: Option<i64>,
    /// Whether `position` is the group's committed offset (the consumer has
    /// not received a message of the partition since it was assigned it or
    /// since it was reset).
    committed: bool,
}

/// Why a partition is reset, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Fine,
    /// The high watermark went back below `seen`: the log was replaced.
    Replaced {
        seen: i64,
    },
    /// The position lies beyond the log's true end.
    BeyondEnd {
        end: i64,
    },
}

/// The rule, apart from any broker: `seen` is the highest watermark seen
/// before on this partition.
fn judge(look: &Look, seen: Option<i64>) -> Verdict {
    if let Some(seen) = seen.filter(|&seen| look.high < seen) {
        return Verdict::Replaced { seen };
    }
    match (look.position, look.end) {
        (Some(position), Some(end)) if position > end => Verdict::BeyondEnd { end },
        _ => Verdict::Fine,
    }
}

/// Watches one consumer's assigned partitions of one topic (see the module
/// docs). Polled by the consume loop between batches and while it idles;
/// [`Self::poll`] never blocks.
pub(super) struct LogEndWatch {
    topic: String,
    client: Arc<BaseConsumer>,
    interval: Duration,
    next_look: Instant,
    looking: Option<JoinHandle<Vec<Look>>>,
    seen: HashMap<i32, i64>,
    /// Partitions reset whose consumer has received nothing since: their
    /// committed offset stays the old one until it does, which is no reason
    /// to reset them again.
    reset: HashSet<i32>,
    /// When each partition of `reset` was reset, and whether it was sought
    /// again since.
    reset_at: HashMap<i32, (Instant, bool)>,
    stuck: Option<Stuck>,
    resets: metrics::Counter,
    /// What the last look read of each partition, for the lag gauges.
    watermarks: HashMap<i32, Watermarks>,
}

impl LogEndWatch {
    /// A watch of `topic` for a consumer of `group`.
    pub(super) fn new(
        brokers: &str,
        group: &str,
        topic: &str,
        interval: Duration,
        names: &ConsumerMetrics,
    ) -> KafkaResult<Self> {
        let client = group_reader(brokers, "fiducia-log-end", group)
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "100")
            .create()?;
        Ok(Self {
            topic: topic.to_owned(),
            client: Arc::new(client),
            interval,
            next_look: Instant::now(),
            looking: None,
            seen: HashMap::new(),
            reset: HashSet::new(),
            reset_at: HashMap::new(),
            stuck: None,
            resets: metrics::counter!(names.offset_resets, "topic" => topic.to_owned()),
            watermarks: HashMap::new(),
        })
    }

    /// Acts on a finished look, and starts the next one when it is due.
    pub(super) async fn poll(&mut self, consumer: &StreamConsumer, progress: &Mutex<Processed>) {
        if let Some(handle) = self.looking.take_if(|h| h.is_finished()) {
            match handle.await {
                Ok(looks) => self.act(consumer, &looks, progress),
                Err(error) => {
                    if let Ok(panic) = error.try_into_panic() {
                        std::panic::resume_unwind(panic);
                    }
                }
            }
        }
        if self.looking.is_some() || Instant::now() < self.next_look {
            return;
        }
        self.next_look = Instant::now() + self.interval;
        let positions = positions(consumer, &self.topic);
        if positions.is_empty() {
            return;
        }
        let (client, topic) = (Arc::clone(&self.client), self.topic.clone());
        let timeout = self.interval.max(Duration::from_secs(2));
        self.looking = Some(tokio::task::spawn_blocking(move || {
            positions
                .into_iter()
                // A partition the broker cannot describe now is looked at next time.
                .filter_map(|(partition, position)| {
                    look(&client, &topic, partition, position, timeout)
                        .inspect_err(|error| tracing::debug!(%error, %topic, partition, "log end look failed"))
                        .ok()
                })
                .collect()
        }));
    }

    /// Set once the consumer is stuck on a partition (module docs): the
    /// loop must end.
    pub(super) fn stuck(&self) -> Option<&Stuck> {
        self.stuck.as_ref()
    }

    /// What the last look read of each partition it looked at.
    pub(super) fn watermarks(&self) -> &HashMap<i32, Watermarks> {
        &self.watermarks
    }

    fn act(&mut self, consumer: &StreamConsumer, looks: &[Look], progress: &Mutex<Processed>) {
        tracing::debug!(topic = %self.topic, ?looks, "log end looked at");
        for look in looks {
            self.watermarks.insert(
                look.partition,
                Watermarks {
                    low: look.low,
                    high: look.end.unwrap_or(look.high).max(look.high),
                    committed: look.position.filter(|_| look.committed),
                },
            );
            let verdict = judge(look, self.seen.get(&look.partition).copied());
            self.seen.insert(look.partition, look.high);
            if !look.committed {
                self.reset.remove(&look.partition);
                self.reset_at.remove(&look.partition);
            }
            let again = look.committed && self.reset.contains(&look.partition);
            if again {
                self.check_progress(consumer, look);
                continue;
            }
            if verdict == Verdict::Fine {
                continue;
            }
            self.reset.insert(look.partition);
            self.reset_at
                .insert(look.partition, (Instant::now(), false));
            tracing::error!(
                topic = %self.topic,
                partition = look.partition,
                position = look.position,
                high_watermark = look.high,
                ?verdict,
                "the partition's log no longer holds this consumer's position (the broker lost \
                 data or the topic was recreated); re-reading it from its beginning"
            );
            self.resets.increment(1);
            progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .restart(look.partition, Some(0));
            self.seek_to_beginning(consumer, look.partition);
        }
    }

    /// A partition reset whose consumer has received nothing since: fine
    /// while its log is empty; sought again, then given up as stuck, while
    /// the log holds messages (module docs).
    fn check_progress(&mut self, consumer: &StreamConsumer, look: &Look) {
        let holds_messages = look.end.unwrap_or(look.high) > 0;
        let Some((at, sought_again)) = self.reset_at.get_mut(&look.partition) else {
            return;
        };
        if !holds_messages {
            // Nothing to receive: the clock starts when there is.
            *at = Instant::now();
            return;
        }
        let waited = at.elapsed();
        match progress(waited, *sought_again) {
            Progress::Waiting => {}
            Progress::SeekAgain => {
                *sought_again = true;
                tracing::warn!(topic = %self.topic, partition = look.partition, waited_s = waited.as_secs(), "nothing received since the reset while the log holds messages; seeking to the beginning again");
                self.seek_to_beginning(consumer, look.partition);
            }
            Progress::Stuck if self.stuck.is_none() => {
                let stuck = Stuck {
                    topic: self.topic.clone(),
                    partition: look.partition,
                    seconds: waited.as_secs(),
                };
                tracing::error!(error = %stuck, "giving the consumer up");
                self.stuck = Some(stuck);
            }
            Progress::Stuck => {}
        }
    }

    fn seek_to_beginning(&self, consumer: &StreamConsumer, partition: i32) {
        // Asynchronous (no timeout): librdkafka applies it in its own thread.
        if let Err(error) = consumer.seek(&self.topic, partition, Offset::Beginning, Duration::ZERO)
        {
            tracing::error!(%error, topic = %self.topic, partition, "seek failed");
        }
    }
}

/// The consumer's assigned partitions of `topic` and their positions; local
/// calls, no broker round trip.
fn positions(consumer: &StreamConsumer, topic: &str) -> Vec<(i32, Option<i64>)> {
    let Ok(assignment) = consumer.assignment() else {
        return Vec::new();
    };
    let positions = consumer.position().ok();
    assignment
        .elements_for_topic(topic)
        .iter()
        .map(|element| {
            let position = positions
                .as_ref()
                .and_then(|p| p.find_partition(topic, element.partition()))
                .and_then(|p| p.offset().to_raw())
                .filter(|&offset| offset >= 0);
            (element.partition(), position)
        })
        .collect()
}

/// One look at a partition, on a blocking thread. A consumer that has not
/// received a message since it was assigned the partition has no position
/// yet: it fetches from the group's committed offset, which is looked up.
fn look(
    client: &BaseConsumer,
    topic: &str,
    partition: i32,
    position: Option<i64>,
    timeout: Duration,
) -> KafkaResult<Look> {
    let (position, committed) = match position {
        Some(position) => (Some(position), false),
        None => (committed_offset(client, topic, partition, timeout)?, true),
    };
    let (low, high) = client.fetch_watermarks(topic, partition, timeout)?;
    let end = match position {
        Some(position) if position > high => Some(if high <= low {
            high
        } else {
            true_end(client, topic, partition, high - 1, timeout)?
        }),
        _ => None,
    };
    Ok(Look {
        partition,
        low,
        high,
        position,
        end,
        committed,
    })
}

/// The group's committed offset of a partition, if it has one.
fn committed_offset(
    client: &BaseConsumer,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> KafkaResult<Option<i64>> {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let committed = client.committed_offsets(list, timeout)?;
    Ok(committed
        .find_partition(topic, partition)
        .and_then(|p| p.offset().to_raw())
        .filter(|&offset| offset >= 0))
}

/// The offset after the last record, read from `last_batch`, the start of
/// the partition's last record batch: the first fetch brings that batch
/// whole, so the end is where the messages that came with it stop.
fn true_end(
    client: &BaseConsumer,
    topic: &str,
    partition: i32,
    last_batch: i64,
    timeout: Duration,
) -> KafkaResult<i64> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(last_batch))?;
    client.assign(&assignment)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut end = None;
    loop {
        // The first message may take a fetch; the rest of its batch is queued already.
        let wait = if end.is_some() {
            Duration::from_millis(50)
        } else {
            deadline.saturating_duration_since(std::time::Instant::now())
        };
        match client.poll(wait) {
            Some(Ok(message)) => end = Some(message.offset() + 1),
            Some(Err(KafkaError::PartitionEOF(_))) | None => break,
            Some(Err(error)) => return Err(error),
        }
    }
    client.unassign()?;
    end.ok_or(KafkaError::NoMessageReceived)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(high: i64, position: Option<i64>, end: Option<i64>) -> Look {
        Look {
            partition: 0,
            low: 0,
            high,
            position,
            end,
            committed: false,
        }
    }

    #[test]
    fn a_position_inside_the_log_is_left_alone() {
        assert_eq!(judge(&look(100, Some(100), None), Some(90)), Verdict::Fine);
        assert_eq!(judge(&look(100, Some(50), None), None), Verdict::Fine);
        // Tansu's watermark lags the last batch: a position past it is fine
        // when the log really holds it.
        assert_eq!(judge(&look(91, Some(100), Some(100)), None), Verdict::Fine);
        // Not yet fetching: nothing to judge.
        assert_eq!(judge(&look(0, None, None), None), Verdict::Fine);
    }

    #[test]
    fn a_position_beyond_the_true_end_is_reset() {
        assert_eq!(
            judge(&look(0, Some(600), Some(0)), None),
            Verdict::BeyondEnd { end: 0 }
        );
        assert_eq!(
            judge(&look(80, Some(600), Some(91)), None),
            Verdict::BeyondEnd { end: 91 }
        );
    }

    #[test]
    fn a_reset_that_never_shows_is_sought_again_once_then_given_up() {
        let s = Duration::from_secs;
        assert_eq!(progress(s(2), false), Progress::Waiting);
        assert_eq!(progress(RESEEK_AFTER, false), Progress::SeekAgain);
        assert_eq!(progress(s(20), true), Progress::Waiting);
        assert_eq!(progress(STUCK_AFTER, true), Progress::Stuck);
        assert_eq!(progress(STUCK_AFTER, false), Progress::Stuck);
    }

    #[test]
    fn a_watermark_gone_back_is_a_replaced_log_even_past_the_position() {
        // The new log grew past the old position before the look: the
        // position is inside it, but everything before it would be skipped.
        assert_eq!(
            judge(&look(700, Some(650), None), Some(900)),
            Verdict::Replaced { seen: 900 }
        );
    }
}
