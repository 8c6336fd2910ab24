//! The collector's configuration: environment variables, plus the
//! `collect` and `consent` sections of the sites file (`FIDUCIA_SITES_FILE`). Read once at start-up; a bad value stops start-up with an
//! error that names the variable.

use std::net::SocketAddr;
use std::time::Duration;

use fiducia_runtime::kafka::group_lag;
use fiducia_runtime::service::config::{
    ConfigError, KafkaConfig, env_ms, env_opt, env_or, env_positive, env_raw,
};
use fiducia_runtime::service::sites::SitesFile;
use ipnet::IpNet;

use crate::privacy::keys::Keys;
use crate::sites::Sites;

/// Everything the collector needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `FIDUCIA_COLLECTOR_LISTEN_ADDR`: the public API (tag, events).
    pub listen_addr: SocketAddr,
    /// `FIDUCIA_COLLECTOR_ADMIN_ADDR`: `/metrics`, `/healthz`, `/readyz`.
    pub admin_addr: SocketAddr,
    /// `FIDUCIA_METRICS_LINGER_MS` ([`fiducia_runtime::service::admin::linger_from_env`]).
    pub metrics_linger: Duration,
    /// `FIDUCIA_COLLECTOR_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: usize,
    /// Broker and topics.
    pub kafka: KafkaConfig,
    /// `FIDUCIA_SITES_FILE`: the sites this collector accepts (`collect`
    /// and `consent` sections).
    pub sites: Sites,
    /// `FIDUCIA_COLLECTOR_TRUSTED_PROXIES`: comma-separated CIDRs whose
    /// `X-Forwarded-For` is believed; from anyone else the socket address counts.
    pub trusted_proxies: Vec<IpNet>,
    /// Request limits.
    pub limits: Limits,
    /// Connection limits and timeouts (slow, idle and too many clients).
    pub connections: Connections,
    /// `FIDUCIA_COLLECTOR_KAFKA_LINGER_MS`: producer batching delay.
    pub kafka_linger: Duration,
    /// `FIDUCIA_COLLECTOR_KAFKA_MESSAGE_TIMEOUT_MS`: how long a request may
    /// wait for the broker's acknowledgement before it is answered `503`.
    pub kafka_message_timeout: Duration,
    /// `FIDUCIA_COLLECTOR_DOWNSTREAM_GROUP`: the enrichers' consumer group,
    /// whose lag on the raw topic the collector reports so it shows while
    /// the enrichers are down; `off`: not watched.
    pub downstream_group: Option<String>,
    /// `FIDUCIA_COLLECTOR_RETRY_AFTER_SECONDS`: the `Retry-After` of `503`s.
    pub retry_after_seconds: u32,
    /// `FIDUCIA_COLLECTOR_SHUTDOWN_TIMEOUT_MS`: how long in-flight requests
    /// may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// The privacy center's keys and tokens.
    pub privacy: Privacy,
    /// Where exports and request states are read from, and admin calls
    /// audited; `None`: those routes answer `503 warehouse_unavailable`.
    pub warehouse: Option<Warehouse>,
    /// `FIDUCIA_COLLECTOR_ADMIN_SECRET`: the bearer secret of the admin API
    /// (`/v1/admin/…`), compared in constant time; unset: the admin API is
    /// off (`404`).
    pub admin_secret: Option<Secret>,
    /// `FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_PATH` and `_INTERVAL_S`: the
    /// consent ledger's snapshot ([`crate::consent::snapshot`]); `None`:
    /// every start replays the whole consent topic.
    pub ledger_snapshot: Option<crate::consent::snapshot::Settings>,
}

/// A secret from the environment: never printed (`Debug` redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The ClickHouse server the collector reads exports and request states
/// from (HTTP interface), and writes the admin audit to.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// `FIDUCIA_COLLECTOR_CLICKHOUSE_URL`, e.g. `http://127.0.0.1:8123`;
    /// unset: no exports, no request states, no admin API.
    pub url: String,
    /// `FIDUCIA_COLLECTOR_CLICKHOUSE_DATABASE`: the sink's database.
    pub database: String,
    /// `FIDUCIA_COLLECTOR_CLICKHOUSE_USER`
    pub user: String,
    /// `FIDUCIA_COLLECTOR_CLICKHOUSE_PASSWORD`
    pub password: Secret,
}

