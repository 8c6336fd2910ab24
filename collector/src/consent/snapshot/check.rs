//! Whether a snapshot still belongs to the consent topic as the broker
//! holds it now: same name (the file says it), same partitions, and in
//! every partition the last covered record still there, at its offset,
//! with the payload that was applied. A topic recreated (shorter, or
//! refilled past the offsets with other records) or truncated is told
//! apart, and the ledger replays it whole.
//!
//! The log end is not read from the high watermark, which Tansu 0.6
//! reports at the start of the last record batch (`fiducia_runtime`'s
//! `kafka::scan`): the last covered record is fetched instead. Tansu also
//! answers a fetch at an offset inside a record batch with the next batch:
//! when the record after the last covered one comes back first, the
//! snapshot ended at a batch's end and the follower resumes exactly there
//! (the last record's content is then not compared); when a later one
//! comes back, the follower could not resume without skipping records, and
//! the topic is replayed. So the check says where each partition resumes:
//! at the offset that came back, the last covered record (applied again,
//! harmlessly) or the one after it, never at an offset not seen to be
//! fetchable.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fiducia_runtime::kafka::scan::{self, partition_ids};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{Cover, Fallback};

/// What the fetch of a partition's last covered record found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A record at this offset, with this payload CRC-32.
    Record(i64, u32),
    /// The partition ends before it.
    End,
}

/// Where the follower resumes, by partition (module docs).
pub type Resume = HashMap<i32, i64>;

/// Checks `cover` against `topic` on `brokers` within about `timeout`.
///
/// # Errors
/// The [`Fallback`] that applies.
pub fn against_topic(
    brokers: &str,
    topic: &str,
    cover: &Cover,
    timeout: Duration,
) -> Result<Resume, Fallback> {
    if cover.topic != topic {
        return Err(Fallback::Topic);
    }
    let consumer: BaseConsumer = scan::consumer(brokers, "fiducia-collector-ledger-snapshot")
        .map_err(|_| Fallback::Broker)?;
    let ids = partition_ids(&consumer, topic, timeout).map_err(|_| Fallback::Broker)?;
    let mut lows = BTreeMap::new();
    for &p in &ids {
        let (low, _) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|_| Fallback::Broker)?;
        lows.insert(p, low);
    }
    let found = last_covered(&consumer, topic, cover, timeout)?;
    judge(cover, &lows, &found)
}

/// The decision, from the topic's partitions with their low watermarks and
/// what was found at each partition's last covered offset: where each
/// partition the cover holds records of resumes.
///
/// # Errors
/// The [`Fallback`] that applies.
pub fn judge(
    cover: &Cover,
    lows: &BTreeMap<i32, i64>,
    found: &BTreeMap<i32, Found>,
) -> Result<Resume, Fallback> {
    if !lows.keys().eq(cover.partitions.keys()) {
        return Err(Fallback::Partitions);
    }
    let mut resume = Resume::new();
    for (p, position) in &cover.partitions {
        if position.next <= 0 {
            continue;
        }
        let last = position.next - 1;
        if last < lows[p] {
            return Err(Fallback::BelowStart);
        }
        match found.get(p) {
            Some(&Found::Record(offset, crc)) if offset == last => {
                if crc != position.last_crc {
                    return Err(Fallback::RecordChanged);
                }
                resume.insert(*p, last);
            }
            // A broker that fetches from record batches (module docs).
            Some(&Found::Record(offset, _)) if offset == position.next => {
                resume.insert(*p, offset);
            }
            // Reset to the beginning: the offset is out of range.
            Some(&Found::Record(offset, _)) if offset < last => return Err(Fallback::BeyondEnd),
            Some(Found::Record(..)) => return Err(Fallback::Unaligned),
            Some(Found::End) => return Err(Fallback::BeyondEnd),
            None => return Err(Fallback::Broker),
        }
    }
    Ok(resume)
}

/// Fetches each partition's last covered record (none for a partition
/// the cover holds nothing of).
fn last_covered(
    consumer: &BaseConsumer,
    topic: &str,
    cover: &Cover,
    timeout: Duration,
) -> Result<BTreeMap<i32, Found>, Fallback> {
    let mut list = TopicPartitionList::new();
    let mut pending = 0;
    for (&p, position) in &cover.partitions {
        if position.next > 0 {
            list.add_partition_offset(topic, p, Offset::Offset(position.next - 1))
                .map_err(|_| Fallback::Broker)?;
            pending += 1;
        }
    }
    let mut found = BTreeMap::new();
    if pending == 0 {
        return Ok(found);
    }
    consumer.assign(&list).map_err(|_| Fallback::Broker)?;
    let deadline = Instant::now() + timeout;
    while found.len() < pending {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fallback::Broker);
        }
        match consumer.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(message)) => {
                let crc = crc32fast::hash(message.payload().unwrap_or_default());
                found
                    .entry(message.partition())
                    .or_insert(Found::Record(message.offset(), crc));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                found.entry(p).or_insert(Found::End);
            }
            Some(Err(error)) => tracing::debug!(%error, "snapshot check: broker error"),
            None => {}
        }
    }
    Ok(found)
}
