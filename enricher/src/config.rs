//! The enricher's configuration, from environment variables and the
//! `enrich` sections of the sites file (`FIDUCIA_SITES_FILE`), validated at
//! start-up with errors that name the variable (and the key in the file).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fiducia_runtime::kafka::group_lag;
use fiducia_runtime::service::config::{
    ConfigError, KafkaConfig, env_ms, env_opt, env_or, env_positive,
};
use fiducia_runtime::service::sites::SitesFile;

use crate::sites::Sites;

/// Default size of the geo and user-agent caches.
const CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// Everything the enricher needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `FIDUCIA_ENRICHER_ADMIN_ADDR`: `/metrics`, `/healthz`, `/readyz`.
    pub admin_addr: SocketAddr,
    /// `FIDUCIA_METRICS_LINGER_MS` ([`fiducia_runtime::service::admin::linger_from_env`]).
    pub metrics_linger: Duration,
    /// Broker and topics (`FIDUCIA_TOPIC_SESSIONS` names the session state topic).
    pub kafka: KafkaConfig,
    /// `FIDUCIA_ENRICHER_GROUP_ID`: consumer group shared by all enrichers.
    pub group_id: String,
    /// `FIDUCIA_ENRICHER_DOWNSTREAM_GROUP`: the sink's consumer group, whose
    /// lag on the enriched topic the enricher reports so it shows while the
    /// sink is down; `off`: not watched.
    pub downstream_group: Option<String>,
    /// `FIDUCIA_ENRICHER_BATCH_MAX_MESSAGES`: messages per batch at most.
    pub batch_max_messages: usize,
    /// `FIDUCIA_ENRICHER_BATCH_MAX_WAIT_MS`: how long a batch may wait to fill.
    pub batch_max_wait: Duration,
    /// `FIDUCIA_SITES_FILE`: per-site rules (see [`crate::sites`]), and
    /// `FIDUCIA_ENRICHER_UNKNOWN_SITES` (`enrich`, the default, or
    /// `dead_letter`): what happens to events of sites the file does not list.
    pub sites: Sites,
    /// `FIDUCIA_ENRICHER_GEOIP_DB`: MaxMind-format `.mmdb` files,
    /// comma-separated, in the order lookups try them (e.g. the IPv4 and the
    /// IPv6 file of an ip-location-db package); unset or empty, country,
    /// region and city stay empty.
    pub geoip_dbs: Vec<PathBuf>,
    /// `FIDUCIA_ENRICHER_GEO_CACHE_ENTRIES`: networks whose place is cached.
    pub geo_cache_entries: NonZeroUsize,
    /// `FIDUCIA_ENRICHER_AGENT_CACHE_ENTRIES`: user agents whose parse is cached.
    pub agent_cache_entries: NonZeroUsize,
    /// `FIDUCIA_ENRICHER_SESSION_MAX_ENTRIES`: visitors whose session state is
    /// held in memory at most (about 300 bytes each).
    pub session_max_entries: usize,
    /// `FIDUCIA_ENRICHER_SESSION_RESTORE_TIMEOUT_MS`: longest read-back of a
    /// partition's session state before the batch is retried.
    pub session_restore_timeout: Duration,
}

impl Config {
    /// The defaults with `kafka`: what tests start from.
    #[must_use]
    pub fn new(kafka: KafkaConfig) -> Self {
        Self {
            admin_addr: ([127, 0, 0, 1], 18082).into(),
            metrics_linger: Duration::ZERO,
            kafka,
            group_id: "fiducia-enricher".to_owned(),
            downstream_group: Some("fiducia-sink".to_owned()),
            batch_max_messages: 2000,
            batch_max_wait: Duration::from_millis(50),
            sites: Sites::default(),
            geoip_dbs: Vec::new(),
            geo_cache_entries: CACHE_ENTRIES,
            agent_cache_entries: CACHE_ENTRIES,
            session_max_entries: 500_000,
            session_restore_timeout: Duration::from_secs(30),
        }
    }

