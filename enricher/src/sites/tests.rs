//! Sites files the enricher accepts, and those it refuses naming the key.

use super::*;

/// A site `demo` with these `enrich` lines.
fn demo(enrich: &str) -> String {
    format!("[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\n{enrich}\n")
}

#[test]
fn a_full_section_is_read() {
    let sites = Sites::parse(
        r#"
[sites.demo.collect]
allowed_origins = []
[sites.demo.enrich]
time_zone = "Europe/Rome"
event_types = ["page_view", "click"]
drop_bots = true
bot_threshold = 70
scrub_query_keys = ["Ref"]
internal_hosts = ["Checkout.Example"]
geo = { precision = "region", anonymous_precision = "none" }
[[sites.demo.enrich.categories]]
name = "product"
path_prefix = "/p/"
"#,
        "t.toml",
    )
    .unwrap();
    let demo = sites.get("demo").unwrap();
    assert!(demo.drop_bots);
    assert_eq!(demo.bot_threshold, 70);
    assert!(demo.event_types.as_ref().unwrap().contains("click"));
    assert!(demo.scrubber.is_sensitive_key("ref"));
    assert_eq!(demo.internal_hosts, ["checkout.example"]);
    assert_eq!(
        (demo.geo_precision, demo.anonymous_geo_precision),
        (Precision::Region, Precision::None)
    );
    assert_eq!(demo.categories.of("/p/1"), ["product"]);
    assert!(sites.get("other").is_none());
    assert_eq!(sites.rules("other").bot_threshold, DEFAULT_BOT_THRESHOLD);
    assert_eq!(sites.unknown_sites, UnknownSites::Enrich);
}

#[test]
fn the_repositorys_sites_file_is_valid_for_the_enricher() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
    let file = SitesFile::load(std::path::Path::new(path)).unwrap();
    let sites = Sites::from_file(&file).unwrap();
    let demo = sites.get("demo").unwrap();
    assert_eq!(demo.categories.of("/p/42"), ["product"]);
    assert_eq!(demo.categories.of("/p/shoes/runner-2"), ["shoes"]);
    assert_eq!(demo.items.of("/p/shoes/runner-2", ""), "runner-2");
}

#[test]
fn a_site_without_an_enrich_section_gets_the_defaults() {
    let sites = Sites::parse("[sites.any.collect]\nallowed_origins = []\n", "t.toml").unwrap();
    assert_eq!(sites.len(), 1);
    let rules = sites.get("any").unwrap();
    assert_eq!(rules.time_zone, TimeZone::UTC);
    assert_eq!(rules.geo_precision, Precision::City);
    assert_eq!(rules.anonymous_geo_precision, Precision::Country);
    assert!(!rules.drop_bots);
    assert_eq!(rules.bot_threshold, DEFAULT_BOT_THRESHOLD);
}

#[test]
fn bad_sections_are_refused_naming_the_file_and_the_key_path() {
    for (enrich, key, reason) in [
        ("time_zone = \"Mars/Olympus\"", "time_zone", "Mars"),
        ("time_zon = \"UTC\"", "time_zon", "unknown field"),
        ("event_types = []", "event_types", "at least one"),
        (
            "event_types = [\"Page View\"]",
            "event_types",
            "not an event type",
        ),
        ("bot_threshold = 0", "bot_threshold", "1-100"),
        ("bot_threshold = 101", "bot_threshold", "1-100"),
        ("bot_threshold = \"high\"", "bot_threshold", "invalid type"),
        ("scrub_query_keys = [\" \"]", "scrub_query_keys", "empty"),
        (
            "internal_hosts = [\"https://a.example\"]",
            "internal_hosts",
            "not a host name",
        ),
        (
            "geo = { anonymous_precision = \"city\" }",
            "geo.anonymous_precision",
            "measurement consent",
        ),
        (
            "geo = { precision = \"country\", anonymous_precision = \"region\" }",
            "geo.anonymous_precision",
            "more precise",
        ),
        (
            "geo = { precision = \"street\" }",
            "geo.precision",
            "unknown variant",
        ),
        (
            "geo = { precison = \"city\" }",
            "geo.precison",
            "unknown field",
        ),
        (
            "[[sites.demo.enrich.categories]]\nname = \"x\"\npath_prefix = \"p\"",
            "categories",
            "category rule 0",
        ),
        (
            "[[sites.demo.enrich.categories]]\nname = \"x\"\npath_prefx = \"/p\"",
            "categories[0].path_prefx",
            "unknown field",
        ),
        ("drop_bot = true", "drop_bot", "unknown field"),
    ] {
        let text = demo(enrich);
        let error = Sites::parse(&text, "t.toml").unwrap_err();
        assert_eq!(error.file, "t.toml");
        assert_eq!(
            error.key,
            format!("sites.demo.enrich.{key}"),
            "{text}: {error}"
        );
        assert!(error.reason.contains(reason), "{text}: {error}");
    }
}

#[test]
fn the_unknown_sites_policy_parses_from_its_two_names() {
    assert_eq!("enrich".parse(), Ok(UnknownSites::Enrich));
    assert_eq!("dead_letter".parse(), Ok(UnknownSites::DeadLetter));
    assert!("ignore".parse::<UnknownSites>().is_err());
}

#[test]
fn items_and_the_profile_retention_are_read_with_their_defaults() {
    let sites = Sites::parse(
        r#"
[sites.demo.collect]
allowed_origins = []
[[sites.demo.enrich.items]]
path_regex = "^/p/([^/]+)"
[sites.demo.retention]
profiles_months = 6
identified_events_months = 13
[sites.blog.collect]
allowed_origins = []
"#,
        "t.toml",
    )
    .unwrap();
    let demo = sites.get("demo").unwrap();
    assert_eq!(demo.items.of("/p/shoe-42", ""), "shoe-42");
    assert_eq!(demo.profile_retention_months, 6);
    let blog = sites.get("blog").unwrap();
    assert_eq!(blog.items.of("/p/shoe-42", ""), "");
    assert_eq!(blog.profile_retention_months, retention::DEFAULT_MONTHS);
    let error = Sites::parse(&demo_with_items("^/p/"), "t.toml").unwrap_err();
    assert_eq!(error.key, "sites.demo.enrich.items");
    assert!(error.reason.contains("capture group"), "{error}");
}

fn demo_with_items(regex: &str) -> String {
    demo(&format!(
        "[[sites.demo.enrich.items]]\npath_regex = \"{regex}\""
    ))
}
