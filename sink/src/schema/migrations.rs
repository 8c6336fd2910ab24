//! The ClickHouse schema as an ordered list of versioned migrations.
//!
//! Rules for adding one: append a [`Migration`] with the next version, never
//! edit or reorder an applied one, and make every step idempotent (two sinks
//! may run the same step at once, and a crash may leave a migration half
//! done: it is re-run from its first step). `CREATE ... IF NOT EXISTS` is
//! idempotent on every supported server; ClickHouse 18.16 has no
//! `ADD COLUMN IF NOT EXISTS`, so new columns go through [`Step::AddColumn`].
//!
//! Newer servers get modern storage through [`Step::If`]: statements that
//! run only where the server has a [`Feature`] (LowCardinality, codecs,
//! insert deduplication) and are skipped on 18.16.
//!
//! `{db}` in a statement stands for the configured database, back-quoted.

use super::Feature;

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
    /// A statement run only on servers with `feature`, idempotent there
    /// (e.g. `MODIFY COLUMN` to the type the column already has).
    If {
        /// What the server must support.
        feature: Feature,
        /// The statement.
        sql: &'static str,
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
    Migration {
        version: 4,
        name: "create the sessions view over events",
        steps: &[Step::Sql(CREATE_SESSIONS)],
    },
    Migration {
        version: 5,
        name: "create profile_events (fed from events by a materialized view) and the profiles view",
        steps: &[
            Step::Sql(CREATE_PROFILE_EVENTS),
            Step::Sql(CREATE_PROFILE_EVENTS_MV),
            Step::Sql(CREATE_PROFILES),
        ],
    },
    Migration {
        version: 6,
        name: "create privacy_requests",
        steps: &[Step::Sql(CREATE_PRIVACY_REQUESTS)],
    },
    Migration {
        version: 7,
        name: "modern storage where the server has it: LowCardinality and codecs",
        steps: &[
            Step::If {
                feature: Feature::LowCardinality,
                sql: EVENTS_LOW_CARDINALITY,
            },
            Step::If {
                feature: Feature::Codecs,
                sql: EVENTS_CODECS,
            },
            Step::If {
                feature: Feature::LowCardinality,
                sql: CONSENT_LOG_LOW_CARDINALITY,
            },
        ],
    },
    Migration {
        version: 8,
        name: "create dead_letters (what failed and why, without payloads)",
        steps: &[
            Step::Sql(CREATE_DEAD_LETTERS),
            Step::If {
                feature: Feature::LowCardinality,
                sql: DEAD_LETTERS_LOW_CARDINALITY,
            },
        ],
    },
    Migration {
        version: 9,
        name: "profiles: never a visitor whose latest consent record denies personalization",
        steps: &[
            Step::Sql("DROP TABLE IF EXISTS {db}.profiles"),
            Step::Sql(CREATE_PROFILES_CONSENT_AWARE),
        ],
    },
    Migration {
        version: 10,
        name: "insert deduplication where the server has tokens: a retried batch is stored once",
        steps: &[
            Step::If {
                feature: Feature::InsertDedupToken,
                sql: "ALTER TABLE {db}.events MODIFY SETTING non_replicated_deduplication_window = 1000",
            },
            Step::If {
                feature: Feature::InsertDedupToken,
                sql: "ALTER TABLE {db}.consent_log MODIFY SETTING non_replicated_deduplication_window = 1000",
            },
            Step::If {
                feature: Feature::InsertDedupToken,
                sql: "ALTER TABLE {db}.dead_letters MODIFY SETTING non_replicated_deduplication_window = 1000",
            },
        ],
    },
];

/// Dictionary-encodes the `events` columns with few distinct values (site_id
/// stays a `String`: it leads the sorting key, which cannot change type).
pub const EVENTS_LOW_CARDINALITY: &str = "\
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
pub const EVENTS_CODECS: &str = "\
ALTER TABLE {db}.events
    MODIFY COLUMN received_at DateTime('UTC') CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN url String CODEC(ZSTD(3)),
    MODIFY COLUMN referrer String CODEC(ZSTD(3)),
    MODIFY COLUMN title String CODEC(ZSTD(3)),
    MODIFY COLUMN props String CODEC(ZSTD(3))";

/// Dictionary-encodes the `consent_log` columns with few distinct values.
pub const CONSENT_LOG_LOW_CARDINALITY: &str = "\
ALTER TABLE {db}.consent_log
    MODIFY COLUMN action LowCardinality(String),
    MODIFY COLUMN source LowCardinality(String),
    MODIFY COLUMN notice_version LowCardinality(String),
    MODIFY COLUMN browser_family LowCardinality(String)";

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

