//! When item lists are computed and with which k and window, per site: the
//! interval from the environment, the rest from the `personalization`
//! sections of the sites file (`FIDUCIA_SITES_FILE`).

use std::collections::BTreeMap;
use std::time::Duration;

use fiducia_runtime::service::config::{ConfigError, env_positive};
use fiducia_runtime::service::sites::personalization::{Personalization, PersonalizationSection};
use fiducia_runtime::service::sites::{Section, SitesError, SitesFile};

/// What the item lists job needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemListsConfig {
    /// `FIDUCIA_SINK_ITEM_LISTS_INTERVAL_SECONDS`: time between two
    /// refreshes (the first runs at start-up).
    pub interval: Duration,
    /// Every site's k (`min_visitors`) and window, by site id; a site
    /// without a `personalization` section has the defaults (k = 10, 90 days).
    pub sites: BTreeMap<String, Personalization>,
}

impl Default for ItemListsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(120),
            sites: BTreeMap::new(),
        }
    }
}

impl ItemListsConfig {
    /// Reads the environment (the interval) and the sites file (every site's section).
    ///
    /// # Errors
    /// On an unusable interval, naming the variable, or an unusable
    /// section, naming its key.
    pub fn from_env(file: &SitesFile) -> Result<Self, ConfigError> {
        let seconds = env_positive(
            "FIDUCIA_SINK_ITEM_LISTS_INTERVAL_SECONDS",
            Self::default().interval.as_secs(),
        )?;
        Ok(Self {
            interval: Duration::from_secs(seconds),
            sites: site_personalization(file)?,
        })
    }
}

/// The checked `personalization` section of every site.
///
/// # Errors
/// On an unknown key or a value [`Personalization::check`] refuses, naming its path.
pub fn site_personalization(
    file: &SitesFile,
) -> Result<BTreeMap<String, Personalization>, SitesError> {
    let sections: BTreeMap<String, PersonalizationSection> =
        file.section(Section::Personalization)?;
    sections
        .into_iter()
        .map(|(site, section)| match Personalization::check(section) {
            Ok(checked) => Ok((site, checked)),
            Err(message) => Err(file.invalid(&site, Section::Personalization, &message)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SitesFile {
        SitesFile::parse(text, "sites.toml").unwrap()
    }

    #[test]
    fn every_site_gets_its_k_and_window_or_the_defaults() {
        let sites = site_personalization(&file(
            "[sites.a.collect]\nallowed_origins = []\n\
             [sites.a.personalization]\nmin_visitors = 3\nwindow_days = 7\n\
             [sites.b.collect]\nallowed_origins = []\n",
        ))
        .unwrap();
        assert_eq!((sites["a"].min_visitors, sites["a"].window_days), (3, 7));
        assert_eq!(sites["b"], Personalization::default());
    }

    #[test]
    fn a_k_below_two_is_refused_naming_the_key() {
        let error = site_personalization(&file(
            "[sites.a.collect]\nallowed_origins = []\n\
             [sites.a.personalization]\nmin_visitors = 1\n",
        ))
        .unwrap_err();
        assert_eq!(error.key, "sites.a.personalization.min_visitors");
    }
}