impl Warehouse {
    fn from_env() -> Result<Option<Self>, ConfigError> {
        let var = "FIDUCIA_COLLECTOR_CLICKHOUSE_URL";
        let Some(url) = env_opt::<String>(var)? else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                var,
                url,
                "an http(s):// URL of ClickHouse's HTTP interface",
            ));
        }
        let database = env_or(
            "FIDUCIA_COLLECTOR_CLICKHOUSE_DATABASE",
            "fiducia".to_owned(),
        )?;
        if database.is_empty()
            || !database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ConfigError::new(
                "FIDUCIA_COLLECTOR_CLICKHOUSE_DATABASE",
                database,
                "a database name of [A-Za-z0-9_]",
            ));
        }
        Ok(Some(Self {
            url,
            database,
            user: env_or("FIDUCIA_COLLECTOR_CLICKHOUSE_USER", "default".to_owned())?,
            password: Secret(env_raw("FIDUCIA_COLLECTOR_CLICKHOUSE_PASSWORD")?.unwrap_or_default()),
        }))
    }
}

fn admin_secret() -> Result<Option<Secret>, ConfigError> {
    let var = "FIDUCIA_COLLECTOR_ADMIN_SECRET";
    match env_raw(var)? {
        None => Ok(None),
        Some(secret) if secret.trim().is_empty() => Ok(None),
        // Guessable secrets would make the constant-time compare moot.
        Some(secret) if secret.len() < 16 => Err(ConfigError::new(
            var,
            "<redacted>",
            "at least 16 characters",
        )),
        Some(secret) => Ok(Some(Secret(secret))),
    }
}

/// The privacy center's settings (`collector/README.md`, The privacy center).
#[derive(Debug, Clone)]
pub struct Privacy {
    /// `FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY` (`<kid>:<base64url 32-byte
    /// Ed25519 seed>`, a secret) and `FIDUCIA_COLLECTOR_PRIVACY_PUBLIC_KEYS`
    /// (comma-separated `<kid>:<base64url public key>` of earlier signing
    /// keys, still accepted and published). Without a signing key no
    /// visitor id is issued and the privacy routes answer `503`.
    pub keys: Keys,
    /// `FIDUCIA_COLLECTOR_PRIVACY_TOKEN_TTL_SECONDS`: how long a visitor
    /// token is valid; the tag keeps the visitor id for 390 days.
    pub token_ttl: Duration,
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            keys: Keys::default(),
            token_ttl: Duration::from_secs(395 * 86_400),
        }
    }
}

impl Privacy {
    fn from_env() -> Result<Self, ConfigError> {
        let signing_var = "FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY";
        let public_var = "FIDUCIA_COLLECTOR_PRIVACY_PUBLIC_KEYS";
        let signing = env_raw(signing_var)?;
        let public = env_opt::<String>(public_var)?;
        let mut keys = Keys::parse(signing.as_deref(), None)
            .map_err(|e| ConfigError::new(signing_var, "<redacted>", e))?;
        if let Some(list) = public {
            keys.add_public_list(&list)
                .map_err(|e| ConfigError::new(public_var, list.clone(), e))?;
        }
        let seconds = env_positive(
            "FIDUCIA_COLLECTOR_PRIVACY_TOKEN_TTL_SECONDS",
            Self::default().token_ttl.as_secs(),
        )?;
        Ok(Self {
            keys,
            token_ttl: Duration::from_secs(seconds),
        })
    }
}