/// One row per session, computed from `events` at query time (a plain view,
/// so it needs no storage, no retention of its own and no erasure: it shows
/// exactly what `events` holds). Events without a session id are left out.
pub const CREATE_SESSIONS: &str = "\
CREATE VIEW IF NOT EXISTS {db}.sessions AS
SELECT
    site_id,
    session_id,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started_at,
    max(event_time) AS ended_at,
    toUInt32(max(event_time) - min(event_time)) AS duration_seconds,
    count() AS events,
    countIf(event_type = 'page_view') AS page_views,
    argMin(path, (event_time, event_ms, seq)) AS entry_page,
    argMax(path, (event_time, event_ms, seq)) AS exit_page,
    argMin(referrer_class, (event_time, event_ms, seq)) AS entry_referrer_class,
    argMin(utm_source, (event_time, event_ms, seq)) AS utm_source,
    argMin(utm_medium, (event_time, event_ms, seq)) AS utm_medium,
    argMin(utm_campaign, (event_time, event_ms, seq)) AS utm_campaign,
    any(country) AS country,
    any(device) AS device,
    max(is_bot) AS is_bot
FROM {db}.events FINAL
WHERE session_id != ''
GROUP BY site_id, session_id";

/// The interest signals of visitors with personalization consent: one row
/// per event and page category (`''` for an uncategorised page), written by
/// [`CREATE_PROFILE_EVENTS_MV`] as events are inserted. Redelivered events
/// collapse on the sorting key, which ends in `event_id`. A withdrawal of
/// personalization deletes the visitor's rows (`jobs::erasure`); retention
/// deletes rows older than the profile retention, so a visitor inactive for
/// that long has no profile left.
pub const CREATE_PROFILE_EVENTS: &str = "\
CREATE TABLE IF NOT EXISTS {db}.profile_events
(
    site_id String,
    visitor_id String,
    category String COMMENT 'page category, empty for an uncategorised page',
    event_id UUID COMMENT 'the event this signal comes from; the dedup key',
    event_time DateTime('UTC'),
    weight Float32 COMMENT 'strength of the signal: 3 form_submit, 2 click or download, 1 otherwise'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (site_id, visitor_id, category, event_id)";

/// Feeds `profile_events` from every insert into `events`: only events whose
/// visitor gave personalization consent, that keep a visitor id and that
/// are not from bots.
pub const CREATE_PROFILE_EVENTS_MV: &str = "\
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.profile_events_mv TO {db}.profile_events AS
SELECT
    site_id,
    visitor_id,
    arrayJoin(if(empty(page_categories), [''], page_categories)) AS category,
    event_id,
    event_time,
    toFloat32(multiIf(event_type = 'form_submit', 3, event_type IN ('click', 'download'), 2, 1)) AS weight
FROM {db}.events
WHERE consent_personalization = 1 AND visitor_id != '' AND is_bot = 0";

/// The visitors whose latest consent record (by server time) leaves
/// personalization off: `(site_id, subject)` pairs. A macro so the
/// statements that use it stay `&'static str`.
macro_rules! withdrawn_personalization {
    () => {
        "SELECT site_id, subject FROM {db}.consent_log FINAL WHERE subject != '' \
         GROUP BY site_id, subject \
         HAVING argMax(personalization, toUInt64(server_time) * 1000 + server_ms) = 0"
    };
}

/// The visitors whose latest consent record leaves personalization off, as
/// a subquery of `(site_id, subject)` pairs (for the erasure sweep).
pub const WITHDRAWN_PERSONALIZATION: &str = withdrawn_personalization!();

/// The `profiles` view over `profile_events`, with `$filter` (a `WHERE`
/// clause or nothing) applied to the signals before they are summed.
macro_rules! profiles_view {
    ($filter:expr) => {
        concat!(
            "\
CREATE VIEW IF NOT EXISTS {db}.profiles AS
SELECT
    site_id,
    visitor_id,
    arrayFilter(x -> tupleElement(x, 1) != '', arrayReverseSort(x -> tupleElement(x, 2), groupArray((category, score)))) AS interests,
    max(category_last_seen) AS last_seen,
    toUInt32(dateDiff('day', max(category_last_seen), now())) AS recency_days,
    uniqExactMerge(category_events) AS frequency
FROM
(
    SELECT
        site_id,
        visitor_id,
        category,
        round(sum(weight * exp(-(toUInt32(now()) - toUInt32(event_time)) / 86400 / 30 * ln(2))), 3) AS score,
        max(event_time) AS category_last_seen,
        uniqExactState(event_id) AS category_events
    FROM {db}.profile_events FINAL",
            $filter,
            "
    GROUP BY site_id, visitor_id, category
)
GROUP BY site_id, visitor_id"
        )
    };
}

/// The first `profiles` view (migration 5), replaced by
/// [`CREATE_PROFILES_CONSENT_AWARE`] in migration 9; kept as applied.
pub const CREATE_PROFILES: &str = profiles_view!("");

/// One row per visitor with a profile: interests ranked by a score that
/// halves every 30 days, last activity, recency and frequency. A visitor
/// whose latest consent record leaves personalization off has none, even
/// while rows of theirs remain in `profile_events`: those of events that
/// were already on their way when the withdrawal was stored, which the
/// erasure sweep (`jobs::erasure`) deletes on its next run.
pub const CREATE_PROFILES_CONSENT_AWARE: &str = profiles_view!(concat!(
    "
    WHERE (site_id, visitor_id) NOT IN (",
    withdrawn_personalization!(),
    ")"
));

/// The audit trail of access and erasure requests (SPEC section 8): one row
/// per state a request reached; the latest `updated_at` wins on merge.
pub const CREATE_PRIVACY_REQUESTS: &str = "\
CREATE TABLE IF NOT EXISTS {db}.privacy_requests
(
    request_id UUID COMMENT 'UUIDv7 of the request',
    site_id String,
    subject String COMMENT 'pseudonymous subject the request is about',
    kind String COMMENT 'access or erasure',
    status String COMMENT 'received, deny_listed, deleted, completed, failed',
    requested_at DateTime('UTC'),
    updated_at DateTime('UTC') COMMENT 'when the request reached this status',
    tables Array(String) COMMENT 'tables the deletion covered',
    detail String COMMENT 'why it failed, when it did'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(requested_at)
ORDER BY (site_id, request_id)";

/// The analysts' copy of `fiducia.deadletter.v1`: one row per message a
/// stage gave up on, with why, but without its payload or key (they may
/// hold personal data the enricher never removed; they stay in the topic
/// for replay). A redelivered dead letter collapses on where the original
/// message was. Kept 30 days by default (`jobs::retention`).
pub const CREATE_DEAD_LETTERS: &str = "\
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
pub const DEAD_LETTERS_LOW_CARDINALITY: &str = "\
ALTER TABLE {db}.dead_letters
    MODIFY COLUMN stage LowCardinality(String),
    MODIFY COLUMN reason LowCardinality(String),
    MODIFY COLUMN field LowCardinality(String),
    MODIFY COLUMN site_id LowCardinality(String),
    MODIFY COLUMN schema LowCardinality(String),
    MODIFY COLUMN event_type LowCardinality(String)";

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
                    let head = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
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
        let fields = <crate::rows::EventRow as crate::columns::Columns>::COLUMNS;
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

    /// `create` declares exactly the row's columns, in the row's order.
    fn assert_columns_match(create: &str, fields: &[&str]) {
        let columns: Vec<&str> = create
            .lines()
            .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with('('))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(columns, fields);
    }

    #[test]
    fn the_consent_log_has_a_column_for_every_row_field() {
        assert_columns_match(
            CREATE_CONSENT_LOG,
            <crate::consent_rows::ConsentRow as crate::columns::Columns>::COLUMNS,
        );
    }

    #[test]
    fn dead_letters_have_a_column_for_every_row_field() {
        assert_columns_match(
            CREATE_DEAD_LETTERS,
            <crate::dead_letter_rows::DeadLetterRow as crate::columns::Columns>::COLUMNS,
        );
    }

    #[test]
    fn the_consent_aware_profiles_view_differs_from_the_first_only_by_its_filter() {
        let filter = concat!(
            "\n    WHERE (site_id, visitor_id) NOT IN (",
            withdrawn_personalization!(),
            ")"
        );
        assert!(CREATE_PROFILES_CONSENT_AWARE.contains(filter));
        assert_eq!(
            CREATE_PROFILES_CONSENT_AWARE.replace(filter, ""),
            CREATE_PROFILES
        );
        assert!(!CREATE_PROFILES.contains("WHERE"));
    }
}
