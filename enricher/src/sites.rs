//! Per-site enrichment rules, from the TOML file named by
//! `FIDUCIA_ENRICHER_SITES_FILE`, checked at start-up with errors that name
//! the site and the key. Sites not in the file get the defaults below.
//!
//! ```toml
//! unknown_sites = "enrich"          # or "dead_letter": refuse sites not listed here
//!
//! [sites.demo]
//! time_zone = "Europe/Rome"         # the sessions' midnight (default UTC)
//! event_types = ["page_view", "click"]  # allowed types; others are dead-lettered (default: all)
//! drop_bots = false                 # true: events scored as bots are not published
//! bot_threshold = 50                # is_bot when bot_score >= this (1-100)
//! scrub_query_keys = ["ref"]        # removed from URLs and properties, besides the built-in list
//! internal_hosts = ["checkout.example"]  # referrers counted as internal besides the page's host
//! geo = { precision = "city", anonymous_precision = "country" }
//!
//! [[sites.demo.categories]]
//! name = "product"
//! path_prefix = "/p/"
//! ```
//!
//! `geo.precision` is the most precise location stored for events with
//! measurement consent; `geo.anonymous_precision` applies to events without
//! it (anonymous measurement) and can never be `city`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::enrich::category::{Categories, CategoryRule};
use crate::enrich::geo::Precision;
use crate::enrich::scrub::Scrubber;

/// What to do with events of a site the file does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSites {
    /// Enrich them with the default rules.
    #[default]
    Enrich,
    /// Dead-letter them (`UNKNOWN_SITE`), to be replayed once configured.
    DeadLetter,
}

/// The rules of one site, ready to use.
#[derive(Debug, Clone)]
pub struct Site {
    /// Time zone of the sessions' midnight rule.
    pub time_zone: TimeZone,
    /// Allowed event types; `None` allows all.
    pub event_types: Option<HashSet<String>>,
    /// Whether events scored as bots are dropped instead of flagged.
    pub drop_bots: bool,
    /// `is_bot` when the score reaches this.
    pub bot_threshold: u32,
    /// Scrubbing rules (built-in plus the site's query keys).
    pub scrubber: Scrubber,
    /// Hosts besides the page's own whose referrers are internal.
    pub internal_hosts: Vec<String>,
    /// Location precision with measurement consent.
    pub geo_precision: Precision,
    /// Location precision without it.
    pub anonymous_geo_precision: Precision,
    /// Page category rules.
    pub categories: Categories,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            time_zone: TimeZone::UTC,
            event_types: None,
            drop_bots: false,
            bot_threshold: DEFAULT_BOT_THRESHOLD,
            scrubber: Scrubber::default(),
            internal_hosts: Vec::new(),
            geo_precision: Precision::City,
            anonymous_geo_precision: Precision::Country,
            categories: Categories::default(),
        }
    }
}

/// Default score from which an event is a bot.
pub const DEFAULT_BOT_THRESHOLD: u32 = 50;

/// All sites' rules.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    sites: HashMap<String, Site>,
    default: Site,
    /// Policy for sites not listed.
    pub unknown_sites: UnknownSites,
}

/// A sites file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SitesError {
    /// The file cannot be read.
    #[error("sites file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this format (the message names the key and line).
    #[error("sites file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A site's rules are not usable.
    #[error("sites file {path}: site {site:?}: {message}")]
    Site {
        /// The file.
        path: String,
        /// The site id.
        site: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    #[serde(default)]
    unknown_sites: UnknownSites,
    #[serde(default)]
    sites: BTreeMap<String, SiteFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    time_zone: Option<String>,
    event_types: Option<Vec<String>>,
    #[serde(default)]
    drop_bots: bool,
    bot_threshold: Option<u32>,
    #[serde(default)]
    scrub_query_keys: Vec<String>,
    #[serde(default)]
    internal_hosts: Vec<String>,
    #[serde(default)]
    geo: GeoFile,
    #[serde(default)]
    categories: Vec<CategoryRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoFile {
    #[serde(default = "city")]
    precision: Precision,
    #[serde(default = "country")]
    anonymous_precision: Precision,
}

impl Default for GeoFile {
    fn default() -> Self {
        Self {
            precision: city(),
            anonymous_precision: country(),
        }
    }
}

const fn city() -> Precision {
    Precision::City
}

const fn country() -> Precision {
    Precision::Country
}

impl Sites {
    /// Reads and checks a sites file.
    ///
    /// # Errors
    /// When the file cannot be read, does not parse, or has unusable rules.
    pub fn load(path: &Path) -> Result<Self, SitesError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SitesError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    /// Parses and checks the text of a sites file named `path` (for errors).
    ///
    /// # Errors
    /// When the text does not parse or has unusable rules.
    pub fn parse(text: &str, path: &str) -> Result<Self, SitesError> {
        let file: SitesFile = toml::from_str(text).map_err(|source| SitesError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let mut sites = HashMap::with_capacity(file.sites.len());
        for (id, site) in file.sites {
            let checked = check(&id, site).map_err(|message| SitesError::Site {
                path: path.to_owned(),
                site: id.clone(),
                message,
            })?;
            sites.insert(id, checked);
        }
        Ok(Self {
            sites,
            default: Site::default(),
            unknown_sites: file.unknown_sites,
        })
    }

    /// The rules of a listed site.
    #[must_use]
    pub fn get(&self, site_id: &str) -> Option<&Site> {
        self.sites.get(site_id)
    }

    /// The rules of `site_id`, or the defaults when it is not listed.
    #[must_use]
    pub fn rules(&self, site_id: &str) -> &Site {
        self.sites.get(site_id).unwrap_or(&self.default)
    }

    /// How many sites are listed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether no site is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

/// Whether `name` is a usable event type or site id: 1-64 of `[a-z0-9_-]`
/// (site ids, as the collector requires) or `[a-z0-9_]` (event types).
#[must_use]
pub fn is_identifier(name: &str, dash: bool) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (dash && b == b'-')
        })
}

