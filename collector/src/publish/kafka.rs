//! [`EventPublisher`] on Kafka: one message per event on the raw topic,
//! keyed by site and visitor, with routing headers. A request's events are
//! all enqueued at once and awaited together, so a batch costs one round
//! trip; `Ok` means the broker acknowledged every one (`acks=all`, idempotent).
//!
//! An idempotent producer can get stuck while the broker answers: after a
//! fatal idempotence error, or when a broker lost its producer state and
//! answers `UNKNOWN_PRODUCER_ID` to every retry (a Tansu restart on memory
//! storage does this). Deliveries that keep failing for `rebuild_after` while
//! the broker health probe succeeds therefore replace the producer with a new
//! one (a new producer id); the requests in between were answered `503`, so
//! nothing acknowledged is lost.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use fiducia_proto::headers;
use fiducia_proto::kafka::health::BrokerHealth;
use fiducia_proto::kafka::routing::routing_headers;
use fiducia_proto::time::now_ms;
use fiducia_proto::v1::RawEvent;
use prost::Message;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{EventPublisher, PublishError};
use crate::metrics;

/// Makes a new producer (the same settings each time).
pub type ProducerFactory = Box<dyn Fn() -> KafkaResult<FutureProducer> + Send + Sync>;

/// Publishes raw events to Kafka.
pub struct KafkaPublisher {
    producer: RwLock<Arc<FutureProducer>>,
    factory: ProducerFactory,
    /// Unix ms of the first failure of the current streak; 0 when none.
    failing_since_ms: AtomicI64,
    rebuild_after: Duration,
    topic: String,
    health: BrokerHealth,
}

impl KafkaPublisher {
    /// A publisher whose producers come from `factory`; one that keeps failing
    /// for `rebuild_after` against a reachable broker is replaced.
    ///
    /// # Errors
    /// When the first producer cannot be created.
    pub fn new(
        factory: ProducerFactory,
        rebuild_after: Duration,
        topic: String,
        health: BrokerHealth,
    ) -> KafkaResult<Self> {
        Ok(Self {
            producer: RwLock::new(Arc::new(factory()?)),
            factory,
            failing_since_ms: AtomicI64::new(0),
            rebuild_after,
            topic,
            health,
        })
    }

    /// Waits up to `timeout` for in-flight messages: part of graceful shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.current().flush(timeout) {
            tracing::warn!(%error, "producer flush incomplete at shutdown");
        }
    }

    fn current(&self) -> Arc<FutureProducer> {
        Arc::clone(&self.producer.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records a request's outcome; replaces the producer once failures have
    /// lasted `rebuild_after` while the broker itself answers. Lock-free on
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
        // Exactly one request wins the right to rebuild.
        if failing_for < self.rebuild_after
            || self
                .failing_since_ms
                .compare_exchange(first, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match (self.factory)() {
            Ok(fresh) => {
                tracing::warn!(
                    failing_for_s = failing_for.as_secs(),
                    "deliveries keep failing while the broker answers; replacing the producer"
                );
                ::metrics::counter!(metrics::KAFKA_PRODUCER_REBUILDS).increment(1);
                *self
                    .producer
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            }
            Err(error) => tracing::error!(%error, "cannot create a replacement producer"),
        }
    }

    fn count(&self, outcome: &'static str, n: usize) {
        ::metrics::counter!(metrics::KAFKA_PRODUCE, "topic" => self.topic.clone(), "outcome" => outcome)
            .increment(n as u64);
    }
}

impl EventPublisher for KafkaPublisher {
    async fn publish(&self, events: Vec<(String, RawEvent)>) -> Result<(), PublishError> {
        if !self.health.is_up() {
            return Err(PublishError::BrokerDown);
        }
        let producer = self.current();
        let started = Instant::now();
        let total = events.len();
        let mut deliveries = Vec::with_capacity(total);
        for (key, event) in &events {
            let payload = event.encode_to_vec();
            let record = FutureRecord::to(&self.topic)
                .key(key.as_bytes())
                .payload(&payload)
                .headers(routing_headers(
                    &event.site_id,
                    &event.event_type,
                    headers::schema::RAW_EVENT,
                ));
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.count("queue_full", total - deliveries.len());
                    return Err(PublishError::QueueFull);
                }
                Err((error, _)) => {
                    self.count("error", total - deliveries.len());
                    self.record_outcome(false);
                    return Err(PublishError::Delivery(error.to_string()));
                }
            }
        }
        let mut failure = None;
        let mut failed = 0;
        for outcome in futures::future::join_all(deliveries).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    failed += 1;
                    failure = Some(error.to_string());
                }
                Err(_canceled) => {
                    failed += 1;
                    failure = Some("producer dropped the delivery".into());
                }
            }
        }
        self.count("ok", total - failed);
        ::metrics::histogram!(metrics::KAFKA_PRODUCE_DURATION)
            .record(started.elapsed().as_secs_f64());
        self.record_outcome(failure.is_none());
        match failure {
            None => Ok(()),
            Some(error) => {
                self.count("error", failed);
                Err(PublishError::Delivery(error))
            }
        }
    }

    fn is_ready(&self) -> bool {
        self.health.is_up()
    }
}
