//! How long each data type is kept: default periods for every site and
//! per-site overrides, read from the environment. Periods are in months,
//! except dead letters' (in days: they are kept for weeks, not years).

use std::collections::BTreeMap;
use std::time::Duration;

use fiducia_runtime::service::config::{ConfigError, env_ms, env_or, env_positive};

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

    fn set(&mut self, name: &str, length: u32) -> bool {
        match name {
            "identified_events" => self.identified_events_months = length,
            "anonymous_events" => self.anonymous_events_months = length,
            "profiles" => self.profiles_months = length,
            "dead_letters" => self.dead_letters_days = length,
            _ => return false,
        }
        true
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
    /// `FIDUCIA_SINK_RETENTION_SITES`: per-site overrides, e.g.
    /// `shop=identified_events:6,profiles:3;blog=anonymous_events:12,dead_letters:7`
    /// (dead letters in days, the rest in months).
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

impl RetentionConfig {
    /// Reads the environment.
    ///
    /// # Errors
    /// On any unusable value, naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
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
        let sites = env_or("FIDUCIA_SINK_RETENTION_SITES", String::new())?;
        Ok(Self {
            interval: env_ms("FIDUCIA_SINK_RETENTION_INTERVAL_MS", d.interval)?,
            sites: parse_sites("FIDUCIA_SINK_RETENTION_SITES", &sites, defaults)?,
            defaults,
        })
    }
}

/// Parses `site=type:length,type:length;site=...` (lengths in each type's
/// unit); unnamed types keep `defaults`.
///
/// # Errors
/// When an entry is malformed, names an unknown type or a period of 0.
pub fn parse_sites(
    var: &str,
    value: &str,
    defaults: Periods,
) -> Result<BTreeMap<String, Periods>, ConfigError> {
    let bad = |why: &str| ConfigError::new(var, value, why);
    let mut sites = BTreeMap::new();
    for entry in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (site, periods) = entry
            .split_once('=')
            .ok_or_else(|| bad("each entry is site=type:length,..."))?;
        let mut site_periods = defaults;
        for period in periods.split(',') {
            let (name, length) = period
                .trim()
                .split_once(':')
                .ok_or_else(|| bad("each period is type:length"))?;
            let length: u32 = length
                .trim()
                .parse()
                .ok()
                .filter(|m| *m > 0)
                .ok_or_else(|| bad("a length must be a positive integer"))?;
            if !site_periods.set(name.trim(), length) {
                return Err(bad(
                    "types are identified_events, anonymous_events, profiles (months) and dead_letters (days)",
                ));
            }
        }
        sites.insert(site.trim().to_owned(), site_periods);
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_overrides_replace_only_the_types_they_name() {
        let sites = parse_sites(
            "V",
            "shop=identified_events:6, profiles:3; blog=anonymous_events:12,dead_letters:7",
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
        assert!(parse_sites("V", "", Periods::default()).unwrap().is_empty());
    }

    #[test]
    fn malformed_overrides_name_the_variable() {
        for bad in [
            "shop",
            "shop=profiles",
            "shop=profiles:0",
            "shop=profiles:x",
            "shop=consent:3",
        ] {
            let error =
                parse_sites("FIDUCIA_SINK_RETENTION_SITES", bad, Periods::default()).unwrap_err();
            assert!(
                error.to_string().contains("FIDUCIA_SINK_RETENTION_SITES"),
                "{bad}: {error}"
            );
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
