//! Topic creation through the Kafka admin API, so services start on any
//! Kafka-API broker (Tansu, Kafka, Redpanda) without a vendor CLI.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;

use super::client_config;

/// Creates the topics that do not exist yet; existing ones are left alone.
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic.
pub async fn ensure_topics(brokers: &str, topics: &[&str], partitions: i32) -> KafkaResult<()> {
    create(brokers, topics, partitions, &[]).await
}

/// Like [`ensure_topics`], for topics that keep only the latest record per
/// key (`cleanup.policy=compact`), such as state snapshots.
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic.
pub async fn ensure_compacted_topics(
    brokers: &str,
    topics: &[&str],
    partitions: i32,
) -> KafkaResult<()> {
    create(
        brokers,
        topics,
        partitions,
        &[("cleanup.policy", "compact")],
    )
    .await
}

async fn create(
    brokers: &str,
    topics: &[&str],
    partitions: i32,
    config: &[(&str, &str)],
) -> KafkaResult<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, "fiducia-admin").create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| {
            config.iter().fold(
                NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::error!(%topic, ?code, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
