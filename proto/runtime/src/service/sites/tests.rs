//! The reader against good and bad sites files.

use super::*;

#[derive(Debug, Default, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Collect {
    allowed_origins: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Enrich {
    time_zone: Option<String>,
    geo: Geo,
}

#[derive(Debug, Default, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct Geo {
    precision: String,
}

const GOOD: &str = r#"
[sites.shop.collect]
allowed_origins = ["https://shop.example"]
[sites.shop.enrich]
time_zone = "Europe/Rome"
[sites.blog.collect]
allowed_origins = []
"#;

fn error(text: &str) -> SitesError {
    SitesFile::parse(text, "t.toml").unwrap_err()
}

#[test]
fn each_service_takes_its_sections_and_missing_optional_ones_are_empty() {
    let file = SitesFile::parse(GOOD, "t.toml").unwrap();
    assert_eq!(file.site_ids().collect::<Vec<_>>(), ["blog", "shop"]);
    let collect: BTreeMap<String, Collect> = file.section(Section::Collect).unwrap();
    assert_eq!(collect["shop"].allowed_origins, ["https://shop.example"]);
    let enrich: BTreeMap<String, Enrich> = file.section(Section::Enrich).unwrap();
    assert_eq!(enrich["shop"].time_zone.as_deref(), Some("Europe/Rome"));
    assert_eq!(enrich["blog"], Enrich::default());
}

#[test]
fn an_unknown_key_is_named_by_its_whole_path() {
    let file = SitesFile::parse(
        &format!("{GOOD}[sites.blog.enrich]\ntime_zon = \"UTC\"\n"),
        "t.toml",
    )
    .unwrap();
    let e = file.section::<Enrich>(Section::Enrich).unwrap_err();
    assert_eq!(e.file, "t.toml");
    assert_eq!(e.key, "sites.blog.enrich.time_zon");
    assert!(e.reason.contains("unknown field"), "{e}");
    assert!(
        e.to_string()
            .starts_with("sites file t.toml: sites.blog.enrich.time_zon: unknown field"),
        "{e}"
    );
}

#[test]
fn a_nested_unknown_key_and_a_bad_value_are_named_by_their_paths() {
    let text = format!("{GOOD}[sites.blog.enrich]\ngeo = {{ precison = \"city\" }}\n");
    let e = SitesFile::parse(&text, "t.toml")
        .unwrap()
        .section::<Enrich>(Section::Enrich)
        .unwrap_err();
    assert_eq!(e.key, "sites.blog.enrich.geo.precison");
    let text = format!("{GOOD}[sites.blog.enrich]\ntime_zone = 3\n");
    let e = SitesFile::parse(&text, "t.toml")
        .unwrap()
        .section::<Enrich>(Section::Enrich)
        .unwrap_err();
    assert_eq!(e.key, "sites.blog.enrich.time_zone");
    assert!(e.reason.contains("invalid type"), "{e}");
}

#[test]
fn bad_files_are_refused_naming_the_key_and_the_reason() {
    for (text, key, reason) in [
        ("", "sites", "no site configured"),
        ("sites = {}", "sites", "no site configured"),
        ("[sites.demo", "sites", "not valid TOML"),
        (
            "unknown_sites = \"enrich\"\n[sites.a.collect]\nallowed_origins = []",
            "unknown_sites",
            "unknown top-level key",
        ),
        ("[sites.Demo.collect]", "sites.Demo", "site id"),
        (
            "[sites.demo]\nallowed_origins = []",
            "sites.demo.allowed_origins",
            "unknown section",
        ),
        (
            "[sites.demo.collect]\n[sites.demo.enrichment]",
            "sites.demo.enrichment",
            "unknown section",
        ),
        (
            "[sites.demo.collect]\n[sites.demo.privacy]",
            "sites.demo.privacy",
            "reserved",
        ),
        (
            "[sites.demo.enrich]\ntime_zone = \"UTC\"",
            "sites.demo.collect",
            "missing",
        ),
    ] {
        let e = error(text);
        assert_eq!(e.key, key, "{text:?} → {e}");
        assert!(e.reason.contains(reason), "{text:?} → {e}");
    }
}

#[test]
fn unusable_values_are_named_relative_to_their_section() {
    let file = SitesFile::parse(GOOD, "t.toml").unwrap();
    let e = file.invalid("shop", Section::Enrich, "time_zone: \"Mars\" is unknown");
    assert_eq!(e.key, "sites.shop.enrich.time_zone");
    assert_eq!(e.reason, "\"Mars\" is unknown");
    let e = file.invalid("shop", Section::Enrich, "list at least one");
    assert_eq!(e.key, "sites.shop.enrich");
}

#[test]
fn as_a_configuration_error_it_names_the_variable_the_file_and_the_key_once() {
    let e = ConfigError::from(error("[sites.Demo.collect]"));
    assert_eq!(
        e.to_string(),
        "FIDUCIA_SITES_FILE=\"t.toml\": sites.Demo: a site id is 1-64 of [a-z0-9_-]"
    );
}

#[test]
fn the_variable_is_required_and_named() {
    // Nothing sets FIDUCIA_SITES_FILE in unit tests.
    if crate::service::config::env_raw(SITES_FILE_VAR)
        .unwrap()
        .is_none()
    {
        let e = SitesFile::from_env().unwrap_err();
        assert_eq!(e.var, SITES_FILE_VAR);
    }
}

#[test]
fn the_repositorys_sites_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/sites.toml");
    let file = SitesFile::load(Path::new(path)).unwrap();
    assert!(file.site_ids().any(|id| id == "demo"));
}