    /// Reads the environment (and the sites file it names).
    ///
    /// # Errors
    /// On any unusable value, naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::new(KafkaConfig::from_env()?);
        let file = SitesFile::from_env()?;
        let mut sites = Sites::from_file(&file)?;
        sites.unknown_sites = env_or("FIDUCIA_ENRICHER_UNKNOWN_SITES", d.sites.unknown_sites)?;
        let geoip_dbs = geoip_dbs()?;
        let entries = |var: &str, default: NonZeroUsize| env_or(var, default);
        Ok(Self {
            admin_addr: env_or("FIDUCIA_ENRICHER_ADMIN_ADDR", d.admin_addr)?,
            metrics_linger: fiducia_runtime::service::admin::linger_from_env()?,
            group_id: env_or("FIDUCIA_ENRICHER_GROUP_ID", d.group_id)?,
            downstream_group: group_lag::group_from_env(
                "FIDUCIA_ENRICHER_DOWNSTREAM_GROUP",
                "fiducia-sink",
            )?,
            batch_max_messages: env_positive(
                "FIDUCIA_ENRICHER_BATCH_MAX_MESSAGES",
                d.batch_max_messages,
            )?,
            batch_max_wait: env_ms("FIDUCIA_ENRICHER_BATCH_MAX_WAIT_MS", d.batch_max_wait)?,
            sites,
            geoip_dbs,
            geo_cache_entries: entries("FIDUCIA_ENRICHER_GEO_CACHE_ENTRIES", d.geo_cache_entries)?,
            agent_cache_entries: entries(
                "FIDUCIA_ENRICHER_AGENT_CACHE_ENTRIES",
                d.agent_cache_entries,
            )?,
            session_max_entries: env_positive(
                "FIDUCIA_ENRICHER_SESSION_MAX_ENTRIES",
                d.session_max_entries,
            )?,
            session_restore_timeout: env_ms(
                "FIDUCIA_ENRICHER_SESSION_RESTORE_TIMEOUT_MS",
                d.session_restore_timeout,
            )?,
            kafka: d.kafka,
        })
    }
}

/// `FIDUCIA_ENRICHER_GEOIP_DB`: comma-separated files, each of which must exist.
fn geoip_dbs() -> Result<Vec<PathBuf>, ConfigError> {
    env_opt::<String>(GEOIP_DB_VAR)?.map_or_else(|| Ok(Vec::new()), |value| geoip_dbs_in(&value))
}

const GEOIP_DB_VAR: &str = "FIDUCIA_ENRICHER_GEOIP_DB";

/// The files `value` lists, separated by commas (blanks around them and
/// empty entries ignored).
fn geoip_dbs_in(value: &str) -> Result<Vec<PathBuf>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .map(|path| {
            if Path::new(path).is_file() {
                Ok(PathBuf::from(path))
            } else {
                Err(ConfigError::new(
                    GEOIP_DB_VAR,
                    value,
                    format!("no such file: {path}"),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use fiducia_testkit::config_doc::{assert_env_documented, assert_section_documented};

    use super::*;
    use crate::sites::EnrichSection;

    #[test]
    fn the_geo_database_variable_lists_files_separated_by_commas() {
        let (v4, v6) = (
            tempfile::NamedTempFile::new().unwrap(),
            tempfile::NamedTempFile::new().unwrap(),
        );
        let (v4, v6) = (v4.path(), v6.path());
        let listed = format!("{}, {},", v4.display(), v6.display());
        assert_eq!(geoip_dbs_in(&listed).unwrap(), [v4, v6]);
        assert_eq!(geoip_dbs_in(" ").unwrap(), Vec::<PathBuf>::new());
        let error = geoip_dbs_in(&format!("{},/no/such.mmdb", v4.display()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("FIDUCIA_ENRICHER_GEOIP_DB=")
                && error.contains("no such file: /no/such.mmdb"),
            "{error}"
        );
    }

    #[test]
    fn the_configuration_reference_lists_every_key_and_variable_of_the_enricher() {
        assert_section_documented::<EnrichSection>("enrich");
        assert_env_documented("enricher/src", "### Enricher");
    }
}
