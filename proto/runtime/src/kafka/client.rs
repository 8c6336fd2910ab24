//! Client configuration every service starts from, and the producer set-up
//! that makes "acknowledged" mean durable: idempotent, `acks=all`, lz4.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaResult;

use super::ack::{AckContext, AckProducer};

/// The base configuration: brokers and a client id for broker-side logs.
#[must_use]
pub fn client_config(brokers: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        // Fail fast on a dead broker instead of librdkafka's long defaults.
        .set("socket.connection.setup.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "2000");
    config
}

/// A client that reads `group`'s committed offsets without being one of
/// its members: it never subscribes (so never joins) and never commits.
/// The log-end watch and the next stage's lag watch use it.
///
/// Its topic metadata is refreshed every 2 s, not librdkafka's 5 minutes:
/// a look made while a restarted broker had not yet recreated the topic
/// cached it without partitions, and every look after failed with
/// `UnknownPartition` for those 5 minutes, so a consumer left beyond the
/// new log end was never noticed (seen in CI: `broker_restart`).
#[must_use]
pub fn group_reader(brokers: &str, client_id: &str, group: &str) -> ClientConfig {
    let mut config = client_config(brokers, client_id);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("topic.metadata.refresh.interval.ms", "2000");
    config
}

/// Producer tuning; the durability settings are not optional.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    /// How long librdkafka waits to fill a batch (`linger.ms`).
    pub linger: Duration,
    /// How long a message may wait for an acknowledgement before it fails
    /// (`message.timeout.ms`); bounds how long a request can hang on a dead broker.
    pub message_timeout: Duration,
    /// Bound on messages waiting in the producer (`queue.buffering.max.messages`):
    /// when full, sends fail at once instead of memory growing.
    pub queue_max_messages: u32,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(5),
            message_timeout: Duration::from_secs(5),
            queue_max_messages: 100_000,
        }
    }
}

/// An idempotent producer with `acks=all` and lz4 compression
/// ([`producer_config`]), whose deliveries complete one waiter per batch
/// (`super::ack`).
///
/// # Errors
/// When librdkafka rejects the configuration.
pub fn producer(
    brokers: &str,
    client_id: &str,
    settings: &ProducerSettings,
) -> KafkaResult<AckProducer> {
    producer_config(brokers, client_id, settings).create_with_context(AckContext)
}

/// The configuration of every producer: idempotent, `acks=all`, lz4, and
/// `settings`' linger, timeout and queue bound.
#[must_use]
pub fn producer_config(
    brokers: &str,
    client_id: &str,
    settings: &ProducerSettings,
) -> ClientConfig {
    let mut config = client_config(brokers, client_id);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", settings.linger.as_millis().to_string())
        .set(
            "message.timeout.ms",
            settings.message_timeout.as_millis().to_string(),
        )
        .set(
            "queue.buffering.max.messages",
            settings.queue_max_messages.to_string(),
        );
    config
}
