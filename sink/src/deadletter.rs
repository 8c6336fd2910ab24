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
use rdkafka::producer::{FutureProducer, FutureRecord};

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

    async fn produce(
        &self,
        producer: &FutureProducer,
        letters: Vec<Letter>,
    ) -> Result<(), DeadLetterError> {
        let mut deliveries = Vec::with_capacity(letters.len());
        for letter in letters {
            let payload = letter.letter.encode_to_vec();
            let mut record = FutureRecord::to(&self.topic)
                .payload(&payload)
                .headers(letter.headers);
            if let Some(key) = &letter.key {
                record = record.key(key);
            }
            let delivery = producer
                .send_result(record)
                .map_err(|(error, _)| DeadLetterError::Delivery(error.to_string()))?;
            deliveries.push(delivery);
        }
        for outcome in futures::future::join_all(deliveries).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(DeadLetterError::Delivery(error.to_string())),
                Err(_canceled) => {
                    return Err(DeadLetterError::Delivery(
                        "producer dropped the delivery".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl DeadLetterSink for KafkaDeadLetters {
    async fn send(&self, letters: Vec<Letter>) -> Result<(), DeadLetterError> {
        let producer = self.producer.current();
        let result = self.produce(&producer, letters).await;
        self.producer.record_outcome(result.is_ok());
        result
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
