//! [`EventPublisher`] on Kafka: one message per event on the raw topic,
//! keyed by site and visitor, with routing headers. A request's events are
//! all enqueued at once and awaited together, so a batch costs one round
//! trip; `Ok` means the broker acknowledged every one (`acks=all`, idempotent).
//! The producer replaces itself when it is stuck while the broker answers
//! (`fiducia_proto::kafka::resilient`).

use std::time::Instant;

use fiducia_proto::headers;
use fiducia_proto::kafka::health::BrokerHealth;
use fiducia_proto::kafka::resilient::ResilientProducer;
use fiducia_proto::kafka::routing::routing_headers;
use fiducia_proto::v1::RawEvent;
use prost::Message;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureRecord;

use super::{EventPublisher, PublishError};
use crate::metrics;

/// Publishes raw events to Kafka.
pub struct KafkaPublisher {
    producer: ResilientProducer,
    topic: String,
    health: BrokerHealth,
}

impl KafkaPublisher {
    /// Publishes to `topic` with `producer`; `health` gates requests.
    #[must_use]
    pub fn new(producer: ResilientProducer, topic: String, health: BrokerHealth) -> Self {
        Self {
            producer,
            topic,
            health,
        }
    }

    /// Waits up to `timeout` for in-flight messages: part of graceful shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        self.producer.flush(timeout);
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
        let producer = self.producer.current();
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
                    self.producer.record_outcome(false);
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
        self.producer.record_outcome(failure.is_none());
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
