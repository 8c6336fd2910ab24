//! The sites a collector accepts events for: the `collect` and `consent`
//! sections of the sites file (`FIDUCIA_SITES_FILE`, read and checked by
//! [`fiducia_runtime::service::sites`]):
//!
//! ```toml
//! [sites.demo.collect]     # required of every site
//! allowed_origins = ["https://shop.example", "http://localhost:8000"]
//! [sites.demo.consent]     # optional; see `consent::policy` for every key
//! max_age_days = 395
//! ```
//!
//! For `GET /v1/profile` it also reads the site's `personalization` section
//! (segments, shared with the sink) and, leniently, the `enrich` keys a
//! contextual answer needs ([`crate::profile::page`]).
//!
//! A request for a site not listed is refused (`403 unknown_site`), and a
//! browser request from an origin the site does not list is refused
//! (`403 origin_not_allowed`).

use std::collections::{BTreeMap, HashSet};

use fiducia_runtime::service::sites::personalization::{Personalization, PersonalizationSection};
use fiducia_runtime::service::sites::retention::{self, RetentionView};
use fiducia_runtime::service::sites::{Section, SitesError, SitesFile, is_valid_site_id};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::consent::policy::{Policy, PolicyFile};
use crate::profile::page::{EnrichView, PageRules};

/// One site's settings.
#[derive(Debug, Clone)]
pub struct Site {
    /// Origins (`scheme://host[:port]`) whose pages may post events.
    pub allowed_origins: Vec<String>,
    /// Consent rules, ages, notices.
    pub consent: Policy,
    /// How long the sink keeps the site's identified events, in months
    /// (`[sites.<id>.retention] identified_events_months`, the sink's
    /// section, read here for that key alone; 13 when not written): the
    /// privacy center offers only shorter retention choices.
    pub identified_retention_months: u32,
    /// Page categories, items, time zone (contextual answers).
    pub page: PageRules,
    /// Segments and k (personal answers).
    pub personalization: Personalization,
}

/// A site's `collect` section as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectSection {
    /// Origins (`scheme://host[:port]`, exactly) whose pages may post events;
    /// empty: only callers that send no `Origin` (servers).
    pub allowed_origins: Vec<String>,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            consent: Policy::default(),
            identified_retention_months: retention::DEFAULT_MONTHS,
            page: PageRules::default(),
            personalization: Personalization::default(),
        }
    }
}

impl Site {
    /// The retention choices (months) the privacy center offers: those
    /// shorter than the site's own; 0 (the site's default) is always valid.
    #[must_use]
    pub fn retention_choices(&self) -> Vec<u32> {
        fiducia_proto::privacy::RETENTION_CHOICES_MONTHS
            .into_iter()
            .filter(|&m| m < self.identified_retention_months)
            .collect()
    }
}

/// All configured sites, by site id.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    by_id: BTreeMap<String, Site>,
    all_origins: HashSet<String>,
}

impl Sites {
    /// Takes the collector's sections of a checked sites file.
    ///
    /// # Errors
    /// On an unknown key, a value of the wrong type, or a bad origin or
    /// consent rule, naming the key path.
    pub fn from_file(file: &SitesFile) -> Result<Self, SitesError> {
        let collect: BTreeMap<String, CollectSection> = file.section(Section::Collect)?;
        let mut consent: BTreeMap<String, PolicyFile> = file.section(Section::Consent)?;
        let mut retention: BTreeMap<String, RetentionView> = file.section(Section::Retention)?;
        let mut enrich: BTreeMap<String, EnrichView> = file.section(Section::Enrich)?;
        let mut personalization: BTreeMap<String, PersonalizationSection> =
            file.section(Section::Personalization)?;
        let mut by_id = BTreeMap::new();
        for (id, collect) in collect {
            let policy =
                Policy::from_file(consent.remove(&id).unwrap_or_default()).map_err(|e| {
                    let relative = e.strip_prefix("consent.").unwrap_or(&e);
                    file.invalid(&id, Section::Consent, relative)
                })?;
            let site = Site {
                allowed_origins: collect.allowed_origins,
                consent: policy,
                identified_retention_months: retention
                    .remove(&id)
                    .unwrap_or_default()
                    .identified_events_months(),
                page: PageRules::compile(&enrich.remove(&id).unwrap_or_default())
                    .map_err(|e| file.invalid(&id, Section::Enrich, &e))?,
                personalization: Personalization::check(
                    personalization.remove(&id).unwrap_or_default(),
                )
                .map_err(|e| file.invalid(&id, Section::Personalization, &e))?,
            };
            check_origins(&site).map_err(|e| file.invalid(&id, Section::Collect, &e))?;
            by_id.insert(id, site);
        }
        Ok(Self::checked(by_id))
    }

    /// Parses a sites file's text (tests).
    ///
    /// # Errors
    /// When the text is malformed or breaks a rule.
    pub fn from_toml(text: &str) -> Result<Self, SitesError> {
        Self::from_file(&SitesFile::parse(text, "(inline)")?)
    }

