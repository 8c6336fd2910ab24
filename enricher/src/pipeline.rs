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
//! session state already moved on.

use std::sync::Arc;
use std::time::Instant;

use fiducia_proto::time::now_ms;
use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use fiducia_runtime::kafka::resilient::ResilientProducer;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::batch::{Destination, Prepared, Processor, Record};
use crate::metrics;
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
pub struct Enricher {
    processor: Processor,
    restorer: Restorer,
    producer: Arc<ResilientProducer>,
    topics: Topics,
    pending: Option<Pending>,
}

impl Enricher {
    /// An enricher producing with `producer` to the topics of `topics`.
    #[must_use]
    pub fn new(
        processor: Processor,
        restorer: Restorer,
        producer: Arc<ResilientProducer>,
        topics: Topics,
    ) -> Self {
        Self {
            processor,
            restorer,
            producer,
            topics,
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

    /// Produces `records`; `Ok` once every one is acknowledged.
    async fn send(&self, producer: &FutureProducer, records: &[Record]) -> Result<(), BatchError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let topic = match record.destination {
                Destination::Enriched => &self.topics.enriched,
                Destination::DeadLetter => &self.topics.deadletter,
                Destination::Sessions => &self.topics.sessions,
            };
            let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .key(record.key.as_slice())
                .headers(record.headers.clone());
            if let Some(payload) = &record.payload {
                out = out.payload(payload.as_slice());
            }
            if let Some(partition) = record.partition {
                out = out.partition(partition);
            }
            match producer.send_result(out) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    ::metrics::counter!(metrics::PRODUCE_ERRORS).increment(1);
                    return Err(Box::new(error));
                }
            }
        }
        for outcome in futures::future::join_all(deliveries).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    ::metrics::counter!(metrics::PRODUCE_ERRORS).increment(1);
                    return Err(Box::new(error));
                }
                Err(canceled) => return Err(Box::new(canceled)),
            }
        }
        Ok(())
    }
}

impl BatchHandler for Enricher {
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
        let producer = self.producer.current();
        let mut result = self.send(&producer, &pending.prepared.outputs).await;
        if result.is_ok() {
            result = self.send(&producer, &pending.prepared.states).await;
        }
        self.producer.record_outcome(result.is_ok());
        if result.is_ok()
            && let Some(done) = self.pending.take()
        {
            metrics::record(
                &done.prepared.tally,
                done.prepared.states.len(),
                self.processor.sessions_held(),
            );
        }
        result
    }
}
