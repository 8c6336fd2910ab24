//! The lag of the next stage's consumer group, watched from upstream, so it
//! shows while that stage is down: a consumer reports its own lag
//! (`consume/lag.rs`), and a stopped one reports nothing. The enricher
//! watches the sink's group on the enriched topic, the collector the
//! enricher's group on the raw topic (`deploy/OPERATIONS.md`, lag).
//!
//! Every [`INTERVAL`], on a blocking thread, a client of its own
//! reads each partition's high watermark and the group's committed offset
//! (it never joins the group nor commits). Lag in messages: the high
//! watermark minus the committed offset (the log start when the group has
//! committed nothing). Lag in seconds: how long ago the log first held the
//! message at the committed offset, from the watermarks seen at each look
//! ([`age`]): no message is fetched, and it is at most one interval short.
//! A watch younger than the backlog only knows its own age, so it reports
//! that (a lower bound). Committed offsets trail what a running consumer has
//! processed by its commit interval, so a healthy stage shows a few seconds
//! here; its own gauges are exact.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::metadata::MetadataPartition;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::kafka::client::group_reader;
use crate::service::config::{ConfigError, env_or};

/// Watermark samples kept per partition: a day at one look every 5 s.
const HISTORY: usize = 17_280;

/// Which group, on which topic.
#[derive(Debug, Clone)]
pub struct GroupLag {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The watched consumer group (the next stage's).
    pub group: String,
    /// The topic it consumes.
    pub topic: String,
}

/// What turns the watch off in a `*_DOWNSTREAM_GROUP` variable (unset or
/// empty is the default group, as for every variable).
pub const OFF: &str = "off";

/// The watched group a `*_DOWNSTREAM_GROUP` variable names: `default` when
/// unset or empty, `None` for [`OFF`].
///
/// # Errors
/// Never for a string; the signature is the configuration's.
pub fn group_from_env(var: &str, default: &str) -> Result<Option<String>, ConfigError> {
    let group: String = env_or(var, default.to_owned())?;
    Ok((group != OFF).then_some(group))
}

/// Time between looks: the resolution of the age.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The gauges, declared in the watching service's metrics module; labels
/// `group`, `topic`, `partition`.
#[derive(Debug, Clone, Copy)]
pub struct GroupLagMetrics {
    /// Messages the group has not committed.
    pub messages: &'static str,
    /// Age of the oldest of them, in seconds.
    pub seconds: &'static str,
}

impl GroupLagMetrics {
    /// Describes the gauges under these names; from the service's metrics
    /// module's `describe`.
    pub fn describe(&self) {
        metrics::describe_gauge!(
            self.messages,
            "Messages the next stage's consumer group has not committed, seen from upstream (shows while that stage is down)."
        );
        metrics::describe_gauge!(
            self.seconds,
            metrics::Unit::Seconds,
            "Age of the oldest message the next stage's consumer group has not committed, seen from upstream."
        );
    }
}

/// One partition's high watermarks, each with when it was first seen,
/// oldest first.
#[derive(Debug, Default)]
struct Seen {
    highs: VecDeque<(Instant, i64)>,
}

impl Seen {
    fn push(&mut self, at: Instant, high: i64) {
        match self.highs.back() {
            Some(&(_, last)) if last == high => {}
            Some(&(_, last)) if high < last => {
                // The log was replaced: what was seen no longer dates it.
                self.highs.clear();
                self.highs.push_back((at, high));
            }
            _ => {
                if self.highs.len() == HISTORY {
                    self.highs.pop_front();
                }
                self.highs.push_back((at, high));
            }
        }
    }
}

/// How long ago the log first held offset `committed`, at `now`: the first
/// look whose high watermark lay above it. `Duration::ZERO` when nothing is
/// behind; the age of the oldest look when every look already held it.
fn age(highs: &VecDeque<(Instant, i64)>, committed: i64, now: Instant) -> Duration {
    match highs.back() {
        Some(&(_, high)) if high > committed => {}
        _ => return Duration::ZERO,
    }
    let first = highs.partition_point(|&(_, high)| high <= committed);
    now.saturating_duration_since(highs[first].0)
}

/// Watches until `shutdown`; logs and ends if the client cannot be made.
pub fn spawn(
    settings: GroupLag,
    names: GroupLagMetrics,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match group_reader(&settings.brokers, "fiducia-group-lag", &settings.group)
            .create::<BaseConsumer>()
        {
            Ok(client) => Arc::new(client),
            Err(error) => {
                tracing::error!(%error, group = %settings.group, "cannot create the group lag watch's client");
                return;
            }
        };
        let mut seen: HashMap<i32, Seen> = HashMap::new();
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let (client, topic) = (Arc::clone(&client), settings.topic.clone());
            let looked = tokio::task::spawn_blocking(move || look(&client, &topic, INTERVAL)).await;
            let now = Instant::now();
            match looked {
                Ok(Ok(partitions)) => {
                    for Partition {
                        id: partition,
                        low,
                        high,
                        committed,
                    } in partitions
                    {
                        let history = seen.entry(partition).or_default();
                        history.push(now, high);
                        let committed = committed.unwrap_or(low).max(low);
                        let labels = [
                            ("group", settings.group.clone()),
                            ("topic", settings.topic.clone()),
                            ("partition", partition.to_string()),
                        ];
                        #[allow(clippy::cast_precision_loss)] // offsets far below 2^52
                        metrics::gauge!(names.messages, &labels)
                            .set((high - committed).max(0) as f64);
                        metrics::gauge!(names.seconds, &labels)
                            .set(age(&history.highs, committed, now).as_secs_f64());
                    }
                }
                // A broker outage: the gauges keep their last values and the
                // services' own broker alerts speak; logged once per look.
                Ok(Err(error)) => {
                    tracing::debug!(%error, group = %settings.group, "group lag look failed");
                }
                Err(error) => tracing::error!(%error, "group lag look panicked"),
            }
        }
    })
}

