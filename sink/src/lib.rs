//! The Fiducia sink: reads `fiducia.enriched.v1` and `fiducia.consent.v1`
//! in consumer groups and stores each event as one row of ClickHouse
//! `events` and each consent record as one row of `consent_log`,
//! effectively exactly once: offsets are stored only after ClickHouse
//! acknowledged the insert, and redelivered messages collapse on their id
//! (`ReplacingMergeTree`).
//!
//! Data path, per table ([`tables`], one module each: row, columns, name,
//! statements): the shared consume loop (`fiducia_runtime::kafka::consume`)
//! → [`handler`] (decode into the table's row, dead letters via
//! [`deadletter`]) → [`writer`] (ClickHouse, rows sent as [`columns`](mod@columns)). At
//! start-up [`schema`] migrates the database; while it runs, [`jobs`] erase
//! the profiles of visitors who withdraw personalization consent and delete
//! rows whose retention ended.

pub mod columns;
pub mod config;
pub mod deadletter;
pub mod deny;
pub mod handler;
pub mod jobs;
pub mod metrics;
pub mod schema;
pub mod startup;
pub mod tables;
pub mod writer;

pub use config::Config;
pub use startup::Application;
