//! Reading a whole topic from its beginning into local state on every
//! instance, with no consumer group: how a collector rebuilds its consent
//! ledger from `fiducia.consent.v1` (`proto/README.md`: collectors stay
//! stateless, the state is the topic).
//!
//! Every partition is assigned by hand from the earliest offset to a
//! consumer outside any group, as for a [`scan`]; nothing is
//! committed. [`FollowState`] says when the instance has read everything
//! that was in the topic when it started (readiness: a collector that has
//! not seen every withdrawal must not accept events): each partition's
//! end-of-partition signal ([`Ends`]), not its high watermark, which Tansu
//! 0.6 reports as the start of the last record batch. How many messages the
//! instance is behind is published as a gauge.
//!
//! A follower that restored its state from elsewhere (the collector's
//! ledger snapshot) starts given partitions at given offsets
//! ([`FollowSettings::start_offsets`]) and is told each message's partition
//! and offset ([`follow_messages`]), so it can say which records its state
//! covers; readiness still means "read to the end seen at start-up". A
//! partition started at an offset must deliver that offset first: a
//! broker that answers a fetch from the next record batch instead (Tansu
//! 0.6, for an offset inside a batch) would skip records, so such a
//! partition is read again from its beginning.
//!
//! Partitions are discovered from metadata at start and then rarely: a
//! metadata refresh racing a topic recreated with a new id can crash
//! librdkafka 2.12 (its metadata cache, confluentinc/librdkafka#4964), and
//! partitions are almost never added.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::health::is_unreachable;
use super::scan::{self, Ends, partition_ids};

/// Progress of a follower, shared with readiness checks.
#[derive(Debug, Default)]
pub struct FollowState {
    caught_up: AtomicBool,
}

impl FollowState {
    /// Whether everything the topic held at start-up has been applied.
    #[must_use]
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// Waits until [`Self::is_caught_up`], or `shutdown`: how a stage that
    /// must not consume before its follower holds the whole topic (the
    /// deny-list of erased subjects) starts. Whether it caught up.
    pub async fn caught_up(&self, shutdown: &CancellationToken) -> bool {
        while !self.is_caught_up() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = shutdown.cancelled() => return false,
            }
        }
        true
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
    /// How often lag is measured.
    pub check_interval: Duration,
    /// How often new partitions are looked for.
    pub discover_interval: Duration,
    /// Gauge the lag (messages) is published to.
    pub lag_metric: &'static str,
    /// Read only what arrives from now on: the partitions known at start
    /// are assigned at their end (partitions added later, from their
    /// beginning). For a stage that reacts to changes and needs no history.
    pub from_end: bool,
    /// Where to start the given partitions instead of their beginning: the
    /// next offset a restored state does not cover. Used by the first
    /// consumer only: after every broker was lost the topic is read again
    /// from the beginning (applying a message twice must be harmless).
    pub start_offsets: HashMap<i32, i64>,
}

impl FollowSettings {
    /// Following `topic` into local state as every whole-topic follower
    /// does: lag measured every 5 s, new partitions looked for every minute.
    #[must_use]
    pub fn whole_topic(
        brokers: &str,
        topic: &str,
        client_id: &str,
        lag_metric: &'static str,
    ) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            client_id: client_id.to_owned(),
            check_interval: Duration::from_secs(5),
            discover_interval: Duration::from_secs(60),
            lag_metric,
            from_end: false,
            start_offsets: HashMap::new(),
        }
    }

    /// Following what arrives in `topic` from now on ([`Self::from_end`]),
    /// otherwise as [`Self::whole_topic`].
    #[must_use]
    pub fn live(brokers: &str, topic: &str, client_id: &str, lag_metric: &'static str) -> Self {
        Self {
            from_end: true,
            ..Self::whole_topic(brokers, topic, client_id, lag_metric)
        }
    }
}

/// One message read, with where it was read from.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
    /// Its payload (`None`: a tombstone).
    pub payload: Option<&'a [u8]>,
}

/// Low and high watermark by partition.
type Marks = HashMap<i32, (i64, i64)>;

/// Per-partition reading position against the topic's end.
#[derive(Debug, Default)]
struct Positions {
    /// Next offset to apply, by partition.
    next: HashMap<i32, i64>,
    /// Assigned partitions, and whether each reached its end once.
    ends: Ends,
    /// Partitions started at an offset whose first message has not come
    /// yet: the offset it must have.
    first: HashMap<i32, i64>,
}

