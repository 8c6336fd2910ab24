//! The at-least-once consume loop shared by the enricher and the sink.
//!
//! Messages are read in batches (bounded by count, bytes and time), handed to
//! a [`BatchHandler`], and their offsets are stored only after the handler
//! returned `Ok`, that is after the downstream produce or insert was
//! acknowledged. A handler error means "nothing of this batch is durable":
//! the same batch is retried with backoff until it succeeds or the service
//! shuts down (then it is redelivered after the restart; [`retry`]). Poison
//! messages are the handler's to dead-letter; they never fail a batch.
//! Reading a batch is in `next.rs`, its offsets in `offsets.rs`, noticing a
//! position beyond the log (a broker that lost data) in `log_end.rs`, the
//! consumer lag per assigned partition in `lag.rs`, the names of the
//! metrics (the service's own) in `names.rs`, the thread a reading-ahead
//! loop prepares its batches on in `prepare_thread.rs`.

mod lag;
mod log_end;
mod names;
mod next;
mod offsets;
mod prepare_thread;
pub mod retry;

pub use log_end::Stuck;
pub use names::ConsumerMetrics;
pub use offsets::{OffsetRange, offset_ranges};

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::lag::{LagGauges, Processed, TICK};
use self::log_end::LogEndWatch;
use self::next::{AssignmentWatch, next_batch};
use self::offsets::store_offsets;
use self::prepare_thread::PrepareThread;
use self::retry::Retry;
use super::client_config;

/// How a consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Consumer group; instances of one service share it.
    pub group_id: String,
    /// Topic to read.
    pub topic: String,
    /// A batch closes at this many messages ...
    pub batch_max_messages: usize,
    /// ... or this many payload bytes ...
    pub batch_max_bytes: usize,
    /// ... or this long after its first message.
    pub batch_max_wait: Duration,
    /// Group session timeout: how soon a crashed instance's partitions move on.
    pub session_timeout: Duration,
    /// The topic's partitions (`FIDUCIA_KAFKA_PARTITIONS`): the prefetch's
    /// bytes are shared among them ([`Prefetch`]).
    pub partitions: usize,
    /// Rejoin the group when no partition has been assigned for this long
    /// (`None`: never). Works around group coordinators that can leave a
    /// restarted member with an empty assignment and never rebalance again
    /// (seen with Tansu 0.6 after a `kill -9`). With more instances than
    /// partitions it makes idle instances rejoin, so set it well above the
    /// session timeout.
    pub rejoin_when_unassigned: Option<Duration>,
    /// Read and prepare the next batch while the handler works on this one,
    /// so reading and handling overlap (the sink: Kafka fetch, decoding and
    /// encoding against the ClickHouse insert). Handling stays one batch at
    /// a time, in order.
    /// Off for handlers that act on the partition assignment as they see a
    /// batch (the enricher restores session state per partition): a batch
    /// read ahead may hold messages of partitions revoked since.
    pub read_ahead: bool,
}

/// Whatever a batch failed with; the loop logs it and retries the batch.
pub type BatchError = Box<dyn std::error::Error + Send + Sync>;

/// What the loop hands batches to.
pub trait BatchHandler: Send {
    /// What [`Self::prepare`] makes of a batch: all that [`Self::handle`]
    /// needs of it.
    type Prepared: Send + Sync + 'static;

    /// The work on a batch that needs neither the handler nor I/O (the
    /// sink decodes and encodes its rows here). It takes the batch, so what
    /// the handler does not keep is freed at once (the sink keeps its
    /// encoded rows and only the messages it dead-letters), and gets the
    /// batch's [`offset_ranges`], which the loop needs anyway. With
    /// [`ConsumerSettings::read_ahead`] the loop runs it on a thread of its
    /// own (`prepare_thread.rs`) while the batch before is being handled, so it overlaps with
    /// that batch's I/O; otherwise just before [`Self::handle`]. Once per
    /// batch: retries reuse what it made.
    fn prepare(batch: Vec<OwnedMessage>, ranges: &[OffsetRange]) -> Self::Prepared;

