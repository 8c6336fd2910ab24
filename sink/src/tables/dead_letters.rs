//! `dead_letters`, the analysts' view of what the pipeline could not
//! process and why, from `fiducia.deadletter.v1` (unless switched off): a
//! [`DeadLetter`] becomes one [`DeadLetterRow`].
//!
//! The row keeps what explains a failure (stage, reason, field, detail,
//! where the message was, its site, schema and event type from its headers,
//! its size) and leaves out its payload and key: those may carry personal
//! data the enricher never got to remove, and stay in the dead-letter topic
//! for `fiducia-enricher replay` under the topic's own retention.
//! Redelivered dead letters collapse on where the original message was.

use fiducia_proto::headers::{self, schema};
use fiducia_proto::v1::{DeadLetter, DeadLetterHeader};
use fiducia_runtime::kafka::deadletter::reason_label;

use super::{TableRow, TimeOutOfRange, split_ms};
use crate::handler::Rejection;

/// The table's name, in the configured database.
pub const NAME: &str = "dead_letters";

/// The analysts' copy of `fiducia.deadletter.v1`: one row per message a
/// stage gave up on, with why, but without its payload or key (they may
/// hold personal data the enricher never removed; they stay in the topic
/// for replay). A redelivered dead letter collapses on where the original
/// message was. Kept 30 days by default (`jobs::retention`).
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    failed_at DateTime('UTC') COMMENT 'when the stage gave up',
    failed_ms UInt16 COMMENT 'millisecond part of failed_at',
    stage String COMMENT 'the stage that gave up: enricher or sink',
    reason String COMMENT 'typed reason: undecodable, invalid, empty, wrong_schema, bad_event_id, missing_field, bad_value, bad_properties, unknown_site, event_type_not_allowed',
    field String COMMENT 'the offending field, when one field is to blame',
    detail String COMMENT 'human-readable detail, never payload content',
    site_id String COMMENT 'the site header of the original message, empty when absent',
    schema String COMMENT 'the message type its schema header named',
    event_type String COMMENT 'its event type header, empty when absent',
    topic String COMMENT 'where the original message was: topic',
    partition Int32 COMMENT 'partition',
    offset Int64 COMMENT 'offset',
    payload_bytes UInt32 COMMENT 'size of the original payload (the bytes stay in the dead-letter topic)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (topic, partition, offset, stage)";

/// Dictionary-encodes the `dead_letters` columns with few distinct values.
pub const LOW_CARDINALITY: &str = "\
ALTER TABLE {db}.dead_letters
    MODIFY COLUMN stage LowCardinality(String),
    MODIFY COLUMN reason LowCardinality(String),
    MODIFY COLUMN field LowCardinality(String),
    MODIFY COLUMN site_id LowCardinality(String),
    MODIFY COLUMN schema LowCardinality(String),
    MODIFY COLUMN event_type LowCardinality(String)";

/// One row of `dead_letters` (column types as in [`crate::tables`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    /// When the stage gave up, `DateTime`.
    pub failed_at: u32,
    /// Millisecond part of `failed_at` (`UInt16`).
    pub failed_ms: u16,
    /// The stage that gave up: `enricher` or `sink`.
    pub stage: String,
    /// The typed reason, as in the `reason` label of the dead-letter metrics.
    pub reason: String,
    /// The offending field, when one field is to blame.
    pub field: String,
    /// Human-readable detail (never payload content).
    pub detail: String,
    /// The `fiducia-site` header of the original message, else the site
    /// part of its `site:visitor` key, else empty.
    pub site_id: String,
    /// Its `fiducia-schema` header, or empty.
    pub schema: String,
    /// Its `fiducia-event-type` header, or empty.
    pub event_type: String,
    /// Where the original message was: topic, partition, offset.
    pub topic: String,
    /// Partition (`Int32`).
    pub partition: i32,
    /// Offset (`Int64`).
    pub offset: i64,
    /// Size of the original payload (`UInt32`); the bytes stay in Kafka.
    pub payload_bytes: u32,
}

crate::columns!(DeadLetterRow {
    failed_at as "DateTime('UTC')",
    failed_ms,
    stage,
    reason,
    field,
    detail,
    site_id,
    schema,
    event_type,
    topic,
    partition,
    offset,
    payload_bytes,
});

/// Longest header value kept: headers are written by our stages, but a
/// dead letter may wrap anything a producer sent.
const MAX_HEADER_CHARS: usize = 200;

fn bounded_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_HEADER_CHARS)
        .collect()
}

fn header_text(headers: &[DeadLetterHeader], key: &str) -> String {
    headers
        .iter()
        .find(|h| h.key == key)
        .map(|h| bounded_text(&h.value))
        .unwrap_or_default()
}

