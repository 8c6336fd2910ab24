//! Reading partitions of a topic from their start to their current end,
//! without a consumer group: how session state is read back and how dead
//! letters are found for a replay.
//!
//! The end is where the consumer is told it reached the end of a partition
//! (librdkafka's partition EOF), not a high watermark read up front: some
//! Kafka-API brokers (Tansu 0.6) report the watermark at the start of the
//! last record batch, which would cut the newest records off.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fiducia_runtime::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

/// Why a scan stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The broker refused or failed.
    #[error("reading {topic}: {source}")]
    Kafka {
        /// The topic.
        topic: String,
        /// What failed.
        #[source]
        source: KafkaError,
    },
    /// The end was not reached in time.
    #[error("reading {topic}: partitions {partitions:?} not read to the end after {timeout:?}")]
    Timeout {
        /// The topic.
        topic: String,
        /// Partitions still being read.
        partitions: Vec<i32>,
        /// How long it tried.
        timeout: Duration,
    },
}

/// Hands every message of `partitions` of `topic`, oldest first per
/// partition, to `each`; returns once all are read to their end.
///
/// # Errors
/// When the broker fails or the end is not reached within `timeout`.
pub fn scan(
    brokers: &str,
    client_id: &str,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), ScanError> {
    let kafka = |source| ScanError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let consumer: BaseConsumer = client_config(brokers, client_id)
        .set("group.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(kafka)?;
    let mut pending: HashSet<i32> = HashSet::new();
    let mut assignment = TopicPartitionList::new();
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(kafka)?;
        if high > low {
            pending.insert(partition);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(kafka)?;
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let deadline = Instant::now() + timeout;
    while !pending.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => each(&message),
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                pending.remove(&partition);
            }
            Some(Err(error)) => return Err(kafka(error)),
            None if Instant::now() > deadline => {
                return Err(ScanError::Timeout {
                    topic: topic.to_owned(),
                    partitions: pending.into_iter().collect(),
                    timeout,
                });
            }
            None => {}
        }
    }
    Ok(())
}

/// The partition ids of `topic`.
///
/// # Errors
/// When the metadata cannot be read or the topic does not exist.
pub fn partitions(brokers: &str, topic: &str, timeout: Duration) -> Result<Vec<i32>, ScanError> {
    let kafka = |source| ScanError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let consumer: BaseConsumer = client_config(brokers, "fiducia-enricher-metadata")
        .create()
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| {
            t.partitions()
                .iter()
                .map(rdkafka::metadata::MetadataPartition::id)
        })
        .collect();
    if ids.is_empty() {
        return Err(kafka(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
        )));
    }
    Ok(ids)
}
