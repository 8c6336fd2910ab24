//! The sites a collector accepts events for, from a TOML file:
//!
//! ```toml
//! [sites.demo]
//! allowed_origins = ["https://shop.example", "http://localhost:8000"]
//! [sites.demo.consent]   # optional; see `consent::policy` for every key
//! max_age_days = 395
//! ```
//!
//! A request for a site not listed here is refused (`403 unknown_site`), and
//! a browser request from an origin the site does not list is refused
//! (`403 origin_not_allowed`).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::consent::policy::{Policy, PolicyFile};

/// One site's settings.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Origins (`scheme://host[:port]`) whose pages may post events.
    pub allowed_origins: Vec<String>,
    /// Consent rules, ages, notices.
    pub consent: Policy,
}

/// One site as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    allowed_origins: Vec<String>,
    #[serde(default)]
    consent: PolicyFile,
}

/// All configured sites, by site id.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    by_id: BTreeMap<String, Site>,
    all_origins: HashSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    sites: BTreeMap<String, SiteFile>,
}

/// A sites file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SitesError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// The file is not valid TOML of the expected shape.
    #[error("invalid: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value breaks a rule.
    #[error("{0}")]
    Invalid(String),
}

impl Sites {
    /// Loads and validates a sites file.
    ///
    /// # Errors
    /// When the file is missing, malformed, lists no site, or has a bad site id or origin.
    pub fn load(path: &Path) -> Result<Self, SitesError> {
        Self::from_toml(&std::fs::read_to_string(path)?)
    }

    /// Parses and validates the text of a sites file.
    ///
    /// # Errors
    /// When the text is malformed or breaks a rule.
    pub fn from_toml(text: &str) -> Result<Self, SitesError> {
        let file: SitesFile = toml::from_str(text)?;
        let mut by_id = BTreeMap::new();
        for (id, site) in file.sites {
            let consent = Policy::from_file(site.consent)
                .map_err(|e| SitesError::Invalid(format!("site {id}: {e}")))?;
            by_id.insert(
                id,
                Site {
                    allowed_origins: site.allowed_origins,
                    consent,
                },
            );
        }
        Self::new(by_id)
    }

    /// Validates sites given in code.
    ///
    /// # Errors
    /// When no site is given, or a site id or origin is malformed.
    pub fn new(by_id: BTreeMap<String, Site>) -> Result<Self, SitesError> {
        if by_id.is_empty() {
            return Err(SitesError::Invalid("no site configured".into()));
        }
        let mut all_origins = HashSet::new();
        for (id, site) in &by_id {
            if !is_valid_site_id(id) {
                return Err(SitesError::Invalid(format!(
                    "site id {id:?}: use 1-64 of [a-z0-9_-]"
                )));
            }
            for origin in &site.allowed_origins {
                let parsed = url::Url::parse(origin).map_err(|e| {
                    SitesError::Invalid(format!("site {id}: origin {origin:?}: {e}"))
                })?;
                if parsed.origin().ascii_serialization() != *origin {
                    return Err(SitesError::Invalid(format!(
                        "site {id}: origin {origin:?} must be exactly scheme://host[:port], e.g. {:?}",
                        parsed.origin().ascii_serialization()
                    )));
                }
                all_origins.insert(origin.clone());
            }
        }
        Ok(Self { by_id, all_origins })
    }

    /// The site with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Site> {
        self.by_id.get(id)
    }

    /// Whether any site allows this origin (CORS preflights name no site).
    #[must_use]
    pub fn any_allows(&self, origin: &str) -> bool {
        self.all_origins.contains(origin)
    }
}

impl Site {
    /// Whether pages of `origin` may post events for this site.
    #[must_use]
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// Site ids are short and tame: they end up in Kafka keys, headers and metrics.
#[must_use]
pub fn is_valid_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sites, SitesError> {
        Sites::from_toml(text)
    }

    #[test]
    fn a_valid_file_loads() {
        let sites = parse("[sites.demo]\nallowed_origins = [\"http://localhost:8000\"]\n").unwrap();
        assert!(sites.get("demo").unwrap().allows("http://localhost:8000"));
        assert!(!sites.get("demo").unwrap().allows("http://localhost:8001"));
        assert!(sites.any_allows("http://localhost:8000"));
        assert!(sites.get("other").is_none());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for (text, expected) in [
            ("sites = {}", "no site configured"),
            ("[sites.Demo]\nallowed_origins = []", "site id"),
            ("[sites.demo]\nallowed_origins = [\"localhost\"]", "origin"),
            (
                "[sites.demo]\nallowed_origins = [\"http://a.example/path\"]",
                "exactly",
            ),
            ("[sites.demo]\nallowed_origin = []", "unknown field"),
            (
                "[sites.demo]\nallowed_origins = []\n[sites.demo.consent]\nmax_age_days = 0",
                "site demo: consent.max_age_days",
            ),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?} → {error}");
        }
    }
}
