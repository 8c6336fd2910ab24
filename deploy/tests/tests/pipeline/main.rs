//! The whole pipeline as separate processes: collector → broker → enricher
//! → broker → sink → ClickHouse, each test on topics and a database of its
//! own.
//!
//! These tests live here, not in a service crate, so that a service's own
//! tests build and run only that service.

mod broker_restart;
mod cluster;
mod consent_log;
mod erasure;
mod exactly_once;
mod faults;
mod geo;
mod lag;
mod ledger;
mod metrics_text;
mod privacy;
mod profiles;
mod stack;
