//! The built sink refuses a sites file whose `retention` or
//! `personalization` sections it cannot use, and the retired per-site variable, before it reaches the broker or
//! ClickHouse: a failing exit status and a message naming the key.

use fiducia_testkit::{assert_sites_file_refused, start_up_failure};

#[test]
fn the_sink_binary_stops_on_a_bad_retention_section_or_the_removed_variable() {
    let site = "[sites.shop.collect]\nallowed_origins = []\n[sites.shop.retention]\n";
    for (_case, retention, key, reason) in [
        (
            "unknown-key",
            "profiles = 3",
            "sites.shop.retention.profiles",
            "unknown field `profiles`",
        ),
        (
            "zero",
            "profiles_months = 0",
            "sites.shop.retention.profiles_months",
            "must be at least 1",
        ),
    ] {
        assert_sites_file_refused(
            env!("CARGO_BIN_EXE_fiducia-sink"),
            &format!("{site}{retention}\n"),
            key,
            reason,
        );
    }
    // The personalization section: k below 2 would let a list point at one person.
    assert_sites_file_refused(
        env!("CARGO_BIN_EXE_fiducia-sink"),
        "[sites.shop.collect]\nallowed_origins = []\n[sites.shop.personalization]\nmin_visitors = 1\n",
        "sites.shop.personalization.min_visitors",
        "at least 2",
    );
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let (status, stderr) = start_up_failure(
        env!("CARGO_BIN_EXE_fiducia-sink"),
        &[
            ("FIDUCIA_SITES_FILE", good),
            ("FIDUCIA_SINK_RETENTION_SITES", "shop=profiles:3"),
        ],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("FIDUCIA_SINK_RETENTION_SITES=\"shop=profiles:3\": removed"),
        "{stderr}"
    );
}
