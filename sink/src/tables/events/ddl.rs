//! The statements that made `events` as it is, in the order of the
//! migrations that run them: created by migration 1 with the core fields,
//! widened by migration 3 with the enrichment of issue 5 (one
//! [`Step::AddColumn`] each, as 18.16 has no `ADD COLUMN IF NOT EXISTS`),
//! given modern storage by migration 7 where the server has it, given the
//! retention the subject chose by migration 11 and the item by migration 12.

use super::NAME;
use crate::schema::migrations::Step;

/// One row per enriched event. Redeliveries carry the same values, so they
/// land in the same partition with the same sorting key and collapse on merge;
/// exact counts use `FINAL`. Times are `DateTime('UTC')` so partitions and
/// `toDate` do not depend on the server's time zone.
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id UUID COMMENT 'tag-minted UUIDv7, the dedup key',
    site_id String,
    event_type String COMMENT 'page_view, click, form_submit, scroll, engagement, outbound_link, download, custom, identify, consent',
    event_time DateTime('UTC') COMMENT 'client time corrected for clock skew, whole seconds',
    event_ms UInt16 COMMENT 'millisecond part of event_time, 0-999',
    received_at DateTime('UTC') COMMENT 'when the collector received the event',
    seq UInt32 COMMENT 'per-page sequence number from the tag',
    visitor_id String COMMENT 'empty unless a purpose allows it',
    session_id String COMMENT 'empty unless a purpose allows it',
    user_id String COMMENT 'first-party id after identify; empty unless allowed',
    url String COMMENT 'scrubbed of PII and configured query keys',
    path String,
    referrer String,
    referrer_class String COMMENT 'direct, internal, search, social, email, other',
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_term String,
    utm_content String,
    country String,
    region String,
    city String,
    browser String,
    browser_version String,
    os String,
    device String COMMENT 'desktop, mobile, tablet, bot, other',
    is_bot UInt8,
    bot_reasons Array(String),
    consent_measurement UInt8,
    consent_personalization UInt8,
    consent_functional UInt8,
    decision String COMMENT 'keep or strip',
    props String COMMENT 'event properties, a JSON object',
    title String,
    lang String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (site_id, toDate(event_time), event_id)
SETTINGS index_granularity = 8192";

/// Columns of issue 5's enrichment (the enricher fills them).
pub const ENRICHMENT_COLUMNS: &[Step] = &[
    add_event_column(
        "bot_score",
        "UInt8 DEFAULT 0 COMMENT '0-100, from bot_reasons; is_bot uses the site threshold'",
    ),
    add_event_column(
        "search_engine",
        "String DEFAULT '' COMMENT 'google, bing, ... when referrer_class is search'",
    ),
    add_event_column(
        "social_network",
        "String DEFAULT '' COMMENT 'facebook, linkedin, ... when referrer_class is social'",
    ),
    add_event_column("utm_id", "String DEFAULT ''"),
    add_event_column("utm_source_platform", "String DEFAULT ''"),
    add_event_column("utm_creative_format", "String DEFAULT ''"),
    add_event_column("utm_marketing_tactic", "String DEFAULT ''"),
    add_event_column(
        "click_ids",
        "Array(String) COMMENT 'names of the ad click ids in the URL (gclid, fbclid, ...), never their values'",
    ),
    add_event_column(
        "session_seq",
        "UInt32 DEFAULT 0 COMMENT 'position in the session from 1; 0 without a session'",
    ),
    add_event_column(
        "landing_page",
        "String DEFAULT '' COMMENT 'path of the session first event'",
    ),
    add_event_column(
        "entry_referrer",
        "String DEFAULT '' COMMENT 'scrubbed referrer of the session first event'",
    ),
    add_event_column("entry_referrer_class", "String DEFAULT ''"),
    add_event_column(
        "page_categories",
        "Array(String) COMMENT 'from the site page category rules'",
    ),
];