/// Bounds on what one request may carry.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `FIDUCIA_COLLECTOR_MAX_BODY_BYTES`: request body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// `FIDUCIA_COLLECTOR_MAX_DECOMPRESSED_BYTES`: a gzip body once inflated.
    pub max_decompressed_bytes: usize,
    /// `FIDUCIA_COLLECTOR_MAX_EVENTS_PER_BATCH`
    pub max_events_per_batch: usize,
    /// `FIDUCIA_COLLECTOR_MAX_PROPS_PER_EVENT`
    pub max_props_per_event: usize,
    /// `FIDUCIA_COLLECTOR_MAX_PROP_BYTES`: one property's key plus JSON value.
    pub max_prop_bytes: usize,
    /// `FIDUCIA_COLLECTOR_BODY_TIMEOUT_MS`: time to receive the whole body.
    pub body_timeout: Duration,
    /// `FIDUCIA_COLLECTOR_RATE_PER_IP_PER_SECOND`: sustained requests per client IP.
    pub rate_per_ip_per_second: u32,
    /// `FIDUCIA_COLLECTOR_RATE_BURST`: requests a client IP may send at once.
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_decompressed_bytes: 512 * 1024,
            max_events_per_batch: 100,
            max_props_per_event: 50,
            max_prop_bytes: 2048,
            body_timeout: Duration::from_secs(10),
            rate_per_ip_per_second: 50,
            rate_burst: 200,
        }
    }
}

/// Bounds on connections, enforced by actix-http before a request reaches
/// a route: how long a client may take to send a request head, how long an
/// idle connection stays open, how many are served at once.
#[derive(Debug, Clone)]
pub struct Connections {
    /// `FIDUCIA_COLLECTOR_CLIENT_REQUEST_TIMEOUT_MS`: time from a
    /// connection's opening to its first request head received; past it
    /// the client gets a bare `408` and the connection is closed
    /// (slowloris).
    pub client_request_timeout: Duration,
    /// `FIDUCIA_COLLECTOR_KEEP_ALIVE_MS`: how long a connection may stay
    /// idle between two requests before it is closed.
    pub keep_alive: Duration,
    /// `FIDUCIA_COLLECTOR_CLIENT_DISCONNECT_TIMEOUT_MS`: how long a
    /// connection the collector is closing may take to shut down cleanly
    /// before it is dropped.
    pub client_disconnect_timeout: Duration,
    /// `FIDUCIA_COLLECTOR_MAX_CONNECTIONS_PER_WORKER`: connections one
    /// worker serves at once; past it the worker stops accepting and new
    /// connections wait in the listen backlog.
    pub max_connections_per_worker: usize,
    /// `FIDUCIA_COLLECTOR_BACKLOG`: connections the kernel queues while
    /// every worker is full.
    pub backlog: u32,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            client_request_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            client_disconnect_timeout: Duration::from_secs(1),
            max_connections_per_worker: 5_000,
            backlog: 2_048,
        }
    }
}

impl Connections {
    fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            client_request_timeout: env_ms(
                "FIDUCIA_COLLECTOR_CLIENT_REQUEST_TIMEOUT_MS",
                d.client_request_timeout,
            )?,
            keep_alive: env_ms("FIDUCIA_COLLECTOR_KEEP_ALIVE_MS", d.keep_alive)?,
            client_disconnect_timeout: env_ms(
                "FIDUCIA_COLLECTOR_CLIENT_DISCONNECT_TIMEOUT_MS",
                d.client_disconnect_timeout,
            )?,
            max_connections_per_worker: env_positive(
                "FIDUCIA_COLLECTOR_MAX_CONNECTIONS_PER_WORKER",
                d.max_connections_per_worker,
            )?,
            backlog: env_positive("FIDUCIA_COLLECTOR_BACKLOG", d.backlog)?,
        })
    }
}