fn check(id: &str, file: SiteFile) -> Result<Site, String> {
    if !is_identifier(id, true) {
        return Err("site id: use 1-64 of [a-z0-9_-]".into());
    }
    let time_zone = match file.time_zone.as_deref() {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|e| format!("time_zone {name:?}: {e}"))?,
    };
    let event_types = match file.event_types {
        None => None,
        Some(types) if types.is_empty() => {
            return Err("event_types: list at least one type, or leave it out".into());
        }
        Some(types) => {
            if let Some(bad) = types.iter().find(|t| {
                !fiducia_proto::consent::EventType::parse(t)
                    .is_some_and(|t| t != fiducia_proto::consent::EventType::Consent)
            }) {
                return Err(format!(
                    "event_types: {bad:?} is not an event type of the contract (consent events are records)"
                ));
            }
            Some(types.into_iter().collect())
        }
    };
    let bot_threshold = file.bot_threshold.unwrap_or(DEFAULT_BOT_THRESHOLD);
    if !(1..=100).contains(&bot_threshold) {
        return Err(format!("bot_threshold {bot_threshold}: must be 1-100"));
    }
    if let Some(bad) = file.scrub_query_keys.iter().find(|k| k.trim().is_empty()) {
        return Err(format!("scrub_query_keys: {bad:?} is empty"));
    }
    if let Some(bad) = file
        .internal_hosts
        .iter()
        .find(|h| h.is_empty() || h.contains(['/', ':', ' ', '@']))
    {
        return Err(format!(
            "internal_hosts: {bad:?} is not a host name (no scheme, port or path)"
        ));
    }
    if file.geo.anonymous_precision == Precision::City {
        return Err(
            "geo.anonymous_precision: city needs measurement consent; use region, country or none"
                .into(),
        );
    }
    if file.geo.anonymous_precision > file.geo.precision {
        return Err("geo.anonymous_precision: cannot be more precise than geo.precision".into());
    }
    let categories = Categories::compile(&file.categories).map_err(|e| e.to_string())?;
    Ok(Site {
        time_zone,
        event_types,
        drop_bots: file.drop_bots,
        bot_threshold,
        scrubber: Scrubber::new(&file.scrub_query_keys),
        internal_hosts: file
            .internal_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        geo_precision: file.geo.precision,
        anonymous_geo_precision: file.geo.anonymous_precision,
        categories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_is_read() {
        let sites = Sites::parse(
            r#"
unknown_sites = "dead_letter"
[sites.demo]
time_zone = "Europe/Rome"
event_types = ["page_view", "click"]
drop_bots = true
bot_threshold = 70
scrub_query_keys = ["Ref"]
internal_hosts = ["Checkout.Example"]
geo = { precision = "region", anonymous_precision = "none" }
[[sites.demo.categories]]
name = "product"
path_prefix = "/p/"
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(sites.unknown_sites, UnknownSites::DeadLetter);
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
    }

    #[test]
    fn the_local_runners_file_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/enricher.toml");
        let sites = Sites::load(Path::new(path)).unwrap();
        assert_eq!(
            sites.get("demo").unwrap().categories.of("/p/42"),
            ["product"]
        );
    }

    #[test]
    fn an_empty_file_means_defaults_for_every_site() {
        let sites = Sites::parse("", "t.toml").unwrap();
        assert!(sites.is_empty());
        assert_eq!(sites.unknown_sites, UnknownSites::Enrich);
        let rules = sites.rules("any");
        assert_eq!(rules.geo_precision, Precision::City);
        assert_eq!(rules.anonymous_geo_precision, Precision::Country);
        assert!(!rules.drop_bots);
    }

    #[test]
    fn bad_files_are_refused_naming_the_site_and_the_key() {
        for (text, want) in [
            ("[sites.Demo]", "site id"),
            ("[sites.demo]\ntime_zone = \"Mars/Olympus\"", "time_zone"),
            ("[sites.demo]\nevent_types = []", "event_types"),
            ("[sites.demo]\nevent_types = [\"Page View\"]", "event_types"),
            ("[sites.demo]\nbot_threshold = 0", "bot_threshold"),
            ("[sites.demo]\nbot_threshold = 101", "bot_threshold"),
            (
                "[sites.demo]\nscrub_query_keys = [\" \"]",
                "scrub_query_keys",
            ),
            (
                "[sites.demo]\ninternal_hosts = [\"https://a.example\"]",
                "internal_hosts",
            ),
            (
                "[sites.demo]\ngeo = { anonymous_precision = \"city\" }",
                "measurement consent",
            ),
            (
                "[sites.demo]\ngeo = { precision = \"country\", anonymous_precision = \"region\" }",
                "more precise",
            ),
            (
                "[sites.demo]\ngeo = { precision = \"street\" }",
                "unknown variant",
            ),
            (
                "[[sites.demo.categories]]\nname = \"x\"\npath_prefix = \"p\"",
                "category rule 0",
            ),
            ("[sites.demo]\ndrop_bot = true", "unknown field"),
            ("unknown_sites = \"ignore\"", "unknown variant"),
        ] {
            let error = Sites::parse(text, "t.toml").unwrap_err().to_string();
            assert!(error.contains(want), "{text}: {error}");
            assert!(error.starts_with("sites file t.toml"), "{error}");
        }
    }
}
