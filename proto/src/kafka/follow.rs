//! Reading a whole topic from its beginning into local state on every
//! instance, with no consumer group: how a collector rebuilds its consent
//! ledger from `fiducia.consent.v1` (SPEC section 13: collectors stay
//! stateless, the state is the topic).
//!
//! Every partition is assigned by hand from the earliest offset; nothing is
//! committed. [`FollowState`] says when the instance has read everything
//! that was in the topic when it started (readiness: a collector that has
//! not seen every withdrawal must not accept events) and how many messages
//! it is behind (published as a gauge).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::client_config;

/// Progress of a follower, shared with readiness checks.
#[derive(Debug, Default)]
pub struct FollowState {
    caught_up: AtomicBool,
    lag_messages: AtomicI64,
}

impl FollowState {
    /// Whether everything the topic held at start-up has been applied.
    #[must_use]
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Messages in the topic not applied yet, at the last check.
    #[must_use]
    pub fn lag_messages(&self) -> i64 {
        self.lag_messages.load(Ordering::Relaxed)
    }
}

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowSettings {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topic to read.
    pub topic: String,
    /// Client id in broker logs.
    pub client_id: String,
    /// How often lag is measured and new partitions are picked up.
    pub check_interval: Duration,
    /// Gauge the lag (messages) is published to.
    pub lag_metric: &'static str,
}

/// Low and high watermark by partition.
type Marks = HashMap<i32, (i64, i64)>;

/// Per-partition reading position against the topic's end.
#[derive(Debug, Default)]
struct Positions {
    /// Next offset to apply, by partition.
    next: HashMap<i32, i64>,
    /// High watermark when the partition was first assigned.
    start_end: HashMap<i32, i64>,
}

impl Positions {
    fn caught_up(&self) -> bool {
        self.start_end
            .iter()
            .all(|(p, end)| self.next.get(p).copied().unwrap_or(0) >= *end)
    }
}

/// Applies every message of the topic, from the beginning, to `apply`,
/// until `shutdown`. Keeps retrying while the broker is unreachable.
pub async fn follow<F>(
    settings: FollowSettings,
    mut apply: F,
    state: Arc<FollowState>,
    shutdown: CancellationToken,
) where
    F: FnMut(&[u8]) + Send,
{
    let consumer = loop {
        match consumer(&settings) {
            Ok(consumer) => break Arc::new(consumer),
            Err(error) => {
                tracing::warn!(%error, topic = %settings.topic, "cannot create the follower; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    let lag = metrics::gauge!(settings.lag_metric);
    let mut positions = Positions::default();
    let mut check = tokio::time::interval(settings.check_interval);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = consumer.recv() => match received {
                Ok(message) => {
                    if let Some(payload) = message.payload() {
                        apply(payload);
                    }
                    positions.next.insert(message.partition(), message.offset() + 1);
                    if !state.is_caught_up() && positions.caught_up() && !positions.start_end.is_empty() {
                        state.caught_up.store(true, Ordering::Release);
                        tracing::info!(topic = %settings.topic, "follower caught up");
                    }
                }
                Err(error) => tracing::warn!(%error, topic = %settings.topic, "follower error"),
            },
            _ = check.tick() => {
                let behind = refresh(&consumer, &settings.topic, &mut positions).await;
                if let Some(behind) = behind {
                    state.lag_messages.store(behind, Ordering::Relaxed);
                    #[allow(clippy::cast_precision_loss)] // a gauge
                    lag.set(behind as f64);
                    if !state.is_caught_up() && positions.caught_up() && !positions.start_end.is_empty() {
                        state.caught_up.store(true, Ordering::Release);
                        tracing::info!(topic = %settings.topic, "follower caught up");
                    }
                }
            }
            () = shutdown.cancelled() => return,
        }
    }
}

fn consumer(settings: &FollowSettings) -> KafkaResult<StreamConsumer> {
    client_config(&settings.brokers, &settings.client_id)
        // Required by librdkafka for a consumer; never joined (no subscribe)
        // and never committed to.
        .set("group.id", &settings.client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .create()
}

/// Assigns partitions not assigned yet (from the beginning), records each
/// new partition's end as a catch-up target, and returns the total lag;
/// `None` when the broker did not answer.
async fn refresh(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    positions: &mut Positions,
) -> Option<i64> {
    let c = Arc::clone(consumer);
    let name = topic.to_owned();
    let known: Vec<i32> = positions.start_end.keys().copied().collect();
    let answer = tokio::task::spawn_blocking(move || -> KafkaResult<Marks> {
        let timeout = Duration::from_secs(3);
        let metadata = c.fetch_metadata(Some(&name), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == name && t.error().is_none())
            .flat_map(|t| {
                t.partitions()
                    .iter()
                    .map(rdkafka::metadata::MetadataPartition::id)
            })
            .collect();
        let mut marks = HashMap::new();
        for &p in &partitions {
            marks.insert(p, c.fetch_watermarks(&name, p, timeout)?);
        }
        let mut added = TopicPartitionList::new();
        for &p in partitions.iter().filter(|p| !known.contains(p)) {
            added.add_partition_offset(&name, p, Offset::Beginning)?;
        }
        if added.count() > 0 {
            c.incremental_assign(&added)?;
        }
        Ok(marks)
    })
    .await
    .ok()?;
    let marks = match answer {
        Ok(marks) => marks,
        Err(error) => {
            tracing::debug!(%error, %topic, "follower cannot read the topic's ends");
            return None;
        }
    };
    if marks.is_empty() {
        return None;
    }
    let mut behind = 0;
    for (p, (low, high)) in marks {
        positions.start_end.entry(p).or_insert(high);
        let next = positions.next.entry(p).or_insert(low);
        // Retention may have removed what we have not read yet.
        *next = (*next).max(low);
        behind += (high - *next).max(0);
    }
    Some(behind)
}
