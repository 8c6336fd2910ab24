//! The Fiducia sink: reads `fiducia.enriched.v1` in a consumer group and
//! stores each event as one row of ClickHouse `events`, effectively exactly
//! once: offsets are stored only after ClickHouse acknowledged the insert,
//! and redelivered events collapse on `event_id` (`ReplacingMergeTree`).
//!
//! Data path: the shared consume loop (`fiducia_proto::kafka::consume`) →
//! [`handler`] (decode, [`rows`], dead letters via [`deadletter`]) →
//! [`writer`] (ClickHouse). At start-up [`schema`] migrates the database.

pub mod config;
pub mod deadletter;
pub mod handler;
pub mod metrics;
pub mod rows;
pub mod schema;
pub mod startup;
pub mod writer;

pub use config::Config;
pub use startup::Application;