/// Applies every message of the topic, from the beginning, to `apply`,
/// until `shutdown`. Keeps retrying while the broker is unreachable.
///
/// When every broker is lost, the consumer is dropped and a new one reads
/// the topic again from the beginning once a broker answers (applying a
/// message twice must be harmless). A consumer kept across a broker restart
/// that recreated the topic with a new id can crash librdkafka 2.12 in its
/// metadata cache (seen against Tansu's memory storage).
pub async fn follow<F>(
    settings: FollowSettings,
    mut apply: F,
    state: Arc<FollowState>,
    shutdown: CancellationToken,
) where
    F: FnMut(&[u8]) + Send,
{
    let payloads = move |_: Option<&[u8]>, payload: Option<&[u8]>| {
        if let Some(payload) = payload {
            apply(payload);
        }
    };
    follow_keyed(settings, payloads, state, shutdown).await;
}

/// Starts [`follow`] on its own task; the returned state says when the
/// follower has read everything the topic held when it started.
#[must_use]
pub fn spawn<F>(settings: FollowSettings, apply: F, shutdown: CancellationToken) -> Arc<FollowState>
where
    F: FnMut(&[u8]) + Send + 'static,
{
    let state = Arc::new(FollowState::default());
    tokio::spawn(follow(settings, apply, Arc::clone(&state), shutdown));
    state
}

/// Like [`follow`], for a compacted topic whose tombstones matter: `apply`
/// gets every message's key and payload (`None`: a tombstone).
pub async fn follow_keyed<F>(
    settings: FollowSettings,
    mut apply: F,
    state: Arc<FollowState>,
    shutdown: CancellationToken,
) where
    F: FnMut(Option<&[u8]>, Option<&[u8]>) + Send,
{
    let messages = move |message: &Delivered<'_>| apply(message.key, message.payload);
    follow_messages(settings, messages, state, shutdown).await;
}

