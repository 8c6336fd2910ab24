//! Topic creation through the Kafka admin API, so services start on any
//! Kafka-API broker (Tansu, Kafka, Redpanda) without a vendor CLI.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;

use super::client_config;
use fiducia_proto::topics::Topics;

/// Creates the topics that do not exist yet; existing ones are left alone.
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic.
pub async fn ensure_topics(brokers: &str, topics: &[&str], partitions: i32) -> KafkaResult<()> {
    let plain: Vec<(&str, &[(&str, &str)])> = topics.iter().map(|t| (*t, &[][..])).collect();
    create(brokers, &plain, partitions).await
}

/// Creates the pipeline's shared topics that do not exist yet, each with
/// its settings ([`Topics::config_of`]: the consent topic never expires).
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic.
pub async fn ensure_pipeline_topics(
    brokers: &str,
    topics: &Topics,
    partitions: i32,
) -> KafkaResult<()> {
    let configured: Vec<(&str, &[(&str, &str)])> = topics
        .all()
        .into_iter()
        .map(|t| (t, topics.config_of(t)))
        .collect();
    create(brokers, &configured, partitions).await
}

/// `topic`'s `retention.ms` as the broker describes it: `Ok(None)` when the
/// broker does not describe topic configurations (Tansu 0.6).
///
/// # Errors
/// When the broker cannot be reached.
pub async fn retention_ms(brokers: &str, topic: &str) -> KafkaResult<Option<String>> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, "fiducia-admin").create()?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
        .await?;
    Ok(described
        .into_iter()
        .next()
        .and_then(Result::ok)
        .and_then(|resource| resource.get("retention.ms").and_then(|e| e.value.clone())))
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
    let compacted: Vec<(&str, &[(&str, &str)])> = topics
        .iter()
        .map(|t| (*t, &[("cleanup.policy", "compact")][..]))
        .collect();
    create(brokers, &compacted, partitions).await
}

async fn create(
    brokers: &str,
    topics: &[(&str, &[(&str, &str)])],
    partitions: i32,
) -> KafkaResult<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, "fiducia-admin").create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, config)| {
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
