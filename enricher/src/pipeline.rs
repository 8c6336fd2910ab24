//! The enricher's batch handler: read back session state and profiles for
//! partitions that just came to this instance, enrich the batch
//! ([`Processor`]), then produce in two steps: enriched events and dead
//! letters first, session states and profiles once those are acknowledged. The batch succeeds only when both
//! steps are, so the shared loop stores offsets only then (at-least-once;
//! the sink collapses duplicates by `event_id`, and session states record
//! what they have seen so a crash never counts an event twice).
//!
//! A failed batch is retried by the loop with the same messages: the
//! prepared records are kept and sent again, not recomputed, because the
//! session state already moved on. Records go out through a
//! [`RecordPublisher`], so this is unit-tested without a broker.

use std::sync::Arc;
use std::time::Instant;

use fiducia_proto::time::now_ms;
use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use rdkafka::Message;
use rdkafka::message::OwnedMessage;

use crate::batch::{Prepared, Processor};
use crate::metrics;
use crate::publish::{RecordPublisher, SendError};
use crate::restore::Restorer;
use fiducia_proto::v1::{Profile, SessionState};

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
    restorer: Restorer<SessionState>,
    profiles: Restorer<Profile>,
    publisher: P,
    pending: Option<Pending>,
}

impl<P: RecordPublisher> Enricher<P> {
    /// An enricher producing through `publisher`.
    #[must_use]
    pub fn new(
        processor: Processor,
        restorer: Restorer<SessionState>,
        profiles: Restorer<Profile>,
        publisher: P,
    ) -> Self {
        Self {
            processor,
            restorer,
            profiles,
            publisher,
            pending: None,
        }
    }

