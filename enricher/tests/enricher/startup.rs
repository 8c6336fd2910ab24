//! Start-up refuses what cannot work, with a message that says why.

use fiducia_enricher::Application;
use fiducia_runtime::kafka::admin::ensure_topics;
use fiducia_testkit::{assert_sites_file_refused, start_up_failure, unique};
use tokio_util::sync::CancellationToken;

use crate::helpers::{PARTITIONS, Setup};

#[tokio::test]
async fn a_sessions_topic_with_fewer_partitions_than_raw_is_refused() {
    let setup = Setup::new().await;
    let mut config = setup.config(&unique("enricher"));
    config.kafka.topics.sessions = format!("{}.small", setup.topics.sessions);
    ensure_topics(
        &setup.infra.brokers,
        &[&config.kafka.topics.sessions],
        PARTITIONS - 1,
    )
    .await
    .unwrap();
    let Err(error) = Application::build(config, CancellationToken::new()).await else {
        panic!("an enricher with nowhere to keep some partitions' sessions started");
    };
    assert!(error.to_string().contains("partitions"), "{error}");
}

#[tokio::test]
async fn a_file_that_is_not_a_geo_database_is_refused() {
    let setup = Setup::new().await;
    let mut config = setup.config(&unique("enricher"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"not a database").unwrap();
    config.geoip_dbs = vec![file.path().to_owned()];
    let Err(error) = Application::build(config, CancellationToken::new()).await else {
        panic!("an enricher with a broken geo database started");
    };
    let message = error.to_string();
    assert!(
        message.contains("FIDUCIA_ENRICHER_GEOIP_DB=") && message.contains("geo database"),
        "{message}"
    );
}

#[test]
fn the_enricher_binary_stops_on_a_geo_database_without_locations() {
    // A valid database of another kind (here an ASN one): refused before any
    // connection, naming the variable and the type.
    let location = fiducia_testkit::mmdb::write_flat("country ipv4", &[["203.0.113.0/24", "IT"]]);
    let asn = fiducia_testkit::mmdb::write_flat("GeoLite2-ASN", &[["203.0.113.0/24", "IT"]]);
    let both = format!("{},{}", location.path().display(), asn.path().display());
    let sites = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let (status, stderr) = start_up_failure(
        env!("CARGO_BIN_EXE_fiducia-enricher"),
        &[
            ("FIDUCIA_SITES_FILE", sites),
            ("FIDUCIA_ENRICHER_GEOIP_DB", &both),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("FIDUCIA_ENRICHER_GEOIP_DB=") && stderr.contains("\"GeoLite2-ASN\""),
        "{stderr}"
    );
}

#[test]
fn the_enricher_binary_stops_on_a_bad_sites_file_or_a_removed_variable() {
    let site = "[sites.demo.collect]\nallowed_origins = []\n";
    for (_case, text, key, reason) in [
        (
            "unknown-key",
            format!("{site}[sites.demo.enrich]\ntime_zon = \"UTC\"\n"),
            "sites.demo.enrich.time_zon",
            "unknown field `time_zon`",
        ),
        (
            "bad-value",
            format!("{site}[sites.demo.enrich]\ntime_zone = \"Mars/Olympus\"\n"),
            "sites.demo.enrich.time_zone",
            "\"Mars/Olympus\"",
        ),
        (
            "reserved-section",
            format!("{site}[sites.demo.privacy]\n"),
            "sites.demo.privacy",
            "a section name reserved",
        ),
    ] {
        assert_sites_file_refused(env!("CARGO_BIN_EXE_fiducia-enricher"), &text, key, reason);
    }
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let (status, stderr) = start_up_failure(
        env!("CARGO_BIN_EXE_fiducia-enricher"),
        &[
            ("FIDUCIA_SITES_FILE", good),
            ("FIDUCIA_ENRICHER_SITES_FILE", good),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("FIDUCIA_ENRICHER_SITES_FILE=") && stderr.contains("removed"),
        "{stderr}"
    );
}
