//! Publishing accepted events. The route talks to [`EventPublisher`], a small
//! trait we own: [`kafka::KafkaPublisher`] in production, [`memory::MemoryPublisher`]
//! in unit tests.

pub mod kafka;
pub mod memory;

use std::future::Future;

use fiducia_proto::v1::RawEvent;

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

/// Where accepted events go.
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes `events` (partition key, event). Resolves `Ok` only once
    /// every event is acknowledged as durable.
    fn publish(
        &self,
        events: Vec<(String, RawEvent)>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Whether publishing can succeed now (for `/readyz` and fast `503`s).
    fn is_ready(&self) -> bool;
}