/// What one look found of a partition.
struct Partition {
    id: i32,
    /// The log start.
    low: i64,
    /// The high watermark.
    high: i64,
    /// The group's committed offset, if it has one.
    committed: Option<i64>,
}

/// Each partition of `topic`, as it is now.
fn look(client: &BaseConsumer, topic: &str, timeout: Duration) -> KafkaResult<Vec<Partition>> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let mut list = TopicPartitionList::new();
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(MetadataPartition::id))
        .collect();
    for &partition in &partitions {
        list.add_partition(topic, partition);
    }
    let committed = client.committed_offsets(list, timeout)?;
    partitions
        .into_iter()
        .map(|partition| {
            let (low, high) = client.fetch_watermarks(topic, partition, timeout)?;
            let offset = committed
                .find_partition(topic, partition)
                .and_then(|p| p.offset().to_raw())
                .filter(|&offset| offset >= 0);
            Ok(Partition {
                id: partition,
                low,
                high,
                committed: offset,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_is_how_long_ago_the_log_first_held_the_committed_offset() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut seen = Seen::default();
        for (s, high) in [(0, 10), (5, 10), (10, 25), (15, 40), (20, 40)] {
            seen.push(at(s), high);
        }
        // Equal highs are one sample: the first time each was seen counts.
        assert_eq!(seen.highs.len(), 3);
        // Caught up: no age.
        assert_eq!(age(&seen.highs, 40, at(30)), Duration::ZERO);
        // Offset 30 arrived between the looks at 10 s and 15 s.
        assert_eq!(age(&seen.highs, 30, at(30)), Duration::from_secs(15));
        // Offset 12: between 5 s and 10 s.
        assert_eq!(age(&seen.highs, 12, at(30)), Duration::from_secs(20));
        // Offset 3 was in the log at the first look: its age is at least that.
        assert_eq!(age(&seen.highs, 3, at(30)), Duration::from_secs(30));
        // A replaced log starts the history over.
        seen.push(at(35), 2);
        assert_eq!(seen.highs.len(), 1);
        assert_eq!(age(&seen.highs, 0, at(40)), Duration::from_secs(5));
        assert_eq!(age(&seen.highs, 2, at(40)), Duration::ZERO);
    }

    #[test]
    fn the_history_is_bounded() {
        let start = Instant::now();
        let mut seen = Seen::default();
        for i in 0..HISTORY + 10 {
            seen.push(start, i64::try_from(i).unwrap());
        }
        assert_eq!(seen.highs.len(), HISTORY);
        assert_eq!(seen.highs.front().map(|&(_, h)| h), Some(10));
    }
}
