//! Reading partitions of a topic from their start to their current end,
//! without a consumer group: how the enricher reads session state back and
//! finds dead letters to replay ([`scan`]), and how a follower knows it has
//! caught up ([`super::follow`]).
//!
//! Partitions are assigned by hand and nothing is committed. The end is
//! where the consumer is told it reached the end of a partition
//! (librdkafka's partition EOF, tracked by [`Ends`]), not a high watermark
//! read up front: some Kafka-API brokers (Tansu 0.6) report the watermark at
//! the start of the last record batch, which would cut the newest records
//! off.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::FromClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::BorrowedMessage;
use rdkafka::metadata::MetadataPartition;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::client_config;

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

/// A consumer for partitions assigned by hand: outside any group (the
/// `group.id` librdkafka requires is never joined nor committed to), told
/// when it reaches the end of a partition.
///
/// # Errors
/// When librdkafka rejects the configuration.
pub fn consumer<C: FromClientConfig>(brokers: &str, client_id: &str) -> KafkaResult<C> {
    client_config(brokers, client_id)
        .set("group.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("enable.partition.eof", "true")
        .create()
}

/// The partition ids of `topic` as `client` sees them; empty when the
/// topic does not exist.
///
/// # Errors
/// When the metadata cannot be read.
pub fn partition_ids<C: Consumer>(
    client: &C,
    topic: &str,
    timeout: Duration,
) -> KafkaResult<Vec<i32>> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(MetadataPartition::id))
        .collect())
}

/// Which assigned partitions have been read to their end at least once.
#[derive(Debug, Default)]
pub struct Ends(BTreeMap<i32, bool>);

impl Ends {
    /// Adds an assigned partition, not at its end yet.
    pub fn expect(&mut self, partition: i32) {
        self.0.insert(partition, false);
    }

    /// Notes that `partition` reached its end.
    pub fn reached(&mut self, partition: i32) {
        self.0.insert(partition, true);
    }

    /// Whether there are partitions and every one reached its end.
    #[must_use]
    pub fn all_reached(&self) -> bool {
        !self.0.is_empty() && self.0.values().all(|&end| end)
    }

    /// Whether no partition was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every partition added.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.0.keys().copied()
    }

    /// Partitions not at their end yet.
    #[must_use]
    pub fn pending(&self) -> Vec<i32> {
        self.0
            .iter()
            .filter(|&(_, &end)| !end)
            .map(|(&partition, _)| partition)
            .collect()
    }
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
    let consumer: BaseConsumer = consumer(brokers, client_id).map_err(kafka)?;
    let mut ends = Ends::default();
    let mut assignment = TopicPartitionList::new();
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(kafka)?;
        if high > low {
            ends.expect(partition);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(low))
                .map_err(kafka)?;
        }
    }
    if assignment.count() == 0 {
        return Ok(());
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let deadline = Instant::now() + timeout;
    while !ends.all_reached() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => each(&message),
            Some(Err(KafkaError::PartitionEOF(partition))) => ends.reached(partition),
            Some(Err(error)) => return Err(kafka(error)),
            None if Instant::now() > deadline => {
                return Err(ScanError::Timeout {
                    topic: topic.to_owned(),
                    partitions: ends.pending(),
                    timeout,
                });
            }
            None => {}
        }
    }
    Ok(())
}

/// The partition ids of `topic`, read with a client of its own.
///
/// # Errors
/// When the metadata cannot be read or the topic does not exist.
pub fn partitions(
    brokers: &str,
    client_id: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, ScanError> {
    let kafka = |source| ScanError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let client: BaseConsumer = client_config(brokers, client_id).create().map_err(kafka)?;
    let ids = partition_ids(&client, topic, timeout).map_err(kafka)?;
    if ids.is_empty() {
        return Err(kafka(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        )));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_all_reached_once_every_partition_added_reached_its_end() {
        let mut ends = Ends::default();
        assert!(
            ends.is_empty() && !ends.all_reached(),
            "nothing assigned yet"
        );
        ends.expect(0);
        ends.expect(1);
        ends.reached(1);
        assert_eq!(ends.pending(), [0]);
        assert!(!ends.all_reached());
        ends.reached(0);
        assert!(ends.all_reached() && ends.pending().is_empty());
        assert_eq!(ends.partitions().collect::<Vec<_>>(), [0, 1]);
    }
}
