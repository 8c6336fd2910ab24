//! The sink's configuration, read once at start-up from the environment and
//! the `retention` and `personalization` sections of the sites file (`FIDUCIA_SITES_FILE`). A bad
//! value stops start-up with an error that names the variable (and the key). Tests
//! build a [`Config`] directly with [`Config::new`] and adjust its fields.

use std::net::SocketAddr;
use std::time::Duration;

use fiducia_runtime::service::config::{
    ConfigError, KafkaConfig, env_ms, env_or, env_positive, env_raw,
};
use fiducia_runtime::service::sites::SitesFile;

use crate::jobs::items::ItemListsConfig;
use crate::jobs::privacy::workflow::Timing;
use crate::jobs::retention::RetentionConfig;

/// Everything the sink needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `FIDUCIA_SINK_ADMIN_ADDR`: `/metrics`, `/healthz`, `/readyz` (port 0 picks one).
    pub admin_addr: SocketAddr,
    /// `FIDUCIA_METRICS_LINGER_MS` ([`fiducia_runtime::service::admin::linger_from_env`]).
    pub metrics_linger: Duration,
    /// Broker and topic names; the sink reads `topics.enriched`,
    /// `topics.consent` and `topics.deadletter`, and writes `topics.deadletter`
    /// and `topics.items` (the item lists, created compacted with the others).
    pub kafka: KafkaConfig,
    /// `FIDUCIA_SINK_GROUP_ID`: the consumer group every sink instance shares.
    pub group_id: String,
    /// How messages are grouped into one insert.
    pub batch: BatchConfig,
    /// `FIDUCIA_SINK_DEAD_LETTERS_TABLE`: also store `topics.deadletter` in
    /// the `dead_letters` table for analysts (without payloads); on by default.
    pub dead_letters_table: bool,
    /// Where the events are stored.
    pub clickhouse: ClickHouseConfig,
    /// How long each data type is kept (defaults from the environment,
    /// per-site periods from the sites file).
    pub retention: RetentionConfig,
    /// How long the erasure workflow waits for the deny-list and for its
    /// deletes to show (defaults, not read from the environment: 60 s and
    /// 10 minutes; a request not through by then is retried).
    pub erasure: Timing,
    /// When the item lists are refreshed, and every site's k and window
    /// (the sites file's `personalization` sections).
    pub items: ItemListsConfig,
}

/// Bounds of one batch (and so of one ClickHouse insert): whichever is hit
/// first closes it. Under light load the wait closes batches; under heavy
/// load the rows do, and large inserts are what ClickHouse digests best:
/// every insert writes a new part per partition, a fixed cost. Draining a
/// topic of 1.6M enriched events into ClickHouse 18.16 on the 2-core
/// development machine (`benches/run`, 2026-11-24T092135Z): 10,000-row
/// batches 177k rows/s (peak RSS 248 MB), 50,000 210k (433 MB), 100,000
/// 219k (667 MB).
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// `FIDUCIA_SINK_BATCH_MAX_ROWS`: messages per batch.
    pub max_rows: usize,
    /// `FIDUCIA_SINK_BATCH_MAX_BYTES`: payload bytes per batch.
    pub max_bytes: usize,
    /// `FIDUCIA_SINK_BATCH_MAX_WAIT_MS`: time from a batch's first message to its insert.
    pub max_wait: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_wait: Duration::from_millis(500),
        }
    }
}

/// The ClickHouse server and database.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// `FIDUCIA_CLICKHOUSE_URL`: the HTTP interface, e.g. `http://127.0.0.1:18123`.
    pub url: String,
    /// `FIDUCIA_CLICKHOUSE_DATABASE`: created at start-up if missing; letters,
    /// digits and `_` only.
    pub database: String,
    /// `FIDUCIA_CLICKHOUSE_USER`
    pub user: String,
    /// `FIDUCIA_CLICKHOUSE_PASSWORD` (never logged).
    pub password: String,
    /// `FIDUCIA_CLICKHOUSE_INSERT_TIMEOUT_MS`: how long one insert may take
    /// before it counts as failed and the batch is retried.
    pub insert_timeout: Duration,
    /// `FIDUCIA_CLICKHOUSE_COMPRESSION`: `lz4` compresses inserts (worth it
    /// when bandwidth to ClickHouse is scarce), `none` (the default) does not.
    pub compress: bool,
    /// `FIDUCIA_SINK_CLICKHOUSE_CLUSTER`: the cluster (as the servers'
    /// `remote_servers` name it) the tables span, in cluster mode
    /// (`sink/src/schema/cluster.rs`); unset or empty: a single server.
    /// Chosen before the first start (deploy/OPERATIONS.md).
    pub cluster: Option<String>,
}

impl std::fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("insert_timeout", &self.insert_timeout)
            .field("compress", &self.compress)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:18123".into(),
            database: "fiducia".into(),
            user: "default".into(),
            password: String::new(),
            insert_timeout: Duration::from_secs(30),
            compress: false,
            cluster: None,
        }
    }
}

impl Config {
    /// The defaults around a broker and a ClickHouse server: what tests start from.
    #[must_use]
    pub fn new(kafka: KafkaConfig, clickhouse: ClickHouseConfig) -> Self {
        Self {
            admin_addr: ([127, 0, 0, 1], 18083).into(),
            metrics_linger: Duration::ZERO,
            kafka,
            group_id: "fiducia-sink".into(),
            batch: BatchConfig::default(),
            dead_letters_table: true,
            clickhouse,
            retention: RetentionConfig::default(),
            erasure: Timing::default(),
            items: ItemListsConfig::default(),
        }
    }

