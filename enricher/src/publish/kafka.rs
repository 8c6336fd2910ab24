//! [`RecordPublisher`] on Kafka: each [`Destination`] is a topic of
//! [`Topics`]; records are sent and awaited in two turns with the shared
//! durable producer (`fiducia_runtime::kafka::resilient`), which keeps its
//! health bookkeeping once per publish.

use std::sync::Arc;

use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use rdkafka::producer::FutureRecord;

use super::{Destination, Record, RecordPublisher, SendError};

/// Publishes the enricher's records to Kafka.
pub struct KafkaPublisher {
    producer: Arc<ResilientProducer>,
    topics: Topics,
}

impl KafkaPublisher {
    /// Publishes with `producer` to the topics of `topics`.
    #[must_use]
    pub fn new(producer: Arc<ResilientProducer>, topics: Topics) -> Self {
        Self { producer, topics }
    }

    fn record<'a>(&'a self, record: &'a Record) -> FutureRecord<'a, [u8], [u8]> {
        let topic = match record.destination {
            Destination::Enriched => &self.topics.enriched,
            Destination::DeadLetter => &self.topics.deadletter,
            Destination::Sessions => &self.topics.sessions,
            Destination::Profiles => &self.topics.profiles,
        };
        let mut out = FutureRecord::to(topic)
            .key(record.key.as_slice())
            .headers(record.headers.clone());
        if let Some(payload) = &record.payload {
            out = out.payload(payload.as_slice());
        }
        if let Some(partition) = record.partition {
            out = out.partition(partition);
        }
        out
    }
}

impl RecordPublisher for KafkaPublisher {
    async fn publish(&self, first: &[Record], then: &[Record]) -> Result<(), SendError> {
        // Built before the first await: a future holding the iterators
        // would not be provably `Send`.
        let turns =
            [first, then].map(|turn| turn.iter().map(|r| self.record(r)).collect::<Vec<_>>());
        self.producer.send_in_turn(turns).await.into_result()
    }
}
