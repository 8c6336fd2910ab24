//! A producer that replaces itself when it is stuck while the broker answers.
//!
//! An idempotent producer can stay broken with a healthy broker: after a
//! fatal idempotence error, or when the broker lost its producer state and
//! answers `UNKNOWN_PRODUCER_ID` to every retry (a Tansu restart on memory
//! storage does this). When deliveries keep failing for twice the message
//! timeout while [`BrokerHealth`] says the broker answers, the producer is
//! replaced by a new one (a new producer id). Whatever failed meanwhile was
//! reported as failed, so callers retried it: nothing acknowledged is lost.
//!
//! Services send through [`ResilientProducer::send`], which keeps this
//! bookkeeping; a full producer queue is back-pressure, not a failing
//! delivery, so it counts neither way.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rdkafka::error::KafkaResult;
use rdkafka::message::ToBytes;
use rdkafka::producer::{FutureRecord, Producer};

use super::ack::AckProducer;
use super::health::BrokerHealth;
use super::send::{SendError, Sent, enqueue};
use super::{ProducerSettings, producer};
use fiducia_proto::time::now_ms;

/// The names of the metrics a [`ResilientProducer`] records, each a
/// constant declared and described in the service's metrics module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerMetrics {
    /// Counter: producers replaced because deliveries kept failing while
    /// the broker answered, e.g. `fiducia_sink_kafka_producer_rebuilds_total`.
    pub rebuilds: &'static str,
}

impl ProducerMetrics {
    /// Describes the producer's metrics under these names and creates its
    /// counter at 0; from the service's metrics module's `describe`.
    pub fn describe(&self) {
        metrics::describe_counter!(
            self.rebuilds,
            "Producers replaced because deliveries kept failing while the broker answered."
        );
        metrics::counter!(self.rebuilds).increment(0);
    }
}

/// See the module docs.
pub struct ResilientProducer {
    current: RwLock<Arc<AckProducer>>,
    brokers: String,
    client_id: String,
    settings: ProducerSettings,
    health: BrokerHealth,
    /// Unix ms of the first failure of the current streak; 0 when none.
    failing_since_ms: AtomicI64,
    rebuilds: metrics::Counter,
}

impl ResilientProducer {
    /// A durable producer (see [`producer`]); replacements are counted in
    /// [`ProducerMetrics::rebuilds`].
    ///
    /// # Errors
    /// When the first producer cannot be created.
    pub fn new(
        brokers: &str,
        client_id: &str,
        settings: ProducerSettings,
        health: BrokerHealth,
        names: &ProducerMetrics,
    ) -> KafkaResult<Self> {
        Ok(Self {
            current: RwLock::new(Arc::new(producer(brokers, client_id, &settings)?)),
            brokers: brokers.to_owned(),
            client_id: client_id.to_owned(),
            settings,
            health,
            failing_since_ms: AtomicI64::new(0),
            rebuilds: metrics::counter!(names.rebuilds),
        })
    }

    /// The producer to send with now.
    #[must_use]
    pub fn current(&self) -> Arc<AckProducer> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends `records` with the current producer and waits for every
    /// acknowledgement ([`enqueue`]), then records the outcome.
    pub fn send<'a, K, P>(
        &self,
        records: impl IntoIterator<Item = FutureRecord<'a, K, P>>,
    ) -> impl Future<Output = Sent> + Send + '_
    where
        K: ToBytes + ?Sized + 'a,
        P: ToBytes + ?Sized + 'a,
    {
        let enqueued = enqueue(&self.current(), records);
        async move {
            let sent = enqueued.acknowledged().await;
            self.record(&sent);
            sent
        }
    }

    /// Sends `batches` one after another with one producer, each once every
    /// record of the one before is acknowledged, and stops at the first that
    /// fails: for records that may only be written once others are durable.
    /// The outcome is that of the last batch sent, recorded once for all.
    pub async fn send_in_turn<'a, K, P, B>(&self, batches: impl IntoIterator<Item = B>) -> Sent
    where
        K: ToBytes + ?Sized + 'a,
        P: ToBytes + ?Sized + 'a,
        B: IntoIterator<Item = FutureRecord<'a, K, P>>,
    {
        let producer = self.current();
        let mut sent = Sent::default();
        for batch in batches {
            sent = enqueue(&producer, batch).acknowledged().await;
            if !sent.is_ok() {
                break;
            }
        }
        self.record(&sent);
        sent
    }

    /// The health bookkeeping of one send: a full queue is back-pressure,
    /// recorded neither way.
    fn record(&self, sent: &Sent) {
        if !sent.refused.as_ref().is_some_and(SendError::is_queue_full) {
            self.record_outcome(sent.is_ok());
        }
    }

    /// Records whether a send (all its deliveries) succeeded. Lock-free on
    /// the success path: one atomic load.
    fn record_outcome(&self, ok: bool) {
        if ok || !self.health.is_up() {
            if self.failing_since_ms.load(Ordering::Relaxed) != 0 {
                self.failing_since_ms.store(0, Ordering::Relaxed);
            }
            return;
        }
        let now = now_ms().max(1);
        let first = match self.failing_since_ms.compare_exchange(
            0,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => now,
            Err(first) => first,
        };
        let failing_for = Duration::from_millis(u64::try_from(now - first).unwrap_or(0));
        // Exactly one caller wins the right to rebuild.
        if failing_for < self.settings.message_timeout * 2
            || self
                .failing_since_ms
                .compare_exchange(first, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match producer(&self.brokers, &self.client_id, &self.settings) {
            Ok(fresh) => {
                tracing::warn!(
                    failing_for_s = failing_for.as_secs(),
                    "deliveries keep failing while the broker answers; replacing the producer"
                );
                self.rebuilds.increment(1);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            }
            Err(error) => tracing::error!(%error, "cannot create a replacement producer"),
        }
    }

    /// Waits up to `timeout` for in-flight messages: part of graceful shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.current().flush(timeout) {
            tracing::warn!(%error, client = %self.client_id, "producer flush incomplete at shutdown");
        }
    }
}
