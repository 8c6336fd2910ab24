//! Which offsets a batch covers, and storing them once it is handled.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Stores, per topic partition, the offset after the last message handled.
pub(super) fn store_offsets(consumer: &StreamConsumer, ranges: &[OffsetRange]) -> KafkaResult<()> {
    let mut list = TopicPartitionList::new();
    for range in ranges {
        list.add_partition_offset(
            &range.topic,
            range.partition,
            Offset::Offset(range.last + 1),
        )?;
    }
    consumer.store_offsets(&list)
}

/// The first and last offset of each topic partition in `batch` (and the
/// first one's timestamp), in the
/// order the partitions first appear. A batch holds a few partitions and
/// up to 100,000 messages, in runs per partition: a short list searched
/// from its most recent entry beats hashing the topic name of every
/// message (that hashing was 7% of a drain's time).
#[must_use]
pub fn offset_ranges(batch: &[OwnedMessage]) -> Vec<OffsetRange> {
    let mut ranges: Vec<OffsetRange> = Vec::new();
    for message in batch {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        match ranges
            .iter_mut()
            .rev()
            .find(|r| r.partition == partition && r.topic == topic)
        {
            Some(range) => {
                if offset < range.first {
                    range.first = offset;
                    range.first_timestamp_ms = message.timestamp().to_millis();
                }
                range.last = range.last.max(offset);
            }
            None => ranges.push(OffsetRange {
                topic: topic.to_owned(),
                partition,
                first: offset,
                last: offset,
                first_timestamp_ms: message.timestamp().to_millis(),
            }),
        }
    }
    ranges
}

/// The messages of one topic partition in a batch: offsets `first..=last`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The lowest offset.
    pub first: i64,
    /// The highest offset.
    pub last: i64,
    /// The Kafka timestamp (Unix ms) of the message at `first`, if it has
    /// one: how old the oldest message of the range is (consumer lag).
    pub first_timestamp_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(partition: i32, offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::CreateTime(1_000 + offset),
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn offset_ranges_span_the_first_to_the_last_message_of_each_partition() {
        let batch = [
            message(0, 5),
            message(1, 9),
            message(0, 6),
            message(2, 1),
            message(1, 7),
        ];
        let ranges = offset_ranges(&batch);
        let ranges: Vec<_> = ranges
            .iter()
            .map(|r| (r.topic.as_str(), r.partition, r.first, r.last))
            .collect();
        assert_eq!(ranges, [("t", 0, 5, 6), ("t", 1, 7, 9), ("t", 2, 1, 1)]);
        let stamps: Vec<_> = offset_ranges(&batch)
            .iter()
            .map(|r| r.first_timestamp_ms)
            .collect();
        assert_eq!(stamps, [Some(1_005), Some(1_007), Some(1_001)]);
        assert!(offset_ranges(&[]).is_empty());
    }
}
