//! The ClickHouse schema as an ordered list of versioned migrations.
//!
//! Rules for adding one: append a [`Migration`] with the next version, never
//! edit or reorder an applied one, and make every step idempotent (two sinks
//! may run the same step at once, and a crash may leave a migration half
//! done: it is re-run from its first step). `CREATE ... IF NOT EXISTS` is
//! idempotent on every supported server; ClickHouse 18.16 has no
//! `ADD COLUMN IF NOT EXISTS`, so new columns go through [`Step::AddColumn`].
//!
//! `{db}` in a statement stands for the configured database, back-quoted.

/// One schema change, recorded in `schema_migrations` once all its steps ran.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Position in the history; applied in ascending order, recorded once.
    pub version: u32,
    /// What it does, for the record and the logs.
    pub name: &'static str,
    /// What to run, in order.
    pub steps: &'static [Step],
}

/// One idempotent statement of a migration.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// A statement that is idempotent by itself (`CREATE ... IF NOT EXISTS`).
    Sql(&'static str),
    /// `ALTER TABLE {db}.<table> ADD COLUMN <column> <definition>`, skipped
    /// when the column exists (checked in `system.columns`, which works on
    /// servers without `ADD COLUMN IF NOT EXISTS`).
    AddColumn {
        /// Table in `{db}`.
        table: &'static str,
        /// New column's name.
        column: &'static str,
        /// Its type and default, e.g. `String DEFAULT ''`.
        definition: &'static str,
    },
}

/// The schema history, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "create database, schema_migrations and events",
        steps: &[
            Step::Sql(CREATE_DATABASE),
            Step::Sql(CREATE_SCHEMA_MIGRATIONS),
            Step::Sql(CREATE_EVENTS),
        ],
    },
    Migration {
        version: 2,
        name: "create consent_log",
        steps: &[Step::Sql(CREATE_CONSENT_LOG)],
    },
    Migration {
        version: 3,
        name: "events: bot score, referrer names, all UTM fields, click ids, session and page fields",
        steps: ENRICHMENT_COLUMNS,
    },
];

/// Columns of issue 5's enrichment (the enricher fills them).
const ENRICHMENT_COLUMNS: &[Step] = &[
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

/// An [`Step::AddColumn`] on `events`.
const fn add_event_column(column: &'static str, definition: &'static str) -> Step {
    Step::AddColumn {
        table: "events",
        column,
        definition,
    }
}

/// The database itself.
pub const CREATE_DATABASE: &str = "CREATE DATABASE IF NOT EXISTS {db}";

/// Which migrations ran. Two sinks may record the same version at once: the
/// engine collapses the duplicates, and readers group by version anyway.
pub const CREATE_SCHEMA_MIGRATIONS: &str = "\
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version UInt32 COMMENT 'migration number, see sink/src/schema/migrations.rs',
    name String COMMENT 'what the migration does',
    applied_at DateTime('UTC') COMMENT 'when a sink finished it'
)
ENGINE = ReplacingMergeTree
ORDER BY version";

/// One row per enriched event. Redeliveries carry the same values, so they
/// land in the same partition with the same sorting key and collapse on merge;
/// exact counts use `FINAL`. Times are `DateTime('UTC')` so partitions and
/// `toDate` do not depend on the server's time zone.
pub const CREATE_EVENTS: &str = "\
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

/// Proof of consent (GDPR art. 7(1)): one row per consent record, never
/// updated, kept as long as proof is needed (no retention). Redelivered
/// records carry the same `record_id` and values and collapse on merge;
/// `record_id` is a UUIDv7, so the sorting key orders one subject's history
/// in time.
pub const CREATE_CONSENT_LOG: &str = "\
CREATE TABLE IF NOT EXISTS {db}.consent_log
(
    record_id UUID COMMENT 'UUIDv7 of the record, the dedup key (the tag event id for consent events)',
    site_id String,
    subject String COMMENT 'pseudonymous subject: the tag visitor id, or empty',
    action String COMMENT 'grant, deny, update, withdraw, object, erase',
    measurement UInt8 COMMENT 'state after the change: 1 granted',
    personalization UInt8,
    functional UInt8,
    contextual UInt8,
    source String COMMENT 'tag:<api|gcm|cmp|tcf>, tcf:<cmp id>, gpc, dnt, privacy',
    notice_version String,
    notice_hash String COMMENT 'SHA-256 of the notice text shown, from the site configuration',
    tcf String COMMENT 'the TC string, when one was the signal',
    gpp String,
    gpc UInt8,
    dnt UInt8,
    client_time DateTime('UTC') COMMENT 'when the visitor chose (client clock)',
    server_time DateTime('UTC') COMMENT 'when the collector recorded it',
    server_ms UInt16 COMMENT 'millisecond part of server_time',
    ip_prefix String COMMENT 'truncated network, e.g. 203.0.113.0/24',
    browser_family String,
    expires_at DateTime('UTC') COMMENT 'when the grant lapses (site maximum consent age)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(server_time)
ORDER BY (site_id, subject, record_id)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_increase_without_gaps() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1, "{}", migration.name);
            assert!(!migration.steps.is_empty(), "{}", migration.name);
        }
    }

    #[test]
    fn every_create_is_idempotent() {
        for migration in MIGRATIONS {
            for step in migration.steps {
                if let Step::Sql(sql) = step {
                    let head = sql.split_whitespace().take(5).collect::<Vec<_>>().join(" ");
                    assert!(
                        !head.starts_with("CREATE") || head.contains("IF NOT EXISTS"),
                        "migration {}: {head}",
                        migration.version
                    );
                }
            }
        }
    }

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
        ];
        let fields = <crate::rows::EventRow as clickhouse::Row>::COLUMN_NAMES;
        assert_eq!(fields, columns);
        let added: Vec<&str> = MIGRATIONS
            .iter()
            .flat_map(|m| m.steps)
            .filter_map(|step| match step {
                Step::AddColumn {
                    table: "events",
                    column,
                    ..
                } => Some(*column),
                _ => None,
            })
            .collect();
        for column in columns {
            assert!(
                added.contains(&column)
                    || CREATE_EVENTS
                        .lines()
                        .any(|line| line.trim_start().starts_with(&format!("{column} "))),
                "{column}"
            );
        }
    }

    #[test]
    fn the_consent_log_has_a_column_for_every_row_field() {
        let fields = <crate::consent_rows::ConsentRow as clickhouse::Row>::COLUMN_NAMES;
        for column in fields {
            assert!(
                CREATE_CONSENT_LOG
                    .lines()
                    .any(|line| line.trim_start().starts_with(&format!("{column} "))),
                "{column}"
            );
        }
        let columns = CREATE_CONSENT_LOG
            .lines()
            .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with('('))
            .count();
        assert_eq!(columns, fields.len());
    }
}