    /// Makes the batch durable downstream. `Ok` means every message is
    /// acknowledged downstream (or dead-lettered); `Err` means retry it all.
    fn handle(
        &mut self,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;

    /// Work that waits outside the topic (the enricher's withdrawals, read
    /// from the consent topic): once notified, an idle loop hands the
    /// handler an empty batch at once (no offsets to store) instead of
    /// waiting for the next message. Asked once, when the loop starts;
    /// `None` (the default): every batch holds messages.
    fn wake(&self) -> Option<Arc<Notify>> {
        None
    }

    /// The partitions of the topic this consumer holds now, told before
    /// each batch is handled (never empty: a rebalance in progress is not
    /// told). A handler that keeps state per partition drops the state of
    /// the others, revoked in a rebalance: their new owner reads it back,
    /// and so does this one if they come back. Default: nothing.
    fn assigned(&mut self, _partitions: &[i32]) {}
}

/// Creates a group consumer with auto offset storing off: offsets are stored
/// by [`run`] after the handler's acknowledgement and committed in the background.
///
/// # Errors
/// When librdkafka rejects the configuration or the subscription.
pub fn consumer(settings: &ConsumerSettings, client_id: &str) -> KafkaResult<StreamConsumer> {
    let prefetch = Prefetch::for_batch(
        settings.batch_max_messages,
        settings.batch_max_bytes,
        settings.partitions,
        settings.read_ahead,
    );
    let consumer: StreamConsumer = client_config(&settings.brokers, client_id)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // librdkafka waits up to 500 ms for a fetch to fill by default; each
        // stage would add that to the tag → ClickHouse latency.
        .set("fetch.wait.max.ms", "100")
        // Once its local queue holds `queued.min.messages` (100,000), a
        // consumer stops fetching and looks again only after this backoff
        // (1 s by default). A sink batch takes 100,000 messages at once, so
        // the queue then ran dry every few batches and the next read waited
        // for fresh fetches: the sink's drain stalled for up to 0.5 s.
        .set("fetch.queue.backoff.ms", "20")
        // What librdkafka prefetches, sized from the batch ([`Prefetch`]):
        // while the handler cannot make a batch durable (the sink with
        // ClickHouse down) the loop reads nothing more, so a consumer's
        // memory stays under two batches (the one retried and the one read
        // ahead) plus the prefetch (a batch per partition at most, within
        // the batch's bytes in all).
        .set("queued.min.messages", prefetch.messages.to_string())
        .set("queued.max.messages.kbytes", prefetch.kbytes.to_string())
        .set("fetch.max.bytes", prefetch.fetch_bytes.to_string())
        .set(
            "session.timeout.ms",
            settings.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (settings.session_timeout.as_millis() / 4)
                .max(100)
                .to_string(),
        )
        .create()?;
    consumer.subscribe(&[&settings.topic])?;
    Ok(consumer)
}

/// Runs until `shutdown`: read a batch, handle it (retrying with backoff),
/// store its offsets. On shutdown the stored offsets are committed. Beside
/// the loop, a watch of the log end (`log_end.rs`) sets the consumer lag
/// gauges (`lag.rs`) every [`TICK`], also while a batch is being retried.
/// Metrics are recorded under the service's `names`.
///
/// # Errors
/// [`Stuck`]: the consumer stopped receiving a partition it re-reads after
/// its log was replaced (`log_end`'s docs); the caller should exit non-zero
/// so its supervisor starts a fresh consumer. Stored offsets are committed
/// first.
pub async fn run<H: BatchHandler>(
    consumer: &StreamConsumer,
    settings: &ConsumerSettings,
    handler: &mut H,
    names: &ConsumerMetrics,
    shutdown: &CancellationToken,
) -> Result<(), Stuck> {
    let consumed = metrics::counter!(names.consumed);
    let retry = Retry::new(names);
    let mut log_end = match LogEndWatch::new(
        &settings.brokers,
        &settings.group_id,
        &settings.topic,
        LOG_END_INTERVAL,
        names,
    ) {
        Ok(watch) => watch,
        Err(error) => {
            tracing::error!(%error, "cannot create the log end watch's client");
            return Ok(());
        }
    };
    let mut gauges = LagGauges::new(&settings.topic, *names);
    let progress = Mutex::new(Processed::default());
    // Cancelled on shutdown, or by the watch when the consumer is stuck:
    // no more batches are read; the one in hand is still handled.
    let reading = shutdown.child_token();
    let looped = CancellationToken::new();
    let watching = async {
        loop {
            log_end.poll(consumer, &progress).await;
            if log_end.stuck().is_some() {
                reading.cancel();
            }
            gauges.update(consumer, &progress, log_end.watermarks());
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = looped.cancelled() => return,
            }
        }
    };
    let looping = async {
        let mut reader = Reader {
            consumer,
            settings,
            reading: &reading,
            assignment: AssignmentWatch::new(settings, names),
            progress: &progress,
            wake: handler.wake(),
            preparer: settings
                .read_ahead
                .then(|| PrepareThread::spawn(&settings.topic))
                .and_then(|spawned| {
                    spawned
                        .inspect_err(|error| tracing::warn!(%error, "no prepare thread: batches are prepared in the loop"))
                        .ok()
                }),
        };
        let mut next = reader.read::<H>().await;
        while let Some(ready) = next {
            consumed.increment(ready.messages as u64);
            tell_assignment(consumer, &settings.topic, handler);
            // Offsets are stored as soon as the batch is acknowledged, not
            // once the batch read ahead is in: an idle consumer would hold
            // its last batch's offsets (and its lag) until the next message.
            let handled = async {
                let handled = retry
                    .until_handled(handler, &ready.prepared, ready.messages, shutdown)
                    .await;
                if handled {
                    acknowledged(consumer, &ready.ranges, &progress);
                }
                handled
            };
            let (handled, read_ahead) = if settings.read_ahead {
                let (handled, read_ahead) = tokio::join!(handled, reader.read::<H>());
                (handled, Some(read_ahead))
            } else {
                (handled.await, None)
            };
            if !handled {
                // Not acknowledged: offsets stay unstored, the batch is redelivered.
                break;
            }
            next = match read_ahead {
                Some(read_ahead) => read_ahead,
                None => reader.read::<H>().await,
            };
        }
        looped.cancel();
    };
    tokio::join!(looping, watching);
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored since the last automatic commit: nothing to do.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!(%error, "final offset commit failed"),
    }
    log_end.stuck().cloned().map_or(Ok(()), Err)
}

