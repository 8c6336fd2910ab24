//! Topics for tests: creating a test's own, feeding them and reading them
//! back.

use std::time::Duration;

use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::admin::ensure_pipeline_topics;
use fiducia_runtime::kafka::client_config;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;

use crate::unique;

/// Creates a test's own topics on `brokers`.
///
/// # Panics
/// When the broker refuses.
pub async fn create_topics(brokers: &str, topics: &Topics, partitions: i32) {
    ensure_pipeline_topics(brokers, topics, partitions)
        .await
        .expect("create test topics");
}

/// A producer for tests to feed topics with, configured as the services'
/// (idempotent, `acks=all`) but waiting up to 30 s for an acknowledgement:
/// tests share a busy machine, and a slow broker must not fail them.
///
/// # Panics
/// When librdkafka rejects the configuration.
pub fn producer(brokers: &str, client_id: &str) -> rdkafka::producer::FutureProducer {
    let settings = fiducia_runtime::kafka::ProducerSettings {
        message_timeout: std::time::Duration::from_secs(30),
        ..fiducia_runtime::kafka::ProducerSettings::default()
    };
    fiducia_runtime::kafka::producer_config(brokers, client_id, &settings)
        .create()
        .expect("a test producer")
}

/// Reads `topic` on `brokers` from its start, in a consumer group of its own,
/// until `done` holds for what arrived or `within` passed, and returns what
/// arrived: a test that waits for messages asserts `done` on the result, one
/// that checks that nothing more comes reads until `within` passes.
///
/// # Panics
/// When the consumer cannot be created.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    within: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = client_config(brokers, "test-reader")
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a test consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = tokio::time::Instant::now() + within;
    let mut messages = Vec::new();
    while !done(&messages) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(error)) => eprintln!("{topic}: {error}"),
            Err(_) => break,
        }
    }
    messages
}

/// Messages in `topic` now (sum over its partitions of high − low watermark).
///
/// # Panics
/// When the broker does not answer.
#[must_use]
pub fn count_messages(brokers: &str, topic: &str) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = client_config(brokers, "test-count")
        .create()
        .expect("a test consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    metadata
        .topics()
        .iter()
        .flat_map(rdkafka::metadata::MetadataTopic::partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            high - low
        })
        .sum()
}
