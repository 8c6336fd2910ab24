//! The sites file: every site of the pipeline, configured once, for every
//! service. One TOML file, named by `FIDUCIA_SITES_FILE` in every service
//! (`deploy/sites.toml` is the local stack's), one table per site and one
//! sub-table per concern:
//!
//! ```toml
//! [sites.demo.collect]        # collector: who may send (required)
//! allowed_origins = ["http://localhost:8000"]
//! [sites.demo.consent]        # collector: consent rules, ages, notices
//! max_age_days = 395
//! [sites.demo.enrich]         # enricher: time zone, scrubbing, geo, categories
//! time_zone = "Europe/Rome"
//! [sites.demo.retention]      # sink: how long each data type is kept
//! identified_events_months = 6
//! ```
//!
//! This module reads the file, checks the site ids and section names, and
//! hands each service its sections, strictly typed: the section types live
//! in the service that reads them and deny unknown keys. Every problem stops
//! start-up with a [`SitesError`] naming the file, the key path
//! (`sites.shop.enrich.time_zon`) and the reason.
//!
//! What a missing section means is decided here, once, for every service:
//! `collect` is required of every site (a site's origins have no safe
//! default), so every service sees the same sites and refuses a file whose
//! site lacks it: no service knows a site another does not. Every other
//! section is optional, and leaving it out means exactly what writing it
//! empty means: each key takes its documented default
//! (`deploy/CONFIGURATION.md`). The name `privacy`
//! is reserved for a section to come; any other name is an error. The
//! file's shape (ids, section names, required sections) is checked by every
//! service alike; the keys of a section by the service that reads it.

pub mod category;
pub mod items;
pub mod personalization;
pub mod retention;

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::config::{ConfigError, env_opt, refuse_removed};

/// The one variable every service reads the sites file's path from.
pub const SITES_FILE_VAR: &str = "FIDUCIA_SITES_FILE";

/// The sections a site may have, each read by one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The collector's: origins allowed to post events.
    Collect,
    /// The collector's: consent rules, grant ages, notices.
    Consent,
    /// The enricher's: time zone, event types, bots, scrubbing, geo, categories.
    Enrich,
    /// The sink's: how long each data type is kept.
    Retention,
    /// The collector's and the sink's: segments, the k threshold of item
    /// lists ([`personalization`]).
    Personalization,
}

impl Section {
    /// Every section, in the file's order.
    pub const ALL: [Self; 5] = [
        Self::Collect,
        Self::Consent,
        Self::Enrich,
        Self::Retention,
        Self::Personalization,
    ];

    /// Names kept for sections to come (privacy requests): refused today,
    /// so a file written for a later release fails loudly.
    pub const RESERVED: [&str; 1] = ["privacy"];