/// Tells the handler the partitions of `topic` the consumer holds now
/// ([`BatchHandler::assigned`]), unless it holds none (mid-rebalance).
fn tell_assignment<H: BatchHandler>(consumer: &StreamConsumer, topic: &str, handler: &mut H) {
    let Ok(assignment) = consumer.assignment() else {
        return;
    };
    let partitions: Vec<i32> = assignment
        .elements_for_topic(topic)
        .iter()
        .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
        .collect();
    if !partitions.is_empty() {
        handler.assigned(&partitions);
    }
}

/// Stores the offsets of a batch acknowledged downstream, and tells the lag.
fn acknowledged(consumer: &StreamConsumer, ranges: &[OffsetRange], progress: &Mutex<Processed>) {
    if ranges.is_empty() {
        return; // a woken, empty batch
    }
    if let Err(error) = store_offsets(consumer, ranges) {
        // Partitions revoked mid-batch: the new owner re-reads them; the
        // downstream dedups, so this costs duplicates, never loss.
        tracing::warn!(%error, "could not store offsets");
    }
    progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .acknowledged(ranges);
}

/// The most librdkafka prefetches per assigned partition, in KiB.
pub const PREFETCH_MAX_KBYTES: usize = 16 * 1024;

/// The most messages librdkafka keeps queued per assigned partition: a
/// 100,000-row sink batch over 4 partitions queues one batch in all.
const PREFETCH_MAX_MESSAGES: usize = 25_000;

