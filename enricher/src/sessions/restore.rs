//! Reading session state back from the sessions topic when this enricher
//! takes over a partition, and checking at start-up that the topic can hold
//! every raw partition's state.
//!
//! The state of raw partition `p` is in sessions partition `p`. It is read
//! from the start to the end offset seen when reading begins; the previous
//! owner wrote its last states before it let go of the partition (states
//! are acknowledged before offsets are stored, and a consumer rejoins a
//! rebalance only between batches), so they are all there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fiducia_proto::kafka::client_config;
use fiducia_proto::v1::SessionState;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Why state could not be read back; the batch is retried.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The broker refused or failed.
    #[error("reading session state: {0}")]
    Kafka(#[from] KafkaError),
    /// The end was not reached in time.
    #[error("reading session state of partition {partition}: not done after {timeout:?}")]
    Timeout {
        /// The partition.
        partition: i32,
        /// How long it tried.
        timeout: Duration,
    },
    /// The blocking reader task failed.
    #[error("session state reader: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Reads session state of given partitions.
#[derive(Debug, Clone)]
pub struct Restorer {
    brokers: String,
    topic: String,
    timeout: Duration,
}

/// The states of a partition, with how many records could not be decoded.
#[derive(Debug, Default)]
pub struct Restored {
    /// `site/visitor` and its latest state.
    pub states: Vec<(String, SessionState)>,
    /// Records that did not decode (skipped).
    pub undecodable: u64,
}

impl Restorer {
    /// A reader of `topic` on `brokers`, giving up after `timeout` per call.
    #[must_use]
    pub fn new(brokers: &str, topic: &str, timeout: Duration) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            timeout,
        }
    }

    /// The latest state per visitor of each partition in `partitions`.
    ///
    /// # Errors
    /// When the broker fails or the end is not reached within the timeout.
    pub async fn read(&self, partitions: Vec<i32>) -> Result<HashMap<i32, Restored>, RestoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_blocking(&partitions)).await?
    }

    fn read_blocking(&self, partitions: &[i32]) -> Result<HashMap<i32, Restored>, RestoreError> {
        let consumer: BaseConsumer = client_config(&self.brokers, "fiducia-enricher-restore")
            .set("group.id", "fiducia-enricher-restore")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()?;
        let mut out: HashMap<i32, Restored> = HashMap::new();
        let mut ends: HashMap<i32, i64> = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        for &partition in partitions {
            out.insert(partition, Restored::default());
            let (low, high) = consumer.fetch_watermarks(&self.topic, partition, self.timeout)?;
            if high > low {
                ends.insert(partition, high);
                assignment.add_partition_offset(&self.topic, partition, Offset::Offset(low))?;
            }
        }
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + self.timeout;
        let mut latest: HashMap<i32, HashMap<String, SessionState>> = HashMap::new();
        while !ends.is_empty() {
            let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
                if Instant::now() > deadline {
                    let partition = ends.keys().next().copied().unwrap_or_default();
                    return Err(RestoreError::Timeout {
                        partition,
                        timeout: self.timeout,
                    });
                }
                continue;
            };
            let message = polled?;
            let partition = message.partition();
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            let states = latest.entry(partition).or_default();
            match message.payload().filter(|p| !p.is_empty()) {
                None => {
                    states.remove(&key);
                }
                Some(payload) => match SessionState::decode(payload) {
                    Ok(state) => {
                        states.insert(key, state);
                    }
                    Err(error) => {
                        tracing::warn!(%error, partition, offset = message.offset(), "undecodable session state skipped");
                        if let Some(restored) = out.get_mut(&partition) {
                            restored.undecodable += 1;
                        }
                    }
                },
            }
            if ends
                .get(&partition)
                .is_some_and(|end| message.offset() + 1 >= *end)
            {
                ends.remove(&partition);
            }
        }
        for (partition, states) in latest {
            if let Some(restored) = out.get_mut(&partition) {
                restored.states = states.into_iter().collect();
            }
        }
        Ok(out)
    }
}

/// Checks that `sessions` has at least as many partitions as `raw`, so every
/// raw partition's state has a home.
///
/// # Errors
/// When the metadata cannot be read or the sessions topic is too small.
pub fn check_partitions(
    brokers: &str,
    raw: &str,
    sessions: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client_config(brokers, "fiducia-enricher-check").create()?;
    let count = |topic: &str| -> anyhow::Result<usize> {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        anyhow::ensure!(partitions > 0, "topic {topic} does not exist");
        Ok(partitions)
    };
    let (raw_count, sessions_count) = (count(raw)?, count(sessions)?);
    anyhow::ensure!(
        sessions_count >= raw_count,
        "topic {sessions} has {sessions_count} partitions but {raw} has {raw_count}: the session state of every raw partition needs a partition of the same number"
    );
    Ok(())
}