/// The retention the subject chose (migration 11): the retention job reads
/// the latest choice from `consent_log`; this keeps what each event carried.
pub const RETENTION_COLUMN: Step = add_event_column(
    "retention_months",
    "UInt8 DEFAULT 0 COMMENT 'retention of identified data the subject chose when the event was sent, months; 0 = site default'",
);

/// The item the event is about (migration 12), as the enricher found it
/// (`EnrichedEvent.item_id`): what the item lists count.
pub const ITEM_COLUMN: Step = add_event_column(
    "item_id",
    "String DEFAULT '' COMMENT 'the item the event is about, from the site item rules or the item_id property; empty when none'",
);

/// An [`Step::AddColumn`] on `events`.
const fn add_event_column(column: &'static str, definition: &'static str) -> Step {
    Step::AddColumn {
        table: NAME,
        column,
        definition,
    }
}

/// Dictionary-encodes the `events` columns with few distinct values (site_id
/// stays a `String`: it leads the sorting key, which cannot change type).
pub const LOW_CARDINALITY: &str = "\
ALTER TABLE {db}.events
    MODIFY COLUMN event_type LowCardinality(String),
    MODIFY COLUMN referrer_class LowCardinality(String),
    MODIFY COLUMN search_engine LowCardinality(String),
    MODIFY COLUMN social_network LowCardinality(String),
    MODIFY COLUMN entry_referrer_class LowCardinality(String),
    MODIFY COLUMN utm_source LowCardinality(String),
    MODIFY COLUMN utm_medium LowCardinality(String),
    MODIFY COLUMN country LowCardinality(String),
    MODIFY COLUMN region LowCardinality(String),
    MODIFY COLUMN browser LowCardinality(String),
    MODIFY COLUMN browser_version LowCardinality(String),
    MODIFY COLUMN os LowCardinality(String),
    MODIFY COLUMN device LowCardinality(String),
    MODIFY COLUMN decision LowCardinality(String),
    MODIFY COLUMN lang LowCardinality(String)";

/// Compresses the wide text columns harder and delta-encodes `received_at`
/// (the key columns keep the default codec).
pub const CODECS: &str = "\
ALTER TABLE {db}.events
    MODIFY COLUMN received_at DateTime('UTC') CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN url String CODEC(ZSTD(3)),
    MODIFY COLUMN referrer String CODEC(ZSTD(3)),
    MODIFY COLUMN title String CODEC(ZSTD(3)),
    MODIFY COLUMN props String CODEC(ZSTD(3))";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::Columns as _;
    use crate::schema::migrations;
    use crate::tables::events::EventRow;

    #[test]
    fn the_events_table_has_a_column_for_every_row_field() {
        let columns = [
            "event_id",
            "site_id",
            "event_type",
            "event_time",
            "event_ms",
            "received_at",
            "seq",
            "visitor_id",
            "session_id",
            "user_id",
            "url",
            "path",
            "referrer",
            "referrer_class",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "country",
            "region",
            "city",
            "browser",
            "browser_version",
            "os",
            "device",
            "is_bot",
            "bot_reasons",
            "consent_measurement",
            "consent_personalization",
            "consent_functional",
            "decision",
            "props",
            "title",
            "lang",
            "bot_score",
            "search_engine",
            "social_network",
            "utm_id",
            "utm_source_platform",
            "utm_creative_format",
            "utm_marketing_tactic",
            "click_ids",
            "session_seq",
            "landing_page",
            "entry_referrer",
            "entry_referrer_class",
            "page_categories",
            "retention_months",
            "item_id",
        ];
        let fields = EventRow::COLUMNS;
        assert_eq!(fields, columns);
        let added: Vec<&str> = migrations::MIGRATIONS
            .iter()
            .flat_map(|m| m.steps)
            .filter_map(|step| match step {
                Step::AddColumn { table, column, .. } if *table == NAME => Some(*column),
                _ => None,
            })
            .collect();
        for column in columns {
            assert!(
                added.contains(&column)
                    || CREATE
                        .lines()
                        .any(|line| line.trim_start().starts_with(&format!("{column} "))),
                "{column}"
            );
        }
    }
}