/// `fetch.max.bytes` per message of a batch: one fetch response holds
/// about half a batch of lz4-compressed enriched events. A fetch is
/// decompressed whole into memory that lives until the last of its messages
/// is consumed, so a large one overshoots the prefetch by far (below); a
/// small one makes large batches wait for fetch after fetch (1 MiB fetches
/// at 100,000-row batches: 82-91k rows/s against 98-138k with 16 MiB, and
/// 102-119k with 4 MiB; `benches/README.md`, sink memory).
const FETCH_BYTES_PER_MESSAGE: usize = 40;

/// The least `fetch.max.bytes`: librdkafka's floor (it raises the setting
/// to `message.max.bytes`, 1,000,000 by default).
const FETCH_MIN_BYTES: usize = 1 << 20;

/// The least `fetch.max.bytes` of a loop that does not read ahead (the
/// enricher): it asks for its next batch only once this one is handled, so
/// each batch waits on librdkafka's fetches alone. The enricher (2,000-message
/// batches, 4 partitions, in-memory broker) drained 41-43k events/s with 1
/// MiB fetches, 43-44k with 2 MiB and 47-50k with 4 MiB, at the same CPU
/// per event, for 114 MB of memory instead of 62 (`benches/README.md`, the
/// enricher's drain).
const FETCH_MIN_BYTES_WITHOUT_READ_AHEAD: usize = 4 << 20;

/// How much librdkafka reads ahead of the loop: per partition
/// `queued.min.messages` is one batch's messages (at least 1,000, at most
/// [`PREFETCH_MAX_MESSAGES`]) and `queued.max.messages.kbytes` the batch's
/// bytes over the partitions (at least 1 MiB, at most
/// [`PREFETCH_MAX_KBYTES`]), fetched about half a batch at a time (at least
/// 1 MiB, 4 MiB for a loop that does not read ahead, at most 16 MiB), so
/// the next batches are at hand when the handler is done, and no more.
///
/// Messages: a batch shared among the partitions (2,500 each at 10,000-row
/// batches over 4) emptied every partition's queue at each batch, and the
/// next one waited on fetches: the sink drained 70-75k rows/s, against 85k
/// with a batch per partition at the same peak memory (105-108 MB), and at
/// 50,000-row batches 128k against 153k (331 → 357 MB), on 2026-12-08
/// (`benches/README.md`, sink memory).
///
/// librdkafka's defaults (100,000 messages and 64 MiB per partition, 50
/// MiB per fetch) made a sink at 10,000-row batches hold ~200 MB within a
/// second of starting, whatever its batch size; a batch per partition and
/// 16 MiB fetches still left 77 MB of decompressed message sets and 24 MB
/// of per-message bookkeeping in librdkafka at 10,000-row batches (heaptrack;
/// `benches/README.md`, sink memory): a fetch of lz4 message sets
/// decompresses to several times its size, and Tansu fills a fetch up to
/// 5 MiB whatever the partition's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefetch {
    /// `queued.min.messages`: messages per partition librdkafka keeps queued.
    pub messages: usize,
    /// `queued.max.messages.kbytes`: their bytes per partition, at most.
    pub kbytes: usize,
    /// `fetch.max.bytes`: one fetch response, at most.
    pub fetch_bytes: usize,
}

