//! How long each data type is kept: default periods for every site from the
//! environment, and per-site overrides from the `retention` sections of the
//! sites file (`FIDUCIA_SITES_FILE`). Periods are in months, except dead
//! letters' (in days: they are kept for weeks, not years).

use std::collections::BTreeMap;
use std::time::Duration;

use fiducia_runtime::service::config::{ConfigError, env_ms, env_positive};
use fiducia_runtime::service::sites::{Section, SitesError, SitesFile};
use schemars::JsonSchema;
use serde::Deserialize;

use super::DataType;

/// Retention periods by data type, each in its type's [`DataType::unit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// Events with a visitor or user id.
    pub identified_events_months: u32,
    /// Events without.
    pub anonymous_events_months: u32,
    /// Profile signals, counted from the event they come from.
    pub profiles_months: u32,
    /// Dead letters, counted from when the stage gave up.
    pub dead_letters_days: u32,
}

impl Default for Periods {
    fn default() -> Self {
        Self {
            identified_events_months: 13,
            anonymous_events_months: 25,
            profiles_months: 13,
            dead_letters_days: 30,
        }
    }
}

impl Periods {
    /// The period of `data_type`, in its unit.
    #[must_use]
    pub fn length(&self, data_type: DataType) -> u32 {
        match data_type {
            DataType::IdentifiedEvents => self.identified_events_months,
            DataType::AnonymousEvents => self.anonymous_events_months,
            DataType::Profiles => self.profiles_months,
            DataType::DeadLetters => self.dead_letters_days,
        }
    }
}

/// When and how long data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `FIDUCIA_SINK_RETENTION_INTERVAL_MS`: time between two runs (the first runs at start-up).
    pub interval: Duration,
    /// `FIDUCIA_SINK_RETENTION_{IDENTIFIED_EVENTS,ANONYMOUS_EVENTS,PROFILES}_MONTHS`
    /// and `FIDUCIA_SINK_RETENTION_DEAD_LETTERS_DAYS`: periods of every site
    /// without an override.
    pub defaults: Periods,
    /// Per-site periods, from the sites file's `retention` sections: only
    /// sites whose periods differ from `defaults`.
    pub sites: BTreeMap<String, Periods>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            defaults: Periods::default(),
            sites: BTreeMap::new(),
        }
    }
}

/// A site's `retention` section as written: each period left out is the
/// default of every site (`FIDUCIA_SINK_RETENTION_*`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// Months events with a visitor or user id are kept.
    identified_events_months: Option<u32>,
    /// Months events without are kept.
    anonymous_events_months: Option<u32>,
    /// Months profile signals are kept, from the event they come from.
    profiles_months: Option<u32>,
    /// Days dead letters are kept, from when the stage gave up.
    dead_letters_days: Option<u32>,
}

impl RetentionConfig {
    /// Reads the environment (the defaults) and the sites file (the overrides).
    ///
    /// # Errors
    /// On any unusable value, naming the variable, or the key of the sites file.
    pub fn from_env(file: &SitesFile) -> Result<Self, ConfigError> {
        let d = Self::default();
        let defaults = Periods {
            identified_events_months: env_positive(
                "FIDUCIA_SINK_RETENTION_IDENTIFIED_EVENTS_MONTHS",
                d.defaults.identified_events_months,
            )?,
            anonymous_events_months: env_positive(
                "FIDUCIA_SINK_RETENTION_ANONYMOUS_EVENTS_MONTHS",
                d.defaults.anonymous_events_months,
            )?,
            profiles_months: env_positive(
                "FIDUCIA_SINK_RETENTION_PROFILES_MONTHS",
                d.defaults.profiles_months,
            )?,
            dead_letters_days: env_positive(
                "FIDUCIA_SINK_RETENTION_DEAD_LETTERS_DAYS",
                d.defaults.dead_letters_days,
            )?,
        };
        let sites = site_periods(file, defaults)?;
        Ok(Self {
            interval: env_ms("FIDUCIA_SINK_RETENTION_INTERVAL_MS", d.interval)?,
            sites,
            defaults,
        })
    }
}

