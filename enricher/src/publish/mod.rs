//! Producing what a batch made: enriched events and dead letters, then
//! session states and profiles. The pipeline talks to [`RecordPublisher`], a small trait
//! we own: [`kafka::KafkaPublisher`] in production,
//! [`memory::MemoryPublisher`] in unit tests, so what the pipeline does when
//! a produce fails is tested without a broker.

pub mod kafka;
pub mod memory;

use std::future::Future;

pub use fiducia_runtime::kafka::send::SendError;
use rdkafka::message::OwnedHeaders;

/// Where a record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The enriched topic.
    Enriched,
    /// The dead-letter topic.
    DeadLetter,
    /// The sessions topic, partition given.
    Sessions,
    /// The profiles topic, partition given.
    Profiles,
}

/// One message to produce.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its topic.
    pub destination: Destination,
    /// Its partition, when fixed (session states).
    pub partition: Option<i32>,
    /// Its key.
    pub key: Vec<u8>,
    /// Its payload; `None` is a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Its headers.
    pub headers: OwnedHeaders,
}

/// Where the enricher's records go.
pub trait RecordPublisher: Send + Sync + 'static {
    /// Produces `first`, then, once every record of `first` is
    /// acknowledged, `then`. `Ok` once every record is acknowledged. On an
    /// error any of the records may have been produced or not, except that
    /// none of `then` was unless all of `first` was: the caller sends both
    /// again (at-least-once).
    fn publish(
        &self,
        first: &[Record],
        then: &[Record],
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}
