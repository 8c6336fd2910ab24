//! Real servers and helpers for Fiducia's integration tests, one of each:
//!
//! * [`infra`] / [`PrivateInfra`]: the broker and ClickHouse, started by the
//!   project's own scripts (nothing is assumed to be running);
//!   [`PrivateCluster`]: a ClickHouse cluster of four servers, the same way.
//! * [`Service`]: a service process, killed on drop, its log kept for a
//!   failed test.
//! * [`eventually`] and [`wait_status`]: the one way to wait for something.
//! * [`ClickHouse`]: queries, and waiting for a query's answer.
//! * [`envelopes`]: request bodies as the tag sends them.
//! * [`raw`] and [`mmdb`]: raw events as the collector publishes them, and
//!   small geolocation databases, for tests of the enricher.
//! * [`create_topics`], [`producer`], [`read_topic`], [`count_messages`]:
//!   a test's own topics, fed and read back.
//! * [`start_up_failure`]: a service binary that must refuse its configuration.
//! * [`config_doc`]: the configuration reference checked against the code.
//! * [`privacy`]: the test signing key of the privacy center.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

mod clickhouse;
mod cluster;
pub mod config_doc;
pub mod envelopes;
mod infra;
mod kafka;
pub mod mmdb;
pub mod privacy;
mod process;
pub mod raw;
mod wait;

pub use clickhouse::ClickHouse;
pub use cluster::{NODES as CLUSTER_NODES, PrivateCluster};
pub use infra::{Infra, PrivateInfra, infra};
pub use kafka::{count_messages, create_topics, producer, read_topic};
pub use process::{Service, assert_sites_file_refused, start_up_failure};
pub use wait::{eventually, wait_status};

/// The repository root (this crate lives in `proto/testkit/`).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("proto/testkit/ has a grandparent")
        .to_path_buf()
}

/// A name no other test uses: `prefix_<uuid v7 simple>`.
#[must_use]
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A port free right now on 127.0.0.1.
///
/// # Panics
/// When no port can be bound at all.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}
