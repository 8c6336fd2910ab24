//! The enricher's batch handler: decode each raw event, enrich it, produce it
//! to the enriched topic; messages that cannot be decoded or break the schema
//! go to the dead-letter topic with a typed reason. The batch succeeds only
//! when every produce is acknowledged, so the shared loop stores offsets only
//! then (at-least-once; the sink collapses duplicates by `event_id`).

use std::sync::Arc;

use fiducia_proto::headers;
use fiducia_proto::kafka::consume::{BatchError, BatchHandler};
use fiducia_proto::kafka::deadletter::{dead_letter, dead_letter_headers, reason_label};
use fiducia_proto::kafka::resilient::ResilientProducer;
use fiducia_proto::kafka::routing::routing_headers;
use fiducia_proto::keys::partition_key;
use fiducia_proto::time::now_ms;
use fiducia_proto::topics::Topics;
use fiducia_proto::v1::{DeadLetterReason, RawEvent};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::enrich::enrich;
use crate::metrics;

/// Stage name written into dead letters.
const STAGE: &str = "enricher";

/// Enriches batches from the raw topic.
pub struct Enricher {
    producer: Arc<ResilientProducer>,
    topics: Topics,
}

impl Enricher {
    /// An enricher producing with `producer` to `topics.enriched` and `topics.deadletter`.
    #[must_use]
    pub fn new(producer: Arc<ResilientProducer>, topics: Topics) -> Self {
        Self { producer, topics }
    }
}

/// Decodes and checks a raw event; the error is the dead letter's reason and detail.
fn decode(message: &OwnedMessage) -> Result<RawEvent, (DeadLetterReason, String)> {
    let payload = message
        .payload()
        .filter(|p| !p.is_empty())
        .ok_or((DeadLetterReason::Empty, "no payload".to_owned()))?;
    let raw =
        RawEvent::decode(payload).map_err(|e| (DeadLetterReason::Undecodable, e.to_string()))?;
    let problem = if raw.event_id.len() != 16 {
        Some("event_id is not 16 bytes")
    } else if raw.site_id.is_empty() {
        Some("site_id is empty")
    } else if raw.event_type.is_empty() {
        Some("event_type is empty")
    } else {
        None
    };
    match problem {
        Some(problem) => Err((DeadLetterReason::Invalid, problem.to_owned())),
        None => Ok(raw),
    }
}

impl Enricher {
    /// Produces the batch's enriched events and dead letters; `Ok` once all are acknowledged.
    async fn produce(
        &self,
        producer: &FutureProducer,
        batch: &[OwnedMessage],
    ) -> Result<(), BatchError> {
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut enriched = 0_u64;
        // Counted once acknowledged: a retried batch must not count twice.
        let mut dead: Vec<&'static str> = Vec::new();
        for message in batch {
            let (topic, key, payload, headers) = match decode(message) {
                Ok(raw) => {
                    let event = enrich(raw);
                    enriched += 1;
                    let key =
                        partition_key(&event.site_id, &event.visitor_id, &hex(&event.event_id));
                    (
                        &self.topics.enriched,
                        key.into_bytes(),
                        event.encode_to_vec(),
                        routing_headers(
                            &event.site_id,
                            &event.event_type,
                            headers::schema::ENRICHED_EVENT,
                        ),
                    )
                }
                Err((reason, detail)) => {
                    tracing::warn!(reason = reason_label(reason), %detail, partition = message.partition(), offset = message.offset(), "dead-lettering raw message");
                    dead.push(reason_label(reason));
                    let letter = dead_letter(STAGE, reason, detail, message, now_ms());
                    let key = message.key().unwrap_or_default().to_vec();
                    (
                        &self.topics.deadletter,
                        key,
                        letter.encode_to_vec(),
                        dead_letter_headers(message),
                    )
                }
            };
            let record = FutureRecord::to(topic)
                .key(&key)
                .payload(&payload)
                .headers(headers);
            match producer.send_result(record) {
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
        ::metrics::counter!(metrics::EVENTS_ENRICHED).increment(enriched);
        for reason in dead {
            ::metrics::counter!(metrics::DEAD_LETTERS, "reason" => reason).increment(1);
        }
        Ok(())
    }
}

impl BatchHandler for Enricher {
    async fn handle(&mut self, batch: &[OwnedMessage]) -> Result<(), BatchError> {
        let producer = self.producer.current();
        let result = self.produce(&producer, batch).await;
        self.producer.record_outcome(result.is_ok());
        result
    }
}

/// Lower-case hex of the event id: the partition key of events without a visitor.
fn hex(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes).map_or_else(|_| String::new(), |id| id.simple().to_string())
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(payload: Option<Vec<u8>>) -> OwnedMessage {
        OwnedMessage::new(
            payload,
            None,
            "raw".into(),
            Timestamp::NotAvailable,
            0,
            7,
            None,
        )
    }

    #[test]
    fn poison_messages_get_typed_reasons() {
        let short_id = RawEvent {
            event_id: vec![1; 3],
            site_id: "demo".into(),
            event_type: "click".into(),
            ..RawEvent::default()
        };
        let no_site = RawEvent {
            event_id: vec![1; 16],
            event_type: "click".into(),
            ..RawEvent::default()
        };
        for (payload, reason) in [
            (None, DeadLetterReason::Empty),
            (Some(vec![]), DeadLetterReason::Empty),
            (Some(vec![0xff, 0xff, 0xff]), DeadLetterReason::Undecodable),
            (Some(short_id.encode_to_vec()), DeadLetterReason::Invalid),
            (Some(no_site.encode_to_vec()), DeadLetterReason::Invalid),
        ] {
            assert_eq!(
                decode(&message(payload.clone())).unwrap_err().0,
                reason,
                "{payload:?}"
            );
        }
    }

    #[test]
    fn a_valid_raw_event_decodes() {
        let raw = RawEvent {
            event_id: vec![1; 16],
            site_id: "demo".into(),
            event_type: "click".into(),
            ..RawEvent::default()
        };
        assert_eq!(decode(&message(Some(raw.encode_to_vec()))).unwrap(), raw);
    }
}
