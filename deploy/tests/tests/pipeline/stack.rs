//! What the whole-pipeline tests share: a [`Stack`] of real service
//! processes on a test's own topics and ClickHouse database, on a broker and
//! ClickHouse that [`fiducia_testkit`] started.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use fiducia_proto::topics::Topics;
use fiducia_runtime::service::config::topic_vars;
use fiducia_testkit::{ClickHouse, Infra, Service, free_port, repo_root, unique, wait_status};

/// How long a service may take to become ready on a busy machine.
pub const READY_WITHIN: Duration = Duration::from_secs(60);

/// The binaries of the three services, built by cargo with this package.
pub const COLLECTOR: &str = env!("CARGO_BIN_EXE_pipeline-collector");
/// See [`COLLECTOR`].
pub const ENRICHER: &str = env!("CARGO_BIN_EXE_pipeline-enricher");
/// See [`COLLECTOR`].
pub const SINK: &str = env!("CARGO_BIN_EXE_pipeline-sink");

/// One test's services: its topics, its ClickHouse database, the sites file.
#[derive(Debug)]
pub struct Stack {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The ClickHouse server.
    pub clickhouse: ClickHouse,
    /// The test's topics.
    pub topics: Topics,
    /// The test's database.
    pub database: String,
    /// Settings that replace or add to the defaults below.
    overrides: Vec<(String, String)>,
}

/// A service process of a [`Stack`], killed on drop.
#[derive(Debug)]
pub struct Running {
    /// The process.
    pub process: Service,
    /// Its public address (`http://…`; the collector's API, else its admin).
    pub url: String,
    /// Its admin address (`http://…`: `/metrics`, `/healthz`, `/readyz`).
    pub admin: String,
}

impl Stack {
    /// A stack on `infra` with `topics` (which the services create) and a
    /// database of its own.
    #[must_use]
    pub fn new(infra: &Infra, topics: Topics) -> Self {
        Self {
            brokers: infra.brokers.clone(),
            clickhouse: ClickHouse::new(&infra.clickhouse_url),
            topics,
            database: unique("pipeline"),
            overrides: Vec::new(),
        }
    }

    /// The same stack with environment variable `name` set to `value` for
    /// every service (e.g. another `FIDUCIA_SITES_FILE`).
    #[must_use]
    pub fn with_env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.overrides.push((name.to_owned(), value.into()));
        self
    }

    /// The environment every service gets.
    fn env(&self) -> HashMap<String, String> {
        let sites: PathBuf = repo_root().join("deploy/sites.toml");
        [
            ("FIDUCIA_KAFKA_BROKERS", self.brokers.clone()),
            ("FIDUCIA_CLICKHOUSE_URL", self.clickhouse.url.clone()),
            ("FIDUCIA_CLICKHOUSE_DATABASE", self.database.clone()),
            // The collector reads the same database (exports, request states).
            (
                "FIDUCIA_COLLECTOR_CLICKHOUSE_URL",
                self.clickhouse.url.clone(),
            ),
            (
                "FIDUCIA_COLLECTOR_CLICKHOUSE_DATABASE",
                self.database.clone(),
            ),
            ("FIDUCIA_SITES_FILE", sites.display().to_string()),
            ("FIDUCIA_COLLECTOR_RATE_PER_IP_PER_SECOND", "100000".into()),
            ("FIDUCIA_COLLECTOR_RATE_BURST", "100000".into()),
            (
                fiducia_testkit::privacy::SIGNING_KEY_VAR,
                fiducia_testkit::privacy::SIGNING_KEY.into(),
            ),
            ("FIDUCIA_ENRICHER_GROUP_ID", unique("enricher")),
            ("FIDUCIA_SINK_GROUP_ID", unique("sink")),
            // Every start has a group of its own, so no next stage's group
            // to watch from upstream (deploy/prometheus/test_lag_alert.py
            // shows that watch on the local stack's groups).
            ("FIDUCIA_COLLECTOR_DOWNSTREAM_GROUP", "off".into()),
            ("FIDUCIA_ENRICHER_DOWNSTREAM_GROUP", "off".into()),
            ("FIDUCIA_SINK_BATCH_MAX_WAIT_MS", "200".into()),
        ]
        .into_iter()
        .chain(topic_vars(&self.topics))
        .map(|(k, v)| (k.to_owned(), v))
        .chain(self.overrides.iter().cloned())
        .collect()
    }

    /// Starts a collector and waits until it is ready.
    pub async fn collector(&self) -> Running {
        let collector = self.collector_starting();
        collector.wait_ready().await;
        collector
    }

    /// Starts a collector without waiting for it.
    pub fn collector_starting(&self) -> Running {
        let port = free_port();
        let mut env = self.env();
        env.insert(
            "FIDUCIA_COLLECTOR_LISTEN_ADDR".into(),
            format!("127.0.0.1:{port}"),
        );
        spawn(COLLECTOR, "COLLECTOR", env, Some(port))
    }

    /// Starts an enricher and waits until it is ready.
    pub async fn enricher(&self) -> Running {
        start(ENRICHER, "ENRICHER", self.env(), None).await
    }

    /// Starts a sink and waits until it is ready.
    pub async fn sink(&self) -> Running {
        start(SINK, "SINK", self.env(), None).await
    }

    /// Drops the test's database.
    pub async fn drop_database(&self) {
        self.clickhouse
            .query(&format!("DROP DATABASE IF EXISTS `{}`", self.database))
            .await;
    }
}

