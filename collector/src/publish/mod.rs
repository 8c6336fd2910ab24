//! Publishing accepted events, consent records and privacy requests. The route talks to
//! [`EventPublisher`], a small trait we own: [`kafka::KafkaPublisher`] in
//! production, [`memory::MemoryPublisher`] in unit tests.

pub mod kafka;
pub mod memory;

use std::future::Future;

use fiducia_proto::v1::{ConsentRecord, PrivacyRequest, RawEvent};

/// Events could not be made durable; the request must be answered `503`.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker is known to be unreachable; nothing was sent.
    #[error("broker unavailable")]
    BrokerDown,
    /// The producer's bounded queue is full.
    #[error("producer queue full")]
    QueueFull,
    /// The broker did not acknowledge every event in time.
    #[error("delivery failed: {0}")]
    Delivery(String),
}

/// What one request publishes, each message with its partition key.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Accepted events, to the raw topic.
    pub events: Vec<(String, RawEvent)>,
    /// Consent records, to the consent topic.
    pub records: Vec<(String, ConsentRecord)>,
    /// Privacy requests (export and erasure), to the privacy topic: in the
    /// same batch as an erasure's record, so both are durable or neither is
    /// answered.
    pub requests: Vec<(String, PrivacyRequest)>,
}

impl Batch {
    /// Messages in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.events.len() + self.records.len() + self.requests.len()
    }

    /// Whether there is nothing to publish.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where accepted events and consent records go.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes a batch. Resolves `Ok` only once every message is
    /// acknowledged as durable.
    fn publish(&self, batch: Batch) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Whether publishing can succeed now (for `/readyz` and fast `503`s).
    fn is_ready(&self) -> bool;
}
