//! The built collector refuses a sites file it cannot use, before it binds a
//! port or reaches the broker: a failing exit status and a message naming
//! the file, the key path and the reason.

use fiducia_testkit::{assert_sites_file_refused, start_up_failure};

const SITE: &str = "[sites.demo.collect]\nallowed_origins = [\"http://localhost:8000\"]\n";

#[test]
fn the_collector_binary_stops_on_each_kind_of_bad_sites_file() {
    for (_case, text, key, reason) in [
        (
            "unknown key in collect",
            "[sites.demo.collect]\nallowed_origin = []\n".to_owned(),
            "sites.demo.collect.allowed_origin",
            "unknown field",
        ),
        (
            "unknown key in consent",
            format!("{SITE}[sites.demo.consent]\nmax_age = 30\n"),
            "sites.demo.consent.max_age",
            "unknown field",
        ),
        (
            "bad value",
            format!("{SITE}[sites.demo.consent]\nmax_age_days = 999\n"),
            "sites.demo.consent.max_age_days",
            "999; must be 1-395",
        ),
        (
            "unknown section",
            format!("{SITE}[sites.demo.enrichment]\ntime_zone = \"UTC\"\n"),
            "sites.demo.enrichment",
            "unknown section",
        ),
        (
            "a site without the section the collector needs",
            format!("{SITE}[sites.blog.enrich]\ntime_zone = \"UTC\"\n"),
            "sites.blog.collect",
            "missing",
        ),
    ] {
        assert_sites_file_refused(env!("CARGO_BIN_EXE_fiducia-collector"), &text, key, reason);
    }
}

#[test]
fn the_collector_binary_names_a_missing_or_removed_sites_variable() {
    let (status, stderr) = start_up_failure(env!("CARGO_BIN_EXE_fiducia-collector"), &[]);
    assert!(!status.success());
    assert!(
        stderr.contains("FIDUCIA_SITES_FILE=\"\": required"),
        "{stderr}"
    );
    let old = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let (status, stderr) = start_up_failure(
        env!("CARGO_BIN_EXE_fiducia-collector"),
        &[("FIDUCIA_COLLECTOR_SITES_FILE", old)],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("FIDUCIA_COLLECTOR_SITES_FILE=") && stderr.contains("FIDUCIA_SITES_FILE"),
        "{stderr}"
    );
}

/// A privacy key that cannot be used stops start-up naming the variable
/// and why, never showing the secret.
#[test]
fn the_collector_binary_refuses_an_unusable_privacy_key_without_showing_it() {
    let sites = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"; // 30 bytes: too short
    for (var, value, reason) in [
        (
            "FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY",
            format!("k1:{secret}"),
            "must be 32 bytes",
        ),
        (
            "FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY",
            secret.to_owned(),
            "expected <kid>:<base64url key>",
        ),
        (
            "FIDUCIA_COLLECTOR_PRIVACY_PUBLIC_KEYS",
            format!("old key:{secret}"),
            "1-64 characters",
        ),
    ] {
        let (status, stderr) = start_up_failure(
            env!("CARGO_BIN_EXE_fiducia-collector"),
            &[("FIDUCIA_SITES_FILE", sites), (var, &value)],
        );
        assert!(!status.success());
        assert!(stderr.contains(var) && stderr.contains(reason), "{stderr}");
        if var.ends_with("SIGNING_KEY") {
            assert!(!stderr.contains(secret), "the secret leaked: {stderr}");
        }
    }
}

/// A short admin secret or a ClickHouse URL that is not one stops start-up,
/// naming the variable and why, never showing the secret.
#[test]
fn the_collector_binary_refuses_a_weak_admin_secret_and_a_bad_warehouse_without_showing_them() {
    let sites = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    for (var, value, reason) in [
        (
            "FIDUCIA_COLLECTOR_ADMIN_SECRET",
            "hunter2-secret",
            "at least 16 characters",
        ),
        (
            "FIDUCIA_COLLECTOR_CLICKHOUSE_URL",
            "clickhouse:8123",
            "an http(s):// URL",
        ),
        (
            "FIDUCIA_COLLECTOR_CLICKHOUSE_DATABASE",
            "fiducia; DROP",
            "a database name",
        ),
    ] {
        let mut env = vec![("FIDUCIA_SITES_FILE", sites), (var, value)];
        if var.ends_with("_DATABASE") {
            env.push(("FIDUCIA_COLLECTOR_CLICKHOUSE_URL", "http://127.0.0.1:1"));
        }
        let (status, stderr) = start_up_failure(env!("CARGO_BIN_EXE_fiducia-collector"), &env);
        assert!(!status.success());
        assert!(stderr.contains(var) && stderr.contains(reason), "{stderr}");
        if var.ends_with("_SECRET") {
            assert!(!stderr.contains(value), "the secret leaked: {stderr}");
        }
    }
}
