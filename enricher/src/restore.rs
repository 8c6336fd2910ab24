//! Reading per-visitor state back when this enricher takes over a raw
//! partition: session states from the sessions topic, profiles from the
//! profiles topic ([`Kept`]); and checking at start-up that each topic can
//! hold every raw partition's state.
//!
//! The state of raw partition `p` is in partition `p` of its topic. It is
//! read from the start to the end offset seen when reading begins; the
//! previous owner wrote its last states before it let go of the partition
//! (states are acknowledged before offsets are stored, and a consumer
//! rejoins a rebalance only between batches), so they are all there.

use std::collections::HashMap;
use std::time::Duration;

use fiducia_proto::v1::{Profile, SessionState};
use rdkafka::Message;

use fiducia_runtime::kafka::scan::{ScanError, partitions, scan};

/// State kept per visitor in a compacted topic, partitioned like the raw
/// topic, that records the raw position it has seen.
pub trait Kept: prost::Message + Default + Send + 'static {
    /// What it is, in logs.
    const WHAT: &'static str;
    /// Raw partition and offset of the latest event applied.
    fn raw_position(&self) -> (i32, i64);
}

impl Kept for SessionState {
    const WHAT: &'static str = "session state";
    fn raw_position(&self) -> (i32, i64) {
        (self.raw_partition, self.raw_offset)
    }
}

impl Kept for Profile {
    const WHAT: &'static str = "profile";
    fn raw_position(&self) -> (i32, i64) {
        (self.raw_partition, self.raw_offset)
    }
}

/// Why state could not be read back; the batch is retried.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The topic could not be read to its end.
    #[error("reading state back: {0}")]
    Scan(#[from] ScanError),
    /// The blocking reader task failed.
    #[error("state reader: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Reads the state `S` of given partitions.
#[derive(Debug)]
pub struct Restorer<S> {
    brokers: String,
    topic: String,
    timeout: Duration,
    kept: std::marker::PhantomData<fn() -> S>,
}

impl<S> Clone for Restorer<S> {
    fn clone(&self) -> Self {
        Self {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            timeout: self.timeout,
            kept: std::marker::PhantomData,
        }
    }
}

/// The states of a partition, with how many records could not be decoded.
#[derive(Debug)]
pub struct Restored<S> {
    /// `site/visitor` and its latest state.
    pub states: Vec<(String, S)>,
    /// Records that did not decode (skipped).
    pub undecodable: u64,
}

impl<S: Kept> Restorer<S> {
    /// A reader of `topic` on `brokers`, giving up after `timeout` per call.
    #[must_use]
    pub fn new(brokers: &str, topic: &str, timeout: Duration) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            timeout,
            kept: std::marker::PhantomData,
        }
    }

    /// The latest state per visitor of each partition in `partitions`.
    ///
    /// # Errors
    /// When the broker fails or the end is not reached within the timeout.
    pub async fn read(
        &self,
        partitions: Vec<i32>,
    ) -> Result<HashMap<i32, Restored<S>>, RestoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_blocking(&partitions)).await?
    }

    fn read_blocking(&self, partitions: &[i32]) -> Result<HashMap<i32, Restored<S>>, RestoreError> {
        let mut latest: HashMap<i32, HashMap<String, S>> =
            partitions.iter().map(|&p| (p, HashMap::new())).collect();
        let mut undecodable: HashMap<i32, u64> = HashMap::new();
        scan(
            &self.brokers,
            "fiducia-enricher-restore",
            &self.topic,
            partitions,
            self.timeout,
            |message| {
                let partition = message.partition();
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                let states = latest.entry(partition).or_default();
                if let Err(error) = fold(states, key, message.payload()) {
                    tracing::warn!(%error, partition, offset = message.offset(), what = S::WHAT, "undecodable state skipped");
                    *undecodable.entry(partition).or_default() += 1;
                }
            },
        )?;
        Ok(latest
            .into_iter()
            .map(|(partition, states)| {
                let restored = Restored {
                    states: states.into_iter().collect(),
                    undecodable: undecodable.get(&partition).copied().unwrap_or(0),
                };
                (partition, restored)
            })
            .collect())
    }
}

/// Applies one record of a state topic to the states read so far: a
/// tombstone forgets the visitor; a state replaces the one held unless that
/// one has seen a later raw offset. An instance that lost a partition in the
/// middle of a batch may still write that batch's states after the new owner
/// wrote newer ones; the newer ones must win.
///
/// # Errors
/// When the record does not decode (it is skipped).
fn fold<S: Kept>(
    states: &mut HashMap<String, S>,
    key: String,
    payload: Option<&[u8]>,
) -> Result<(), prost::DecodeError> {
    let Some(payload) = payload.filter(|p| !p.is_empty()) else {
        states.remove(&key);
        return Ok(());
    };
    let state = S::decode(payload)?;
    let (partition, offset) = state.raw_position();
    let newer_held = states.get(&key).is_some_and(|held| {
        let (held_partition, held_offset) = held.raw_position();
        held_partition == partition && held_offset > offset
    });
    if !newer_held {
        states.insert(key, state);
    }
    Ok(())
}

/// Client id of the metadata lookups, in broker logs.
const METADATA_CLIENT: &str = "fiducia-enricher-metadata";

/// Checks that each of `kept` has at least as many partitions as `raw`, so
/// every raw partition's state has a home.
///
/// # Errors
/// When the metadata cannot be read or a state topic is too small.
pub fn check_partitions(
    brokers: &str,
    raw: &str,
    kept: &[&str],
    timeout: Duration,
) -> anyhow::Result<()> {
    let raw_count = partitions(brokers, METADATA_CLIENT, raw, timeout)?.len();
    for topic in kept {
        let count = partitions(brokers, METADATA_CLIENT, topic, timeout)?.len();
        anyhow::ensure!(
            count >= raw_count,
            "topic {topic} has {count} partitions but {raw} has {raw_count}: the state of every raw partition needs a partition of the same number"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn state(offset: i64, events: u32) -> Vec<u8> {
        SessionState {
            raw_offset: offset,
            events,
            ..SessionState::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn the_state_that_saw_the_most_wins_and_tombstones_forget() {
        let mut states: HashMap<String, SessionState> = HashMap::new();
        for (key, payload, held) in [
            ("a", Some(state(5, 1)), Some(1)),
            ("a", Some(state(9, 3)), Some(3)),
            // A late write from the previous owner, behind: ignored.
            ("a", Some(state(7, 2)), Some(3)),
            ("a", Some(state(9, 3)), Some(3)),
            ("a", None, None),
            ("a", Some(state(2, 1)), Some(1)),
            ("a", Some(vec![]), None),
        ] {
            fold(&mut states, key.to_owned(), payload.as_deref()).unwrap();
            assert_eq!(states.get(key).map(|s| s.events), held);
        }
        assert!(fold(&mut states, "b".into(), Some(&[0xff, 0xff])).is_err());
    }
}
