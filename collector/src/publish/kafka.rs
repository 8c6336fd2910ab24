//! [`EventPublisher`] on Kafka: one message per event on the raw topic, one
//! per consent record on the consent topic and one per privacy request on
//! the privacy topic, keyed by site and visitor,
//! with routing headers. A request's messages are all enqueued at once and
//! awaited together (`fiducia_runtime::kafka::send`), so a batch costs one
//! round trip; `Ok` means the broker acknowledged every one (`acks=all`,
//! idempotent). The producer replaces itself when it is stuck while the
//! broker answers (`fiducia_runtime::kafka::resilient`).

use std::time::Instant;

use fiducia_proto::headers;
use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::health::BrokerHealth;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::kafka::routing::routing_headers;
use prost::Message;
use rdkafka::producer::FutureRecord;

use super::{Batch, EventPublisher, PublishError};
use crate::metrics;

/// Publishes raw events and consent records to Kafka.
pub struct KafkaPublisher {
    producer: ResilientProducer,
    raw_topic: String,
    consent_topic: String,
    privacy_topic: String,
    health: BrokerHealth,
}

/// One message ready to send.
struct Outgoing<'a> {
    topic: &'a str,
    key: &'a str,
    payload: Vec<u8>,
    site: &'a str,
    event_type: &'a str,
    schema: &'static str,
}

impl KafkaPublisher {
    /// Publishes to `topics` (raw, consent and privacy) with `producer`;
    /// `health` gates requests.
    #[must_use]
    pub fn new(producer: ResilientProducer, topics: &Topics, health: BrokerHealth) -> Self {
        Self {
            producer,
            raw_topic: topics.raw.clone(),
            consent_topic: topics.consent.clone(),
            privacy_topic: topics.privacy.clone(),
            health,
        }
    }

    /// Waits up to `timeout` for in-flight messages: part of graceful shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        self.producer.flush(timeout);
    }

    fn count(&self, outcome: &'static str, n: usize) {
        ::metrics::counter!(metrics::KAFKA_PRODUCE, "outcome" => outcome).increment(n as u64);
    }

    fn messages<'a>(&'a self, batch: &'a Batch) -> impl Iterator<Item = Outgoing<'a>> {
        let events = batch.events.iter().map(|(key, event)| Outgoing {
            topic: &self.raw_topic,
            key,
            payload: event.encode_to_vec(),
            site: &event.site_id,
            event_type: &event.event_type,
            schema: headers::schema::RAW_EVENT,
        });
        let records = batch.records.iter().map(|(key, record)| Outgoing {
            topic: &self.consent_topic,
            key,
            payload: record.encode_to_vec(),
            site: &record.site_id,
            event_type: "consent",
            schema: headers::schema::CONSENT_RECORD,
        });
        let requests = batch.requests.iter().map(|(key, request)| Outgoing {
            topic: &self.privacy_topic,
            key,
            payload: request.encode_to_vec(),
            site: &request.site_id,
            event_type: "privacy",
            schema: headers::schema::PRIVACY_REQUEST,
        });
        events.chain(records).chain(requests)
    }
}

impl EventPublisher for KafkaPublisher {
    async fn publish(&self, batch: Batch) -> Result<(), PublishError> {
        if !self.health.is_up() {
            return Err(PublishError::BrokerDown);
        }
        let started = Instant::now();
        let total = batch.len();
        let messages: Vec<Outgoing<'_>> = self.messages(&batch).collect();
        let sent = self
            .producer
            .send(messages.iter().map(|message| {
                FutureRecord::to(message.topic)
                    .key(message.key.as_bytes())
                    .payload(&message.payload)
                    .headers(routing_headers(
                        message.site,
                        message.event_type,
                        message.schema,
                    ))
            }))
            .await;
        if let Some(refused) = sent.refused {
            if refused.is_queue_full() {
                self.count("queue_full", total - sent.enqueued);
                return Err(PublishError::QueueFull);
            }
            self.count("error", total - sent.enqueued);
            return Err(PublishError::Delivery(refused.to_string()));
        }
        let hot = metrics::hot();
        hot.produce_ok.increment((total - sent.failed.len()) as u64);
        // Events come first in the batch: those not failed are on the raw topic.
        let events = batch.events.len();
        let failed_events = sent.failed.iter().filter(|(i, _)| *i < events).count();
        hot.events_published
            .increment((events - failed_events) as u64);
        hot.produce_duration.record(started.elapsed().as_secs_f64());
        match sent.failed.last() {
            None => Ok(()),
            Some((_, error)) => {
                self.count("error", sent.failed.len());
                Err(PublishError::Delivery(error.to_string()))
            }
        }
    }

    fn is_ready(&self) -> bool {
        self.health.is_up()
    }
}
