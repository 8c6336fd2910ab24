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
//! The statements live with their table in [`crate::tables`]; this file is
//! the history that says which runs when. `{db}` in a statement stands for
//! the configured database, back-quoted.

use super::Feature;
use crate::tables::{
    admin_audit, consent_log, dead_letters, events, privacy_requests, profile_events, profiles,
    sessions,
};

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
            Step::Sql(events::CREATE),
        ],
    },
    Migration {
        version: 2,
        name: "create consent_log",
        steps: &[Step::Sql(consent_log::CREATE)],
    },
    Migration {
        version: 3,
        name: "events: bot score, referrer names, all UTM fields, click ids, session and page fields",
        steps: events::ENRICHMENT_COLUMNS,
    },
    Migration {
        version: 4,
        name: "create the sessions view over events",
        steps: &[Step::Sql(sessions::CREATE)],
    },
    Migration {
        version: 5,
        name: "create profile_events (fed from events by a materialized view) and the profiles view",
        steps: &[
            Step::Sql(profile_events::CREATE),
            Step::Sql(profile_events::CREATE_MV),
            Step::Sql(profiles::CREATE_FIRST),
        ],
    },
    Migration {
        version: 6,
        name: "create privacy_requests",
        steps: &[Step::Sql(privacy_requests::CREATE_FIRST)],
    },
    Migration {
        version: 7,
        name: "modern storage where the server has it: LowCardinality and codecs",
        steps: &[
            Step::If {
                feature: Feature::LowCardinality,
                sql: events::LOW_CARDINALITY,
            },
            Step::If {
                feature: Feature::Codecs,
                sql: events::CODECS,
            },
            Step::If {
                feature: Feature::LowCardinality,
                sql: consent_log::LOW_CARDINALITY,
            },
        ],
    },
    Migration {
        version: 8,
        name: "create dead_letters (what failed and why, without payloads)",
        steps: &[
            Step::Sql(dead_letters::CREATE),
            Step::If {
                feature: Feature::LowCardinality,
                sql: dead_letters::LOW_CARDINALITY,
            },
        ],
    },
    Migration {
        version: 9,
        name: "profiles: never a visitor whose latest consent record denies personalization",
        steps: &[
            Step::Sql("DROP TABLE IF EXISTS {db}.profiles"),
            Step::Sql(profiles::CREATE_CONSENT_AWARE),
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
    Migration {
        version: 11,
        name: "data rights: privacy_requests one row per state (the old, never written table is dropped), admin_audit, the retention the visitor chose on events and consent_log, erasures by user key in consent_log",
        steps: &[
            // Idempotent only together with the next step: a re-run after a
            // crash drops the new table, which is still empty (nothing
            // writes it before the migration is recorded).
            Step::Sql(privacy_requests::DROP_FIRST),
            Step::Sql(privacy_requests::CREATE),
            Step::Sql(admin_audit::CREATE),
            events::RETENTION_COLUMN,
            consent_log::RIGHTS_COLUMNS[0],
            consent_log::RIGHTS_COLUMNS[1],
        ],
    },
    Migration {
        version: 12,
        name: "items: item_id on events and profile_events, carried by a new profile_events_mv",
        steps: &[
            events::ITEM_COLUMN,
            profile_events::ITEM_COLUMN,
            // A materialized view cannot be altered on 18.16: it is dropped
            // and created again. Migrations run at sink start-up before the
            // first insert, so no event of this sink passes between the two
            // statements without reaching profile_events (a sink of the
            // previous release still running at that moment could insert
            // such an event: upgrade sinks by stopping them all first).
            // Idempotent: a re-run drops the new view and creates it again.
            Step::Sql(profile_events::DROP_MV),
            Step::Sql(profile_events::CREATE_MV_WITH_ITEMS),
        ],
    },
];

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
}
