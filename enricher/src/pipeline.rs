//! The enricher's batch handler: read back session state for partitions
//! that just came to this instance, enrich the batch ([`Processor`]), then
//! produce in two steps: enriched events and dead letters first, session
//! states once those are acknowledged. The batch succeeds only when both
//! steps are, so the shared loop stores offsets only then (at-least-once;
//! the sink collapses duplicates by `event_id`, and session states record
//! what they have seen so a crash never counts an event twice).
//!
//! A failed batch is retried by the loop with the same messages: the
//! prepared records are kept and sent again, not recomputed, because the
//! session state already moved on. Records go out through a
//! [`RecordPublisher`], so this is unit-tested without a broker.

use std::time::Instant;

use fiducia_proto::time::now_ms;
use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;

use crate::batch::{Prepared, Processor};
use crate::metrics;
use crate::publish::{RecordPublisher, SendError};
use crate::sessions::restore::Restorer;

/// Identifies a batch, to recognise the loop's retry of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchId {
    len: usize,
    first: (i32, i64),
    last: (i32, i64),
}

impl BatchId {
    fn of(batch: &[OwnedMessage]) -> Self {
        let at = |m: Option<&OwnedMessage>| m.map_or((0, 0), |m| (m.partition(), m.offset()));
        Self {
            len: batch.len(),
            first: at(batch.first()),
            last: at(batch.last()),
        }
    }
}

/// A prepared batch waiting for its acknowledgements.
struct Pending {
    id: BatchId,
    partitions: Vec<i32>,
    prepared: Prepared,
}

/// Enriches batches from the raw topic.
pub struct Enricher<P> {
    processor: Processor,
    restorer: Restorer,
    publisher: P,
    pending: Option<Pending>,
}

impl<P: RecordPublisher> Enricher<P> {
    /// An enricher producing through `publisher`.
    #[must_use]
    pub fn new(processor: Processor, restorer: Restorer, publisher: P) -> Self {
        Self {
            processor,
            restorer,
            publisher,
            pending: None,
        }
    }

    /// Reads back and installs the session state of `partitions`.
    async fn restore(&mut self, partitions: Vec<i32>) -> Result<(), BatchError> {
        let started = Instant::now();
        let restored = self.restorer.read(partitions).await?;
        ::metrics::histogram!(metrics::SESSION_RESTORE_SECONDS)
            .record(started.elapsed().as_secs_f64());
        for (partition, restored) in restored {
            tracing::info!(
                partition,
                visitors = restored.states.len(),
                "session state read back"
            );
            ::metrics::counter!(metrics::SESSION_RESTORES).increment(1);
            ::metrics::counter!(metrics::SESSION_RECORDS_UNDECODABLE)
                .increment(restored.undecodable);
            self.processor.install(partition, restored.states);
        }
        Ok(())
    }
}

impl<P: RecordPublisher> BatchHandler for Enricher<P> {
    /// The batch itself: enrichment needs the handler's session state, so
    /// it is all done in [`Self::handle`].
    type Prepared = Vec<OwnedMessage>;

    fn prepare(batch: Vec<OwnedMessage>, _ranges: &[OffsetRange]) -> Vec<OwnedMessage> {
        batch
    }

    async fn handle(&mut self, batch: &Vec<OwnedMessage>) -> Result<(), BatchError> {
        let id = BatchId::of(batch);
        if self.pending.as_ref().is_none_or(|p| p.id != id) {
            if let Some(stale) = self.pending.take() {
                // Never happens with the shared loop (it retries a batch until
                // it succeeds); if it did, the state of that batch's partitions
                // is unknown, so it is read back.
                self.processor.forget(stale.partitions);
            }
            let partitions = self.processor.partitions_to_restore(batch);
            if !partitions.is_empty() {
                self.restore(partitions).await?;
            }
            let mut partitions: Vec<i32> = batch.iter().map(Message::partition).collect();
            partitions.sort_unstable();
            partitions.dedup();
            let prepared = self.processor.prepare(batch, now_ms());
            tracing::debug!(?partitions, first = ?id.first, last = ?id.last, messages = id.len, enriched = prepared.tally.enriched, already_applied = prepared.tally.already_applied, states = prepared.states.len(), "batch prepared");
            self.pending = Some(Pending {
                id,
                partitions,
                prepared,
            });
        }
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        let published = self
            .publisher
            .publish(&pending.prepared.outputs, &pending.prepared.states)
            .await;
        if let Err(error) = published {
            if !matches!(error, SendError::Dropped) {
                ::metrics::counter!(metrics::PRODUCE_ERRORS).increment(1);
            }
            return Err(Box::new(error));
        }
        if let Some(done) = self.pending.take() {
            metrics::record(
                &done.prepared.tally,
                done.prepared.states.len(),
                self.processor.sessions_held(),
            );
        }
        Ok(())
    }
}