impl Config {
    /// Reads the environment (and the sites file it names).
    ///
    /// # Errors
    /// On any unusable value, naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Limits::default();
        let limits = Limits {
            max_body_bytes: env_positive("FIDUCIA_COLLECTOR_MAX_BODY_BYTES", d.max_body_bytes)?,
            max_decompressed_bytes: env_positive(
                "FIDUCIA_COLLECTOR_MAX_DECOMPRESSED_BYTES",
                d.max_decompressed_bytes,
            )?,
            max_events_per_batch: env_positive(
                "FIDUCIA_COLLECTOR_MAX_EVENTS_PER_BATCH",
                d.max_events_per_batch,
            )?,
            max_props_per_event: env_or(
                "FIDUCIA_COLLECTOR_MAX_PROPS_PER_EVENT",
                d.max_props_per_event,
            )?,
            max_prop_bytes: env_positive("FIDUCIA_COLLECTOR_MAX_PROP_BYTES", d.max_prop_bytes)?,
            body_timeout: env_ms("FIDUCIA_COLLECTOR_BODY_TIMEOUT_MS", d.body_timeout)?,
            rate_per_ip_per_second: env_positive(
                "FIDUCIA_COLLECTOR_RATE_PER_IP_PER_SECOND",
                d.rate_per_ip_per_second,
            )?,
            rate_burst: env_positive("FIDUCIA_COLLECTOR_RATE_BURST", d.rate_burst)?,
        };
        let file = SitesFile::from_env()?;
        let sites = Sites::from_file(&file)?;
        Ok(Self {
            listen_addr: env_or(
                "FIDUCIA_COLLECTOR_LISTEN_ADDR",
                ([127, 0, 0, 1], 8080).into(),
            )?,
            admin_addr: env_or(
                "FIDUCIA_COLLECTOR_ADMIN_ADDR",
                ([127, 0, 0, 1], 18080).into(),
            )?,
            workers: env_positive(
                "FIDUCIA_COLLECTOR_WORKERS",
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )?,
            kafka: KafkaConfig::from_env()?,
            sites,
            trusted_proxies: trusted_proxies()?,
            limits,
            connections: Connections::from_env()?,
            kafka_linger: env_ms(
                "FIDUCIA_COLLECTOR_KAFKA_LINGER_MS",
                Duration::from_millis(5),
            )?,
            kafka_message_timeout: env_ms(
                "FIDUCIA_COLLECTOR_KAFKA_MESSAGE_TIMEOUT_MS",
                Duration::from_secs(5),
            )?,
            metrics_linger: fiducia_runtime::service::admin::linger_from_env()?,
            downstream_group: group_lag::group_from_env(
                "FIDUCIA_COLLECTOR_DOWNSTREAM_GROUP",
                "fiducia-enricher",
            )?,
            retry_after_seconds: env_positive("FIDUCIA_COLLECTOR_RETRY_AFTER_SECONDS", 5)?,
            shutdown_timeout: env_ms(
                "FIDUCIA_COLLECTOR_SHUTDOWN_TIMEOUT_MS",
                Duration::from_secs(10),
            )?,
            privacy: Privacy::from_env()?,
            warehouse: Warehouse::from_env()?,
            admin_secret: admin_secret()?,
            ledger_snapshot: crate::consent::snapshot::Settings::from_env()?,
        })
    }
}

fn trusted_proxies() -> Result<Vec<IpNet>, ConfigError> {
    let var = "FIDUCIA_COLLECTOR_TRUSTED_PROXIES";
    let Some(list) = env_opt::<String>(var)? else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|cidr| {
            cidr.parse::<IpNet>()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|e| ConfigError::new(var, list.clone(), format!("{cidr:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use fiducia_testkit::config_doc::{assert_env_documented, assert_section_documented};

    use crate::consent::policy::PolicyFile;
    use crate::sites::CollectSection;

    #[test]
    fn secrets_are_never_printed() {
        let secret = super::Secret("s3cret-s3cret-s3cret".into());
        let warehouse = super::Warehouse {
            url: "http://127.0.0.1:8123".into(),
            database: "fiducia".into(),
            user: "default".into(),
            password: secret.clone(),
        };
        let printed = format!("{secret:?} {warehouse:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn the_configuration_reference_lists_every_key_and_variable_of_the_collector() {
        assert_section_documented::<CollectSection>("collect");
        assert_section_documented::<PolicyFile>("consent");
        assert_env_documented("collector/src", "### Collector");
    }
}