    /// Validates sites given in code.
    ///
    /// # Errors
    /// When no site is given, or a site id or origin is malformed.
    pub fn new(by_id: BTreeMap<String, Site>) -> Result<Self, SitesError> {
        let error = |key: String, reason: String| SitesError {
            file: "(given in code)".into(),
            key,
            reason,
        };
        if by_id.is_empty() {
            return Err(error("sites".into(), "no site configured".into()));
        }
        for (id, site) in &by_id {
            if !is_valid_site_id(id) {
                return Err(error(
                    format!("sites.{id}"),
                    "a site id is 1-64 of [a-z0-9_-]".into(),
                ));
            }
            check_origins(site).map_err(|e| error(format!("sites.{id}.collect"), e))?;
        }
        Ok(Self::checked(by_id))
    }

    fn checked(by_id: BTreeMap<String, Site>) -> Self {
        let all_origins = by_id
            .values()
            .flat_map(|site| site.allowed_origins.iter().cloned())
            .collect();
        Self { by_id, all_origins }
    }

    /// The site with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Site> {
        self.by_id.get(id)
    }

    /// The site `id` names, with its id as this map holds it (borrowed for
    /// as long as the map, e.g. a metric label of the request).
    #[must_use]
    pub fn entry(&self, id: &str) -> Option<(&str, &Site)> {
        self.by_id
            .get_key_value(id)
            .map(|(id, site)| (id.as_str(), site))
    }

    /// Whether any site allows this origin (CORS preflights name no site).
    #[must_use]
    pub fn any_allows(&self, origin: &str) -> bool {
        self.all_origins.contains(origin)
    }
}

/// `allowed_origins: ...` when an origin is not exactly `scheme://host[:port]`.
fn check_origins(site: &Site) -> Result<(), String> {
    for origin in &site.allowed_origins {
        let parsed =
            url::Url::parse(origin).map_err(|e| format!("allowed_origins: {origin:?}: {e}"))?;
        if parsed.origin().ascii_serialization() != *origin {
            return Err(format!(
                "allowed_origins: {origin:?} must be exactly scheme://host[:port], e.g. {:?}",
                parsed.origin().ascii_serialization()
            ));
        }
    }
    Ok(())
}

impl Site {
    /// Whether pages of `origin` may post events for this site.
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sites, SitesError> {
        Sites::from_toml(text)
    }

    #[test]
    fn a_valid_file_loads() {
        let sites =
            parse("[sites.demo.collect]\nallowed_origins = [\"http://localhost:8000\"]\n").unwrap();
        assert!(sites.get("demo").unwrap().allows("http://localhost:8000"));
        assert!(!sites.get("demo").unwrap().allows("http://localhost:8001"));
        assert!(sites.any_allows("http://localhost:8000"));
        assert!(sites.get("other").is_none());
    }

    #[test]
    fn bad_files_are_refused_naming_the_key_and_the_reason() {
        let site = "[sites.demo.collect]\nallowed_origins = []\n";
        for (text, key, reason) in [
            ("sites = {}".to_owned(), "sites", "no site configured"),
            (
                "[sites.Demo.collect]\nallowed_origins = []".to_owned(),
                "sites.Demo",
                "site id",
            ),
            (
                "[sites.demo.collect]\nallowed_origins = [\"localhost\"]".to_owned(),
                "sites.demo.collect.allowed_origins",
                "relative URL",
            ),
            (
                "[sites.demo.collect]\nallowed_origins = [\"http://a.example/path\"]".to_owned(),
                "sites.demo.collect.allowed_origins",
                "exactly",
            ),
            (
                "[sites.demo.collect]\nallowed_origin = []".to_owned(),
                "sites.demo.collect.allowed_origin",
                "unknown field",
            ),
            (
                "[sites.demo.collect]".to_owned(),
                "sites.demo.collect",
                "missing field `allowed_origins`",
            ),
            (
                format!("{site}[sites.demo.consent]\nmax_age_days = 0"),
                "sites.demo.consent.max_age_days",
                "must be 1-",
            ),
            (
                format!("{site}[sites.demo.consent]\nmax_age_day = 30"),
                "sites.demo.consent.max_age_day",
                "unknown field",
            ),
            (
                format!("{site}[sites.demo.consent]\nhonor_dnt = \"yes\""),
                "sites.demo.consent.honor_dnt",
                "invalid type",
            ),
        ] {
            let error = parse(&text).unwrap_err();
            assert_eq!(error.key, key, "{text:?} → {error}");
            assert!(error.reason.contains(reason), "{text:?} → {error}");
        }
    }

    #[test]
    fn the_repositorys_sites_file_is_valid_for_the_collector() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
        let file = SitesFile::load(std::path::Path::new(path)).unwrap();
        let sites = Sites::from_file(&file).unwrap();
        let demo = sites.get("demo").unwrap();
        assert!(demo.allows("http://localhost:8000"));
        assert_eq!(demo.page.categories.of("/p/shoes/x"), ["shoes"]);
        assert_eq!(demo.personalization.segments.len(), 2);
    }
}