async fn start(
    binary: &str,
    service: &str,
    env: HashMap<String, String>,
    public_port: Option<u16>,
) -> Running {
    let running = spawn(binary, service, env, public_port);
    running.wait_ready().await;
    running
}

fn spawn(
    binary: &str,
    service: &str,
    mut env: HashMap<String, String>,
    public_port: Option<u16>,
) -> Running {
    let admin_port = free_port();
    env.insert(
        format!("FIDUCIA_{service}_ADMIN_ADDR"),
        format!("127.0.0.1:{admin_port}"),
    );
    let process = Service::start(binary, &env);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let url = public_port.map_or_else(|| admin.clone(), |p| format!("http://127.0.0.1:{p}"));
    Running {
        process,
        url,
        admin,
    }
}

impl Running {
    /// Posts `body` to `/v1/events` as the tag does, with extra `headers`.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn post(&self, body: String, headers: &[(&str, &str)]) -> reqwest::Response {
        fiducia_testkit::envelopes::post(&self.url, body, headers).await
    }

    /// Posts the same `body` twice, as a tag retrying after a lost answer
    /// does; both must be accepted (`204`).
    ///
    /// # Panics
    /// When a request cannot be sent or is not accepted.
    pub async fn post_twice(&self, body: String) {
        for _ in 0..2 {
            assert_eq!(self.post(body.clone(), &[]).await.status(), 204);
        }
    }

    /// The `/metrics` text.
    ///
    /// # Panics
    /// When the admin endpoint does not answer.
    pub async fn metrics(&self) -> String {
        self.try_metrics().await.expect("metrics")
    }

    /// The `/metrics` text, or `None` when the admin endpoint does not
    /// answer (the service ended).
    pub async fn try_metrics(&self) -> Option<String> {
        let response = reqwest::get(format!("{}/metrics", self.admin)).await.ok()?;
        response.text().await.ok()
    }

    /// Restarts it if it has ended, as a supervisor would (systemd's
    /// `Restart=on-failure`, a Kubernetes pod): how it ended, if it had.
    pub async fn restart_if_ended(&mut self) -> Option<std::process::ExitStatus> {
        let ended = self.process.exited()?;
        self.restart().await;
        Some(ended)
    }

    /// Starts it again after a kill, and waits until it is ready.
    pub async fn restart(&mut self) {
        self.process.restart();
        self.wait_ready().await;
    }

    /// Waits until its `/readyz` answers `200`.
    pub async fn wait_ready(&self) {
        wait_status(&format!("{}/readyz", self.admin), 200, READY_WITHIN).await;
    }
}