    /// Reads back and installs the session state and profiles of `partitions`.
    async fn restore(&mut self, partitions: Vec<i32>) -> Result<(), BatchError> {
        let started = Instant::now();
        let (states, profiles) = tokio::try_join!(
            self.restorer.read(partitions.clone()),
            self.profiles.read(partitions)
        )?;
        let mut profiles = profiles;
        ::metrics::histogram!(metrics::SESSION_RESTORE_SECONDS)
            .record(started.elapsed().as_secs_f64());
        for (partition, restored) in states {
            let profiles = profiles.remove(&partition);
            let (profiles, undecodable_profiles) =
                profiles.map_or((Vec::new(), 0), |r| (r.states, r.undecodable));
            tracing::info!(
                partition,
                visitors = restored.states.len(),
                profiles = profiles.len(),
                "session state and profiles read back"
            );
            ::metrics::counter!(metrics::SESSION_RESTORES).increment(1);
            ::metrics::counter!(metrics::SESSION_RECORDS_UNDECODABLE)
                .increment(restored.undecodable + undecodable_profiles);
            self.processor.install(partition, restored.states, profiles);
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

    /// A withdrawal read from the consent topic: its profile's tombstone
    /// goes out in an empty batch at once, not with the next raw event.
    fn wake(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.processor.wake())
    }

    fn assigned(&mut self, partitions: &[i32]) {
        let gone = self.processor.keep_only(partitions);
        if !gone.is_empty() {
            tracing::info!(?gone, "state of revoked partitions dropped");
        }
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
                self.processor.profiles_held(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fiducia_proto::v1::{EnrichedEvent, SessionState};
    use fiducia_runtime::kafka::consume::retry::Retry;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use prost::Message as _;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::batch::tests::{message, processor, raw, t0};
    use crate::publish::memory::MemoryPublisher;
    use crate::publish::{Destination, Record};

    /// An enricher on the in-memory publisher that has handled partition 0
    /// up to offset 0, so [`batch`] needs no read-back (the restorer's
    /// broker does not exist).
    fn enricher() -> Enricher<MemoryPublisher> {
        let mut processor = processor("");
        processor.install(0, Vec::new(), Vec::new());
        processor.prepare(&[message(0, 0, raw(0, "v0", 0).encode_to_vec())], t0());
        let restorer = Restorer::new("127.0.0.1:1", "sessions", Duration::from_millis(1));
        let profiles = Restorer::new("127.0.0.1:1", "profiles", Duration::from_millis(1));
        Enricher::new(processor, restorer, profiles, MemoryPublisher::default())
    }

    /// Two page views of one visitor and a poison message.
    fn batch() -> Vec<OwnedMessage> {
        vec![
            message(0, 1, raw(1, "v1", 0).encode_to_vec()),
            message(0, 2, raw(2, "v1", 1).encode_to_vec()),
            message(0, 3, vec![0xff, 0xff]),
        ]
    }

    fn to(destination: Destination, records: &[Record]) -> Vec<&Record> {
        records
            .iter()
            .filter(|r| r.destination == destination)
            .collect()
    }

    /// (event id, session sequence) of the enriched events.
    fn events(records: &[Record]) -> Vec<(Vec<u8>, u32)> {
        to(Destination::Enriched, records)
            .into_iter()
            .map(|r| EnrichedEvent::decode(r.payload.as_deref().unwrap()).unwrap())
            .map(|e| (e.event_id, e.session_seq))
            .collect()
    }

    #[test]
    fn the_state_of_a_revoked_partition_is_dropped_and_read_back_if_it_comes_back() {
        let mut enricher = enricher();
        enricher.processor.install(1, Vec::new(), Vec::new());
        enricher
            .processor
            .prepare(&[message(1, 0, raw(100, "w0", 0).encode_to_vec())], t0());
        assert_eq!(enricher.processor.sessions_held(), 2);
        let next_of_1 = [message(1, 1, raw(101, "w0", 1).encode_to_vec())];
        assert!(
            enricher
                .processor
                .partitions_to_restore(&next_of_1)
                .is_empty()
        );

        // Partition 1 went to another instance in a rebalance.
        enricher.assigned(&[0, 2]);
        assert_eq!(enricher.processor.sessions_held(), 1);
        // Partition 0 goes on from memory; partition 1, should it come back
        // (even at the very offset this instance left it), is read back:
        // its owner meanwhile may have moved its sessions on.
        assert!(
            enricher
                .processor
                .partitions_to_restore(&batch())
                .is_empty()
        );
        assert_eq!(enricher.processor.partitions_to_restore(&next_of_1), [1]);
        enricher.assigned(&[0, 1]);
        assert_eq!(enricher.processor.sessions_held(), 1);
    }

    #[tokio::test]
    async fn a_failed_publish_is_sent_again_with_the_records_prepared_before() {
        let mut enricher = enricher();
        enricher.publisher.fail_next(0);
        assert!(enricher.handle(&batch()).await.is_err());
        assert!(enricher.publisher.acknowledged().is_empty());
        enricher.handle(&batch()).await.unwrap();
        // Prepared again, the session store would call both events already
        // applied and nothing would be enriched.
        let acknowledged = enricher.publisher.acknowledged();
        let seqs: Vec<u32> = events(&acknowledged).into_iter().map(|e| e.1).collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(to(Destination::DeadLetter, &acknowledged).len(), 1);
        let states = to(Destination::Sessions, &acknowledged);
        assert_eq!(states.len(), 1);
        let state = SessionState::decode(states[0].payload.as_deref().unwrap()).unwrap();
        assert_eq!((state.events, state.raw_offset), (2, 2));
        assert_eq!(enricher.publisher.calls(), 2);
    }

    #[tokio::test]
    async fn session_states_wait_until_every_output_is_acknowledged() {
        let mut enricher = enricher();
        // The broker acknowledges the first event, then times out.
        enricher.publisher.fail_next(1);
        assert!(enricher.handle(&batch()).await.is_err());
        assert_eq!(enricher.publisher.acknowledged().len(), 1);
        enricher.handle(&batch()).await.unwrap();
        let acknowledged = enricher.publisher.acknowledged();
        // At-least-once: the first event twice, nothing else more than once.
        let ids: Vec<Vec<u8>> = events(&acknowledged).into_iter().map(|e| e.0).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        assert_eq!(to(Destination::DeadLetter, &acknowledged).len(), 1);
        let first_state = acknowledged
            .iter()
            .position(|r| r.destination == Destination::Sessions)
            .unwrap();
        assert_eq!(
            first_state,
            acknowledged.len() - 1,
            "states come last, once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_batch_is_retried_with_backoff_until_acknowledged() {
        let mut enricher = enricher();
        for _ in 0..3 {
            enricher.publisher.fail_next(0);
        }
        let started = tokio::time::Instant::now();
        let handled = Retry::new(&metrics::CONSUMER)
            .until_handled(&mut enricher, &batch(), 3, &CancellationToken::new())
            .await;
        assert!(handled);
        assert_eq!(started.elapsed(), Duration::from_millis(100 + 200 + 400));
        assert_eq!(enricher.publisher.calls(), 4);
        assert_eq!(events(&enricher.publisher.acknowledged()).len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_never_acknowledged_is_not_handled_at_shutdown() {
        let mut enricher = enricher();
        for _ in 0..100 {
            enricher.publisher.fail_next(0);
        }
        let shutdown = CancellationToken::new();
        let stop = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            shutdown.cancel();
        };
        let (retry, batch) = (Retry::new(&metrics::CONSUMER), batch());
        let (handled, ()) = tokio::join!(
            retry.until_handled(&mut enricher, &batch, 3, &shutdown),
            stop
        );
        // `false`: the loop stores no offset, the batch is read again.
        assert!(!handled);
        // 100 ms doubling up to 10 s: 0.1 + 0.2 + ... + 6.4 + 10 + 10 > 30 s.
        assert_eq!(enricher.publisher.calls(), 9);
        assert!(enricher.publisher.acknowledged().is_empty());
    }

    #[test]
    fn a_batch_is_counted_once_and_each_failed_publish_once() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let mut enricher = enricher();
        enricher.publisher.fail_next(0);
        enricher.publisher.fail_next(2);
        ::metrics::with_local_recorder(&recorder, || {
            futures::executor::block_on(async {
                let batch = batch();
                while enricher.handle(&batch).await.is_err() {}
            });
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let counter = |name: &str| {
            snapshot
                .iter()
                .find(|(key, ..)| key.key().name() == name && key.key().labels().count() == 0)
                .map(|(.., value)| value)
        };
        assert_eq!(
            counter(metrics::PRODUCE_ERRORS),
            Some(&DebugValue::Counter(2))
        );
        assert_eq!(
            counter(metrics::EVENTS_ENRICHED),
            Some(&DebugValue::Counter(2))
        );
    }
}
