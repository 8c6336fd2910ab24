//! Where messages the sink gives up on go: `topics.deadletter`, as
//! `fiducia.v1.DeadLetter` built by the shared `dead_letter` helper (original
//! bytes, headers and position, a typed reason), so they can be replayed.
//! The handler talks to [`DeadLetterSink`]: [`KafkaDeadLetters`] in
//! production, [`MemoryDeadLetters`] in unit tests.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use fiducia_proto::v1::DeadLetter;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use prost::Message;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::FutureRecord;

/// One dead letter and how to publish it.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The original message's key, so a replay lands on the same partition.
    pub key: Option<Vec<u8>>,
    /// Routing headers (`fiducia_runtime::kafka::deadletter::dead_letter_headers`).
    pub headers: OwnedHeaders,
    /// The dead letter itself.
    pub letter: DeadLetter,
}

/// Dead letters could not be made durable; the batch must be retried.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The broker did not acknowledge a dead letter.
    #[error("dead-letter delivery failed: {0}")]
    Delivery(String),
}

/// Where dead letters go.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Publishes `letters`; `Ok` once every one is acknowledged.
    fn send(
        &self,
        letters: Vec<Letter>,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}

/// One dead-letter producer serves every table's handler.
impl<T: DeadLetterSink> DeadLetterSink for std::sync::Arc<T> {
    fn send(
        &self,
        letters: Vec<Letter>,
    ) -> impl Future<Output = Result<(), DeadLetterError>> + Send {
        T::send(self, letters)
    }
}

/// Publishes dead letters to Kafka with the durable producer settings.
pub struct KafkaDeadLetters {
    producer: ResilientProducer,
    topic: String,
}

impl KafkaDeadLetters {
    /// Publishes to `topic` with `producer`.
    #[must_use]
    pub fn new(producer: ResilientProducer, topic: String) -> Self {
        Self { producer, topic }
    }

    /// Waits up to `timeout` for in-flight dead letters: part of graceful shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        self.producer.flush(timeout);
    }
}

impl DeadLetterSink for KafkaDeadLetters {
    async fn send(&self, letters: Vec<Letter>) -> Result<(), DeadLetterError> {
        let (headers, bodies): (Vec<OwnedHeaders>, Vec<_>) = letters
            .into_iter()
            .map(|letter| (letter.headers, (letter.key, letter.letter.encode_to_vec())))
            .unzip();
        let records = bodies.iter().zip(headers).map(|((key, payload), headers)| {
            let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
                .payload(payload.as_slice())
                .headers(headers);
            match key {
                Some(key) => record.key(key.as_slice()),
                None => record,
            }
        });
        self.producer
            .send(records)
            .await
            .into_result()
            .map_err(|error| DeadLetterError::Delivery(error.to_string()))
    }
}

/// Records dead letters in memory; can be switched to fail like a dead broker.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    sent: Mutex<Vec<Letter>>,
    down: AtomicBool,
}

impl MemoryDeadLetters {
    /// Everything sent so far, in order.
    ///
    /// # Panics
    /// If a test thread panicked while sending.
    #[must_use]
    pub fn sent(&self) -> Vec<Letter> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// Makes every later send fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

impl DeadLetterSink for MemoryDeadLetters {
    async fn send(&self, letters: Vec<Letter>) -> Result<(), DeadLetterError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(DeadLetterError::Delivery("memory sink is down".into()));
        }
        self.sent.lock().expect("not poisoned").extend(letters);
        Ok(())
    }
}