    /// Reads the environment (and the sites file it names).
    ///
    /// # Errors
    /// On any unusable value, naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let sites = SitesFile::from_env()?;
        let d = Self::new(KafkaConfig::from_env()?, ClickHouseConfig::default());
        let batch = BatchConfig {
            max_rows: env_positive("FIDUCIA_SINK_BATCH_MAX_ROWS", d.batch.max_rows)?,
            max_bytes: env_positive("FIDUCIA_SINK_BATCH_MAX_BYTES", d.batch.max_bytes)?,
            max_wait: env_ms("FIDUCIA_SINK_BATCH_MAX_WAIT_MS", d.batch.max_wait)?,
        };
        let c = &d.clickhouse;
        let clickhouse = ClickHouseConfig {
            url: env_or("FIDUCIA_CLICKHOUSE_URL", c.url.clone())?,
            database: database_name(
                "FIDUCIA_CLICKHOUSE_DATABASE",
                env_or("FIDUCIA_CLICKHOUSE_DATABASE", c.database.clone())?,
            )?,
            user: env_or("FIDUCIA_CLICKHOUSE_USER", c.user.clone())?,
            password: password("FIDUCIA_CLICKHOUSE_PASSWORD")?,
            insert_timeout: env_ms("FIDUCIA_CLICKHOUSE_INSERT_TIMEOUT_MS", c.insert_timeout)?,
            compress: compression("FIDUCIA_CLICKHOUSE_COMPRESSION")?,
            cluster: cluster("FIDUCIA_SINK_CLICKHOUSE_CLUSTER")?,
        };
        if !(clickhouse.url.starts_with("http://") || clickhouse.url.starts_with("https://")) {
            return Err(ConfigError::new(
                "FIDUCIA_CLICKHOUSE_URL",
                clickhouse.url,
                "must be the HTTP interface, http://host:port",
            ));
        }
        Ok(Self {
            admin_addr: env_or("FIDUCIA_SINK_ADMIN_ADDR", d.admin_addr)?,
            metrics_linger: fiducia_runtime::service::admin::linger_from_env()?,
            group_id: env_or("FIDUCIA_SINK_GROUP_ID", d.group_id)?,
            batch,
            dead_letters_table: env_or("FIDUCIA_SINK_DEAD_LETTERS_TABLE", d.dead_letters_table)?,
            clickhouse,
            retention: RetentionConfig::from_env(&sites)?,
            items: ItemListsConfig::from_env(&sites)?,
            erasure: d.erasure,
            kafka: d.kafka,
        })
    }
}

/// `value` if it is usable as an unquoted ClickHouse database name.
///
/// # Errors
/// When it is empty or holds anything but ASCII letters, digits and `_`.
pub fn database_name(var: &str, value: String) -> Result<String, ConfigError> {
    let valid = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(value)
    } else {
        Err(ConfigError::new(
            var,
            value,
            "must be ASCII letters, digits and '_', not starting with a digit",
        ))
    }
}

/// A cluster name (an identifier like a database name), or `None` when
/// unset or empty.
fn cluster(var: &str) -> Result<Option<String>, ConfigError> {
    match env_or(var, String::new())? {
        name if name.is_empty() => Ok(None),
        name => database_name(var, name).map(Some),
    }
}

/// `lz4` or `none` (the default).
fn compression(var: &str) -> Result<bool, ConfigError> {
    match env_or(var, String::from("none"))?.as_str() {
        "none" => Ok(false),
        "lz4" => Ok(true),
        other => Err(ConfigError::new(var, other, "must be lz4 or none")),
    }
}

/// A password is taken as it is: not trimmed, not parsed.
fn password(var: &str) -> Result<String, ConfigError> {
    Ok(env_raw(var)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reference_lists_every_key_and_variable_of_the_sink() {
        use fiducia_testkit::config_doc::{assert_env_documented, assert_section_documented};
        assert_section_documented::<crate::jobs::retention::RetentionSection>("retention");
        assert_section_documented::<
            fiducia_runtime::service::sites::personalization::PersonalizationSection,
        >("personalization");
        assert_env_documented("sink/src", "### Sink");
    }

    #[test]
    fn database_names_are_plain_identifiers() {
        for good in ["fiducia", "fiducia_test_0193", "_x"] {
            assert!(database_name("V", good.into()).is_ok(), "{good}");
        }
        for bad in ["", "1db", "a-b", "a.b", "db`; DROP", "ü"] {
            assert!(database_name("V", bad.into()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_reaches_debug_output() {
        let config = ClickHouseConfig {
            password: "hunter2".into(),
            ..ClickHouseConfig::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let batch = BatchConfig::default();
        assert_eq!(batch.max_rows, 100_000);
        assert_eq!(batch.max_bytes, 64 * 1024 * 1024);
        assert_eq!(batch.max_wait, Duration::from_millis(500));
        let clickhouse = ClickHouseConfig::default();
        assert_eq!(clickhouse.url, "http://127.0.0.1:18123");
        assert_eq!(clickhouse.database, "fiducia");
        assert_eq!(clickhouse.user, "default");
        assert!(clickhouse.password.is_empty());
    }
}