impl Prefetch {
    /// The prefetch of a consumer whose batches hold up to `messages`
    /// messages and `bytes` payload bytes, from a topic of `partitions`,
    /// for a loop that reads the next batch ahead or not
    /// ([`ConsumerSettings::read_ahead`]).
    #[must_use]
    pub fn for_batch(messages: usize, bytes: usize, partitions: usize, read_ahead: bool) -> Self {
        let partitions = partitions.max(1);
        let least_fetch = if read_ahead {
            FETCH_MIN_BYTES
        } else {
            FETCH_MIN_BYTES_WITHOUT_READ_AHEAD
        };
        Self {
            messages: messages.clamp(1000, PREFETCH_MAX_MESSAGES),
            kbytes: (bytes / partitions / 1024).clamp(1024, PREFETCH_MAX_KBYTES),
            fetch_bytes: messages
                .saturating_mul(FETCH_BYTES_PER_MESSAGE)
                .clamp(least_fetch, PREFETCH_MAX_KBYTES * 1024),
        }
    }
}

/// How often a consumer checks that its positions lie inside the log.
const LOG_END_INTERVAL: Duration = Duration::from_secs(2);

/// Reads batches for the loop, and tells the lag what it read.
struct Reader<'a> {
    consumer: &'a StreamConsumer,
    settings: &'a ConsumerSettings,
    reading: &'a CancellationToken,
    assignment: AssignmentWatch,
    progress: &'a Mutex<Processed>,
    wake: Option<Arc<Notify>>,
    /// Where batches are prepared with read-ahead (`None`: on the loop's
    /// thread, just before they are handled).
    preparer: Option<PrepareThread>,
}

/// A batch as the loop keeps it once [`BatchHandler::prepare`] has it.
struct Ready<P> {
    prepared: P,
    /// How many messages it held.
    messages: usize,
    /// Its [`offset_ranges`]: the offsets to store once it is handled.
    ranges: Vec<OffsetRange>,
}

impl Reader<'_> {
    /// The next batch, prepared, or `None` on shutdown (or a stuck
    /// consumer). With read-ahead, `prepare` runs on the loop's
    /// [`PrepareThread`]: the batch before is being handled on this one.
    async fn read<H: BatchHandler>(&mut self) -> Option<Ready<H::Prepared>> {
        if self.reading.is_cancelled() {
            return None;
        }
        let batch = next_batch(
            self.consumer,
            self.settings,
            self.reading,
            &mut self.assignment,
            self.wake.as_deref(),
        )
        .await?;
        let messages = batch.len();
        let prepare = move || {
            let ranges = offset_ranges(&batch);
            let prepared = H::prepare(batch, &ranges);
            (ranges, prepared)
        };
        let (ranges, prepared) = match &self.preparer {
            // `None`: the thread is gone (the runtime is shutting down).
            Some(preparer) => preparer.run(prepare).await?,
            None => prepare(),
        };
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .read(&ranges);
        Some(Ready {
            prepared,
            messages,
            ranges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Prefetch;

    #[test]
    fn the_prefetch_is_a_batch_per_partition_within_bounds() {
        let sink = Prefetch::for_batch(10_000, 64 << 20, 4, true);
        assert_eq!((sink.messages, sink.kbytes), (10_000, 16 * 1024));
        assert_eq!(sink.fetch_bytes, 1 << 20);
        let large = Prefetch::for_batch(100_000, 1 << 30, 4, true);
        assert_eq!((large.messages, large.fetch_bytes), (25_000, 4_000_000));
        let enricher = Prefetch::for_batch(2000, 16 << 20, 4, false);
        assert_eq!((enricher.messages, enricher.kbytes), (2000, 4096));
        assert_eq!(enricher.fetch_bytes, 4 << 20, "it waits on every fetch");
        let small = Prefetch::for_batch(10, 10, 4, true);
        assert_eq!((small.messages, small.kbytes), (1000, 1024));
        assert!(
            small.fetch_bytes >= 1_000_000,
            "one message of the default maximum size fits"
        );
        assert_eq!(
            Prefetch::for_batch(1 << 30, 1 << 30, 0, true).messages,
            25_000
        );
    }
}