    /// The section's name in the file.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Collect => "collect",
            Self::Consent => "consent",
            Self::Enrich => "enrich",
            Self::Retention => "retention",
            Self::Personalization => "personalization",
        }
    }

    /// The service that reads it.
    #[must_use]
    pub const fn service(self) -> &'static str {
        match self {
            Self::Collect | Self::Consent => "collector",
            Self::Enrich => "enricher",
            Self::Retention => "sink",
            Self::Personalization => "collector and sink",
        }
    }

    /// Whether every site must have it; an optional section left out is
    /// read as an empty one (every key at its default).
    #[must_use]
    pub const fn required(self) -> bool {
        matches!(self, Self::Collect)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A sites file that cannot be used: which file, which key, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sites file {file}: {key}: {reason}")]
pub struct SitesError {
    /// The file's path as given.
    pub file: String,
    /// The key path, e.g. `sites.shop.enrich.time_zone` (`sites` for the whole file).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// A sites file error as a configuration error of `FIDUCIA_SITES_FILE`:
/// `FIDUCIA_SITES_FILE="deploy/sites.toml": sites.shop.enrich.time_zon: unknown field ...`.
impl From<SitesError> for ConfigError {
    fn from(e: SitesError) -> Self {
        Self::new(SITES_FILE_VAR, e.file, format!("{}: {}", e.key, e.reason))
    }
}

/// A parsed sites file whose site ids and section names are checked; each
/// service takes its sections with [`SitesFile::section`].
#[derive(Debug, Clone)]
pub struct SitesFile {
    file: String,
    sites: BTreeMap<String, toml::Table>,
}

impl SitesFile {
    /// Reads the file `FIDUCIA_SITES_FILE` names (required), after refusing
    /// the variables this file replaced ([`super::config::REMOVED`]).
    ///
    /// # Errors
    /// When a removed variable is set, the variable is unset or the file
    /// cannot be used; the message names the variable, the file, the key
    /// and the reason.
    pub fn from_env() -> Result<Self, ConfigError> {
        refuse_removed()?;
        let path: std::path::PathBuf = env_opt(SITES_FILE_VAR)?.ok_or_else(|| {
            ConfigError::new(
                SITES_FILE_VAR,
                "",
                "required: the TOML file that configures every site (e.g. deploy/sites.toml)",
            )
        })?;
        Ok(Self::load(&path)?)
    }

    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or breaks a rule of [`SitesFile::parse`].
    pub fn load(path: &Path) -> Result<Self, SitesError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SitesError {
            file: file.clone(),
            key: "sites".into(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks the text of a sites file called `file` (for errors):
    /// TOML with only `[sites.<id>.<section>]` tables, at least one site,
    /// site ids of 1-64 of `[a-z0-9_-]`, known section names, and every
    /// required section present. The sections' keys are checked when a
    /// service takes them.
    ///
    /// # Errors
    /// On the first rule broken, naming the key.
    pub fn parse(text: &str, file: &str) -> Result<Self, SitesError> {
        let error = |key: &str, reason: String| SitesError {
            file: file.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let mut root: toml::Table = toml::from_str(text).map_err(|e| {
            error(
                "sites",
                format!("not valid TOML: {}", e.message().trim_end()) + &line_of(text, &e),
            )
        })?;
        let sites = root.remove("sites");
        if let Some(key) = root.keys().next() {
            return Err(error(
                key,
                "unknown top-level key: the file holds only [sites.<id>.<section>] tables".into(),
            ));
        }
        let Some(toml::Value::Table(sites)) = sites else {
            return Err(error(
                "sites",
                "no site configured: add a [sites.<id>.collect] table".into(),
            ));
        };
        if sites.is_empty() {
            return Err(error(
                "sites",
                "no site configured: add a [sites.<id>.collect] table".into(),
            ));
        }
        let mut checked = BTreeMap::new();
        for (id, site) in sites {
            let key = format!("sites.{id}");
            if !is_valid_site_id(&id) {
                return Err(error(&key, "a site id is 1-64 of [a-z0-9_-]".into()));
            }
            let toml::Value::Table(site) = site else {
                return Err(error(&key, "must be a table of sections".into()));
            };
            for (name, value) in &site {
                let key = format!("{key}.{name}");
                if Section::RESERVED.contains(&name.as_str()) {
                    return Err(error(
                        &key,
                        "a section name reserved for a later release; no service reads it yet"
                            .into(),
                    ));
                }
                if Section::from_name(name).is_none() {
                    return Err(error(&key, format!("unknown section; {}", sections_list())));
                }
                if !value.is_table() {
                    return Err(error(&key, "a section must be a table".into()));
                }
            }
            if let Some(missing) = Section::ALL
                .into_iter()
                .find(|s| s.required() && !site.contains_key(s.name()))
            {
                return Err(error(
                    &format!("{key}.{}", missing.name()),
                    format!(
                        "missing: every site needs a [{key}.{}] section (the {}'s)",
                        missing.name(),
                        missing.service()
                    ),
                ));
            }
            checked.insert(id, site);
        }
        Ok(Self {
            file: file.to_owned(),
            sites: checked,
        })
    }

    /// The file's path as given.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The ids of every site, in order.
    pub fn site_ids(&self) -> impl Iterator<Item = &str> {
        self.sites.keys().map(String::as_str)
    }

    /// `section` of every site as `T`, by site id. A site without an
    /// optional section gets `T` read from an empty table (its defaults).
    ///
    /// # Errors
    /// On a key `T` does not know or a value of the wrong type, naming the
    /// key path.
    pub fn section<T: DeserializeOwned>(
        &self,
        section: Section,
    ) -> Result<BTreeMap<String, T>, SitesError> {
        let mut by_site = BTreeMap::new();
        for (id, site) in &self.sites {
            let table = site
                .get(section.name())
                .cloned()
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
            let value = serde_path_to_error::deserialize(table).map_err(|e| {
                let path = e.path().to_string();
                let key = if path == "." {
                    format!("sites.{id}.{}", section.name())
                } else {
                    format!("sites.{id}.{}.{path}", section.name())
                };
                self.error(key, e.into_inner().message().to_owned())
            })?;
            by_site.insert(id.clone(), value);
        }
        Ok(by_site)
    }

    /// An error about a value of `site`'s `section` that parsed but is not
    /// usable. `message` is `key: reason`, the key relative to the section
    /// (`time_zone: unknown time zone`); without `": "` it is all reason.
    #[must_use]
    pub fn invalid(&self, site: &str, section: Section, message: &str) -> SitesError {
        let base = format!("sites.{site}.{}", section.name());
        match message.split_once(": ") {
            Some((key, reason)) if !key.contains(' ') => {
                self.error(format!("{base}.{key}"), reason.to_owned())
            }
            _ => self.error(base, message.to_owned()),
        }
    }

    fn error(&self, key: String, reason: String) -> SitesError {
        SitesError {
            file: self.file.clone(),
            key,
            reason,
        }
    }
}

/// Site ids are short and tame: they end up in Kafka keys, headers, metrics
/// and table rows.
#[must_use]
pub fn is_valid_site_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn sections_list() -> String {
    let names: Vec<_> = Section::ALL
        .iter()
        .map(|s| format!("{} ({})", s.name(), s.service()))
        .collect();
    format!(
        "a site has the sections {} (reserved: {})",
        names.join(", "),
        Section::RESERVED.join(", ")
    )
}

/// ` (line N)` for a TOML syntax error with a position.
fn line_of(text: &str, error: &toml::de::Error) -> String {
    error.span().map_or_else(String::new, |span| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!(" (line {line})")
    })
}

#[cfg(test)]
mod tests;