/// Like [`follow`], telling `apply` each message's partition and offset
/// too: how a follower whose state is saved with the offsets it covers
/// knows them.
pub async fn follow_messages<F>(
    mut settings: FollowSettings,
    mut apply: F,
    state: Arc<FollowState>,
    shutdown: CancellationToken,
) where
    F: FnMut(&Delivered<'_>) + Send,
{
    let lag = metrics::gauge!(settings.lag_metric);
    loop {
        let consumer = match scan::consumer::<StreamConsumer>(
            &settings.brokers,
            &settings.client_id,
        ) {
            Ok(consumer) => Arc::new(consumer),
            Err(error) => {
                tracing::warn!(%error, topic = %settings.topic, "cannot create the follower; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.cancelled() => return,
                }
            }
        };
        if !read(&consumer, &settings, &mut apply, &state, &lag, &shutdown).await {
            return;
        }
        settings.start_offsets.clear();
        state.caught_up.store(false, Ordering::Release);
        tracing::warn!(topic = %settings.topic, "follower lost every broker (or could not resume); reading the topic again when one is back");
        drop(consumer);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Reads with one consumer until shutdown (`false`) or until every broker
/// is lost, or a partition that skipped records cannot be sought back
/// (`true`: read the topic again).
async fn read<F>(
    consumer: &Arc<StreamConsumer>,
    settings: &FollowSettings,
    apply: &mut F,
    state: &FollowState,
    lag: &metrics::Gauge,
    shutdown: &CancellationToken,
) -> bool
where
    F: FnMut(&Delivered<'_>) + Send,
{
    let mut positions = Positions::default();
    let mut check = tokio::time::interval(settings.check_interval);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut discover = tokio::time::interval(settings.discover_interval);
    discover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = consumer.recv() => match received {
                Ok(message) => {
                    let partition = message.partition();
                    if let Some(expected) = positions.first.remove(&partition)
                        && message.offset() != expected
                    {
                        let (start, got) = (expected, message.offset());
                        if !skipped(consumer, settings, &mut positions, state, partition, start, got).await {
                            return true;
                        }
                        continue;
                    }
                    apply(&Delivered {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key(),
                        payload: message.payload(),
                    });
                    positions.next.insert(message.partition(), message.offset() + 1);
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    positions.first.remove(&partition);
                    positions.ends.reached(partition);
                    if !state.is_caught_up() && positions.ends.all_reached() {
                        state.caught_up.store(true, Ordering::Release);
                        tracing::info!(topic = %settings.topic, "follower caught up");
                    }
                }
                Err(error) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) => {
                    return true;
                }
                Err(error) if is_unreachable(&error) => tracing::debug!(%error, topic = %settings.topic, "follower error"),
                Err(error) => tracing::warn!(%error, topic = %settings.topic, "follower error"),
            },
            _ = discover.tick() => assign_new(consumer, settings, &mut positions).await,
            _ = check.tick() => {
                // Until the first lookup succeeds, look again at every check.
                if positions.ends.is_empty() {
                    assign_new(consumer, settings, &mut positions).await;
                }
                if let Some(behind) = lag_of(consumer, &settings.topic, &mut positions).await {
                    #[allow(clippy::cast_precision_loss)] // a gauge
                    lag.set(behind as f64);
                }
            }
            () = shutdown.cancelled() => return false,
        }
    }
}

/// Assigns the topic's partitions not assigned yet, from the beginning (at
/// the first lookup of a [`FollowSettings::from_end`] follower, from the
/// end; those with a [`FollowSettings::start_offsets`] entry, from there).
async fn assign_new(
    consumer: &Arc<StreamConsumer>,
    settings: &FollowSettings,
    positions: &mut Positions,
) {
    let topic = settings.topic.as_str();
    let c = Arc::clone(consumer);
    let name = topic.to_owned();
    let known: Vec<i32> = positions.ends.partitions().collect();
    let start = if settings.from_end && known.is_empty() {
        Offset::End
    } else {
        Offset::Beginning
    };
    let from = settings.start_offsets.clone();
    let added = tokio::task::spawn_blocking(move || -> KafkaResult<Vec<i32>> {
        let mut added = partition_ids(&*c, &name, Duration::from_secs(3))?;
        added.retain(|p| !known.contains(p));
        let mut list = TopicPartitionList::new();
        for &p in &added {
            let offset = from.get(&p).map_or(start, |&next| Offset::Offset(next));
            list.add_partition_offset(&name, p, offset)?;
        }
        if list.count() > 0 {
            c.incremental_assign(&list)?;
        }
        Ok(added)
    })
    .await;
    match added {
        Ok(Ok(added)) => {
            for p in added {
                positions.ends.expect(p);
                if let Some(&next) = settings.start_offsets.get(&p) {
                    positions.next.insert(p, next);
                    positions.first.insert(p, next);
                }
            }
        }
        Ok(Err(error)) => {
            tracing::debug!(%error, %topic, "follower cannot read the topic's partitions");
        }
        Err(error) => tracing::warn!(%error, %topic, "follower partition lookup failed"),
    }
}

/// A partition started at `expected` delivered `got` first: reads it again
/// from its beginning (applying a message twice is harmless; skipping one
/// is not), and the follower is not caught up until it has. `false` when
/// it cannot seek back: the topic is then read again with a new consumer.
async fn skipped(
    consumer: &Arc<StreamConsumer>,
    settings: &FollowSettings,
    positions: &mut Positions,
    state: &FollowState,
    partition: i32,
    expected: i64,
    got: i64,
) -> bool {
    tracing::warn!(topic = %settings.topic, partition, expected, got, "follower did not resume at its start offset; reading the partition from its beginning");
    state.caught_up.store(false, Ordering::Release);
    positions.ends.expect(partition);
    positions.next.remove(&partition);
    let c = Arc::clone(consumer);
    let topic = settings.topic.clone();
    let sought = tokio::task::spawn_blocking(move || {
        c.seek(&topic, partition, Offset::Beginning, Duration::from_secs(3))
    })
    .await;
    let sought = matches!(sought, Ok(Ok(())));
    if !sought {
        tracing::warn!(topic = %settings.topic, partition, "cannot seek the follower back; reading the topic again");
    }
    sought
}

/// Messages not applied yet over the assigned partitions; `None` when the
/// broker did not answer.
async fn lag_of(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    positions: &mut Positions,
) -> Option<i64> {
    let partitions: Vec<i32> = positions.ends.partitions().collect();
    if partitions.is_empty() {
        return None;
    }
    let c = Arc::clone(consumer);
    let name = topic.to_owned();
    let marks = tokio::task::spawn_blocking(move || -> KafkaResult<Marks> {
        partitions
            .into_iter()
            .map(|p| Ok((p, c.fetch_watermarks(&name, p, Duration::from_secs(3))?)))
            .collect()
    })
    .await
    .ok()?
    .ok()?;
    let mut behind = 0;
    for (p, (low, high)) in marks {
        let next = positions.next.entry(p).or_insert(low);
        // Retention may have removed what we have not read yet.
        *next = (*next).max(low);
        behind += (high - *next).max(0);
    }
    Some(behind)
}