/// The periods of every site whose `retention` section changes one of
/// `defaults`; unnamed types keep `defaults`.
///
/// # Errors
/// On an unknown key, a value that is not a positive integer, naming its path.
pub fn site_periods(
    file: &SitesFile,
    defaults: Periods,
) -> Result<BTreeMap<String, Periods>, SitesError> {
    let sections: BTreeMap<String, RetentionSection> = file.section(Section::Retention)?;
    let mut sites = BTreeMap::new();
    for (id, section) in sections {
        let pick = |key: &str, value: Option<u32>, default: u32| match value {
            None => Ok(default),
            Some(0) => Err(file.invalid(
                &id,
                Section::Retention,
                &format!("{key}: must be at least 1"),
            )),
            Some(n) => Ok(n),
        };
        let periods = Periods {
            identified_events_months: pick(
                "identified_events_months",
                section.identified_events_months,
                defaults.identified_events_months,
            )?,
            anonymous_events_months: pick(
                "anonymous_events_months",
                section.anonymous_events_months,
                defaults.anonymous_events_months,
            )?,
            profiles_months: pick(
                "profiles_months",
                section.profiles_months,
                defaults.profiles_months,
            )?,
            dead_letters_days: pick(
                "dead_letters_days",
                section.dead_letters_days,
                defaults.dead_letters_days,
            )?,
        };
        if periods != defaults {
            sites.insert(id, periods);
        }
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SitesFile {
        SitesFile::parse(text, "t.toml").unwrap()
    }

    #[test]
    fn site_sections_replace_only_the_periods_they_name() {
        let sites = site_periods(
            &file(
                "[sites.shop.collect]\nallowed_origins = []\n\
                 [sites.shop.retention]\nidentified_events_months = 6\nprofiles_months = 3\n\
                 [sites.blog.collect]\nallowed_origins = []\n\
                 [sites.blog.retention]\nanonymous_events_months = 12\ndead_letters_days = 7\n\
                 [sites.plain.collect]\nallowed_origins = []\n\
                 [sites.same.collect]\nallowed_origins = []\n[sites.same.retention]\nprofiles_months = 13\n",
            ),
            Periods::default(),
        )
        .unwrap();
        assert_eq!(
            sites["shop"],
            Periods {
                identified_events_months: 6,
                anonymous_events_months: 25,
                profiles_months: 3,
                dead_letters_days: 30,
            }
        );
        assert_eq!(sites["blog"].anonymous_events_months, 12);
        assert_eq!(sites["blog"].dead_letters_days, 7);
        assert_eq!(sites["blog"].identified_events_months, 13);
        // No section, or one that repeats the defaults: no override.
        assert_eq!(sites.keys().collect::<Vec<_>>(), ["blog", "shop"]);
    }

    #[test]
    fn the_repositorys_sites_file_is_valid_for_the_sink() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sites.toml");
        let file = SitesFile::load(std::path::Path::new(path)).unwrap();
        // Its demo site repeats the defaults: no override.
        assert!(site_periods(&file, Periods::default()).unwrap().is_empty());
    }

    #[test]
    fn bad_sections_name_the_key_path() {
        for (retention, key, reason) in [
            ("profiles_months = 0", "profiles_months", "at least 1"),
            ("profiles_months = -1", "profiles_months", "invalid value"),
            ("profiles_months = \"x\"", "profiles_months", "invalid type"),
            ("profiles = 3", "profiles", "unknown field"),
            (
                "dead_letters_months = 3",
                "dead_letters_months",
                "unknown field",
            ),
        ] {
            let text = format!(
                "[sites.shop.collect]\nallowed_origins = []\n[sites.shop.retention]\n{retention}\n"
            );
            let error = site_periods(&file(&text), Periods::default()).unwrap_err();
            assert_eq!(error.key, format!("sites.shop.retention.{key}"), "{error}");
            assert!(error.reason.contains(reason), "{error}");
        }
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let d = RetentionConfig::default();
        assert_eq!(d.defaults.length(DataType::IdentifiedEvents), 13);
        assert_eq!(d.defaults.length(DataType::AnonymousEvents), 25);
        assert_eq!(d.defaults.length(DataType::Profiles), 13);
        assert_eq!(d.defaults.length(DataType::DeadLetters), 30);
        assert_eq!(d.interval, Duration::from_secs(3600));
    }
}
