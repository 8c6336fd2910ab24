//! The name of a batch that stays the same on every retry of it, which the
//! writer sends as ClickHouse's `insert_deduplication_token`: a retried
//! insert that had in fact succeeded is then dropped whole.

use fiducia_runtime::kafka::consume::OffsetRange;

/// What identifies a batch on every retry of it: the offset range of each
/// topic partition it holds (its `offset_ranges`), e.g.
/// `fiducia.enriched.v1:0:100-199`.
#[must_use]
pub fn batch_token(ranges: &[OffsetRange]) -> String {
    let mut ranges: Vec<&OffsetRange> = ranges.iter().collect();
    ranges.sort_unstable();
    ranges
        .iter()
        .map(|r| format!("{}:{}:{}-{}", r.topic, r.partition, r.first, r.last))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use fiducia_runtime::kafka::consume::offset_ranges;
    use rdkafka::message::OwnedMessage;
    use uuid::Uuid;

    use super::*;
    use crate::handler::tests::good;

    #[test]
    fn a_batch_token_names_each_partition_offset_range_and_is_stable() {
        let id = Uuid::now_v7();
        let batch = [good(id, 7), good(id, 5), good(id, 6)];
        let token = |batch: &[OwnedMessage]| batch_token(&offset_ranges(batch));
        assert_eq!(token(&batch), "fiducia.enriched.v1:2:5-7");
        assert_eq!(token(&batch), token(&batch.clone()));
        assert_eq!(token(&[]), "");
    }
}
