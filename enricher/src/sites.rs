//! Per-site enrichment rules: the `enrich` sections of the sites file
//! (`FIDUCIA_SITES_FILE`, read and checked by
//! [`fiducia_runtime::service::sites`]), checked at start-up with errors
//! that name the file and the key path. A site without an `enrich` section
//! gets the defaults below; `deploy/CONFIGURATION.md` lists every key.
//!
//! ```toml
//! [sites.demo.enrich]
//! time_zone = "Europe/Rome"         # the sessions' midnight (default UTC)
//! event_types = ["page_view", "click"]  # allowed types; others are dead-lettered (default: all)
//! drop_bots = false                 # true: events scored as bots are not published
//! bot_threshold = 50                # is_bot when bot_score >= this (1-100)
//! scrub_query_keys = ["ref"]        # removed from URLs and properties, besides the built-in list
//! internal_hosts = ["checkout.example"]  # referrers counted as internal besides the page's host
//! geo = { precision = "city", anonymous_precision = "country" }
//!
//! [[sites.demo.enrich.categories]]
//! name = "product"
//! path_prefix = "/p/"
//!
//! [[sites.demo.enrich.items]]               # what an item is, for recommendations
//! path_regex = "^/p/([^/]+)"                # capture group 1: the item id
//! ```
//!
//! `geo.precision` is the most precise location stored for events with
//! measurement consent; `geo.anonymous_precision` applies to events without
//! it (anonymous measurement) and can never be `city`. Events of a site the
//! file does not list (the collector refuses those, so they come from a
//! collector with another file) are handled as `FIDUCIA_ENRICHER_UNKNOWN_SITES`
//! says.

use std::collections::{HashMap, HashSet};

use fiducia_runtime::service::sites::{Section, SitesError, SitesFile};
use jiff::tz::TimeZone;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::enrich::geo::Precision;
use crate::enrich::scrub::Scrubber;
use fiducia_runtime::service::sites::category::{Categories, CategoryRule};
use fiducia_runtime::service::sites::items::{ItemRule, Items};
use fiducia_runtime::service::sites::retention::{self, RetentionView};

/// What to do with events of a site the sites file does not list
/// (`FIDUCIA_ENRICHER_UNKNOWN_SITES`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownSites {
    /// `enrich`: enrich them with the default rules.
    #[default]
    Enrich,
    /// `dead_letter`: dead-letter them (`UNKNOWN_SITE`), to be replayed once configured.
    DeadLetter,
}

impl std::str::FromStr for UnknownSites {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enrich" => Ok(Self::Enrich),
            "dead_letter" => Ok(Self::DeadLetter),
            _ => Err("must be enrich or dead_letter"),
        }
    }
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
    /// Item rules.
    pub items: Items,
    /// Months a profile is kept after the visitor's last activity
    /// (`[sites.<id>.retention] profiles_months`, the sink's section, read
    /// here for that key alone; 13 when not written), so a profile served
    /// lives no longer than the signals the warehouse keeps.
    pub profile_retention_months: u32,
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
            items: Items::default(),
            profile_retention_months: retention::DEFAULT_MONTHS,
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

/// A site's `enrich` section as written.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrichSection {
    /// IANA time zone of the sessions' midnight rule (default `UTC`).
    time_zone: Option<String>,
    /// Allowed event types; others are dead-lettered (default: all).
    event_types: Option<Vec<String>>,
    /// Drop events scored as bots instead of flagging them.
    #[serde(default)]
    drop_bots: bool,
    /// `is_bot` when `bot_score` reaches this, 1-100 (default 50).
    bot_threshold: Option<u32>,
    /// Query and property keys removed besides the built-in list.
    #[serde(default)]
    scrub_query_keys: Vec<String>,
    /// Hosts besides the page's own whose referrers are internal.
    #[serde(default)]
    internal_hosts: Vec<String>,
    /// How precise a stored location may be.
    #[serde(default)]
    geo: GeoSection,
    /// Page category rules, in order.
    #[serde(default)]
    categories: Vec<CategoryRule>,
    /// Item rules, in order: the first whose regex matches the path gives
    /// the item id (its first capture group); an event's `item_id`
    /// property wins over them.
    #[serde(default)]
    items: Vec<ItemRule>,
}

/// The `geo` table of an `enrich` section.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoSection {
    /// With measurement consent: `city` (default), `region`, `country` or `none`.
    #[serde(default = "city")]
    precision: Precision,
    /// Without it: `country` (default), `region` or `none`; never `city`.
    #[serde(default = "country")]
    anonymous_precision: Precision,
}

impl Default for GeoSection {
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
    /// Takes the `enrich` sections of a checked sites file; unknown sites
    /// are enriched (set [`Sites::unknown_sites`] to change that).
    ///
    /// # Errors
    /// On an unknown key, a value of the wrong type or an unusable rule,
    /// naming the key path.
    pub fn from_file(file: &SitesFile) -> Result<Self, SitesError> {
        let sections: std::collections::BTreeMap<String, EnrichSection> =
            file.section(Section::Enrich)?;
        let mut kept: std::collections::BTreeMap<String, RetentionView> =
            file.section(Section::Retention)?;
        let mut sites = HashMap::with_capacity(sections.len());
        for (id, section) in sections {
            let mut checked =
                check(section).map_err(|message| file.invalid(&id, Section::Enrich, &message))?;
            checked.profile_retention_months =
                kept.remove(&id).unwrap_or_default().profiles_months();
            sites.insert(id, checked);
        }
        Ok(Self {
            sites,
            default: Site::default(),
            unknown_sites: UnknownSites::default(),
        })
    }

    /// Parses and checks the text of a sites file named `path` (for errors).
    ///
    /// # Errors
    /// When the text does not parse or has unusable rules.
    pub fn parse(text: &str, path: &str) -> Result<Self, SitesError> {
        Self::from_file(&SitesFile::parse(text, path)?)
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

/// The rules of a section, or `key: reason` (the key relative to the section).
fn check(file: EnrichSection) -> Result<Site, String> {
    let time_zone = match file.time_zone.as_deref() {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|e| format!("time_zone: {name:?}: {e}"))?,
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
        return Err(format!("bot_threshold: {bot_threshold}: must be 1-100"));
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
    let categories =
        Categories::compile(&file.categories).map_err(|e| format!("categories: {e}"))?;
    let items = Items::compile(&file.items).map_err(|e| format!("items: {e}"))?;
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
        items,
        profile_retention_months: retention::DEFAULT_MONTHS,
    })
}

#[cfg(test)]
mod tests;