/// The site of a message without a site header: the part of its key before
/// the first `:` (keys are `site:visitor`; the visitor part is never kept).
fn site_from_key(key: &[u8]) -> String {
    key.iter()
        .position(|b| *b == b':')
        .map(|colon| bounded_text(&key[..colon]))
        .unwrap_or_default()
}

impl TableRow for DeadLetterRow {
    type Message = DeadLetter;
    const TABLE: &'static str = NAME;
    const SCHEMA: &'static str = schema::DEAD_LETTER;

    fn from_message(message: DeadLetter) -> Result<Self, Rejection> {
        Self::try_from(message).map_err(Rejection::invalid)
    }
}

impl TryFrom<DeadLetter> for DeadLetterRow {
    type Error = TimeOutOfRange;

    fn try_from(letter: DeadLetter) -> Result<Self, TimeOutOfRange> {
        let (failed_at, failed_ms) = split_ms("failed_at_ms", letter.failed_at_ms)?;
        Ok(Self {
            failed_at,
            failed_ms,
            reason: reason_label(letter.reason()).to_owned(),
            site_id: Some(header_text(&letter.headers, headers::SITE))
                .filter(|site| !site.is_empty())
                .unwrap_or_else(|| site_from_key(&letter.key)),
            schema: header_text(&letter.headers, headers::SCHEMA),
            event_type: header_text(&letter.headers, headers::EVENT_TYPE),
            payload_bytes: u32::try_from(letter.payload.len()).unwrap_or(u32::MAX),
            stage: letter.stage,
            field: letter.field,
            detail: letter.detail,
            topic: letter.topic,
            partition: letter.partition,
            offset: letter.offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;
    use fiducia_proto::v1::DeadLetterReason;

    use super::*;
    use crate::columns::Columns as _;
    use crate::tables::create_columns;

    fn header(key: &str, value: &[u8]) -> DeadLetterHeader {
        DeadLetterHeader {
            key: key.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn a_dead_letter_keeps_its_explanation_and_drops_its_payload_and_key() {
        let day = midnight_days_ago_ms(1);
        let letter = DeadLetter {
            stage: "enricher".into(),
            reason: DeadLetterReason::MissingField.into(),
            detail: "site_id is empty".into(),
            topic: "fiducia.raw.v1".into(),
            partition: 3,
            offset: 42,
            key: b"demo:visitor-1".to_vec(),
            payload: b"visitor alice@example.com".to_vec(),
            headers: vec![
                header(headers::SITE, b"demo"),
                header(headers::SCHEMA, b"fiducia.v1.RawEvent"),
                header(headers::EVENT_TYPE, b"page_view"),
                header("other", b"x"),
            ],
            failed_at_ms: day + 123,
            field: "site_id".into(),
        };
        let row = DeadLetterRow::try_from(letter).unwrap();
        assert_eq!(
            row,
            DeadLetterRow {
                failed_at: u32::try_from(day / 1000).unwrap(),
                failed_ms: 123,
                stage: "enricher".into(),
                reason: "missing_field".into(),
                field: "site_id".into(),
                detail: "site_id is empty".into(),
                site_id: "demo".into(),
                schema: "fiducia.v1.RawEvent".into(),
                event_type: "page_view".into(),
                topic: "fiducia.raw.v1".into(),
                partition: 3,
                offset: 42,
                payload_bytes: 25,
            }
        );
    }

    #[test]
    fn hostile_headers_and_times_are_bounded_or_refused() {
        let letter = DeadLetter {
            headers: vec![header(headers::SITE, &[0xff; 1000])],
            failed_at_ms: midnight_days_ago_ms(1),
            ..DeadLetter::default()
        };
        let row = DeadLetterRow::try_from(letter).unwrap();
        assert_eq!(row.site_id.chars().count(), MAX_HEADER_CHARS);
        assert_eq!(row.reason, "unspecified");
        let before_1970 = DeadLetter {
            failed_at_ms: -1,
            ..DeadLetter::default()
        };
        assert!(DeadLetterRow::try_from(before_1970).is_err());
    }

    #[test]
    fn without_a_site_header_the_site_comes_from_the_key_and_never_the_visitor() {
        let row = |key: &[u8]| {
            DeadLetterRow::try_from(DeadLetter {
                key: key.to_vec(),
                ..DeadLetter::default()
            })
            .unwrap()
            .site_id
        };
        assert_eq!(row(b"shop:visitor-1"), "shop");
        assert_eq!(row(b"visitor-1"), "");
        assert_eq!(row(b""), "");
    }

    #[test]
    fn dead_letters_have_a_column_for_every_row_field() {
        assert_eq!(create_columns(CREATE), DeadLetterRow::COLUMNS);
    }
}
