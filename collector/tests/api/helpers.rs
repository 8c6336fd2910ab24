//! Starting a collector in-process on free ports against the real broker,
//! and reading back what it published.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use fiducia_collector::Application;
use fiducia_collector::config::{Config, Connections, Limits};
use fiducia_collector::consent::ledger::Ledger;
use fiducia_collector::publish::memory::MemoryPublisher;
use fiducia_collector::sites::{Site, Sites};
use fiducia_collector::startup::public_server;
use fiducia_proto::topics::Topics;
use fiducia_runtime::service::config::KafkaConfig;
use fiducia_testkit::{infra, read_topic, unique, wait_status};
use rdkafka::message::OwnedMessage;
use tokio_util::sync::CancellationToken;

pub use fiducia_testkit::envelopes::ORIGIN;

/// A running collector with its own topics; stopped on drop.
pub struct TestCollector {
    pub url: String,
    pub admin_url: String,
    pub topics: Topics,
    pub brokers: String,
    shutdown: CancellationToken,
}

impl Drop for TestCollector {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A collector config for site `demo` on free ports.
pub fn config(brokers: &str, topics: Topics) -> Config {
    let sites = Sites::new(BTreeMap::from([(
        "demo".to_owned(),
        Site {
            allowed_origins: vec![ORIGIN.to_owned()],
            ..Site::default()
        },
    )]))
    .expect("valid sites");
    Config {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        kafka: KafkaConfig {
            partitions: 2,
            ..KafkaConfig::new(brokers, topics)
        },
        sites,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        limits: Limits::default(),
        connections: Connections::default(),
        kafka_linger: Duration::from_millis(1),
        kafka_message_timeout: Duration::from_secs(5),
        downstream_group: None,
        metrics_linger: Duration::ZERO,
        retry_after_seconds: 3,
        shutdown_timeout: Duration::from_secs(2),
        privacy: fiducia_collector::config::Privacy {
            keys: fiducia_collector::privacy::keys::Keys::parse(
                Some(fiducia_testkit::privacy::SIGNING_KEY),
                None,
            )
            .expect("the test key"),
            ..fiducia_collector::config::Privacy::default()
        },
        warehouse: None,
        admin_secret: None,
        ledger_snapshot: None,
    }
}

impl TestCollector {
    /// Starts a collector with fresh topics on the shared broker.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Same, after `tweak` adjusted the config.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(Topics::with_suffix(&unique("collector")), tweak).await
    }

    /// Another collector instance on the same topics (as behind a load balancer).
    pub async fn another(&self) -> Self {
        Self::spawn_on(self.topics.clone(), |_| {}).await
    }

    async fn spawn_on(topics: Topics, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_at(&infra().brokers, topics, tweak).await
    }

    /// A collector on `brokers` (a test's private broker) and `topics`.
    pub async fn spawn_at(brokers: &str, topics: Topics, tweak: impl FnOnce(&mut Config)) -> Self {
        let brokers = brokers.to_owned();
        let mut config = config(&brokers, topics.clone());
        tweak(&mut config);
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone())
            .await
            .expect("collector builds");
        let url = format!("http://{}", app.public_addr());
        let admin_url = format!("http://{}", app.admin_addr());
        tokio::spawn(app.run_until_stopped());
        let collector = Self {
            url,
            admin_url,
            topics,
            brokers,
            shutdown,
        };
        collector.wait_ready().await;
        collector
    }

    async fn wait_ready(&self) {
        let readyz = format!("{}/readyz", self.admin_url);
        wait_status(&readyz, 200, Duration::from_secs(10)).await;
    }

    /// Posts a body as the tag does (`text/plain`, from the allowed origin).
    pub async fn post(&self, body: String) -> reqwest::Response {
        self.post_with(body, &[]).await
    }

    /// Same, with extra request headers.
    pub async fn post_with(&self, body: String, headers: &[(&str, &str)]) -> reqwest::Response {
        fiducia_testkit::envelopes::post(&self.url, body, headers).await
    }

    /// A visitor this collector issued (measurement and personalization
    /// granted a minute ago with a consent event): id and token.
    pub async fn issued(&self) -> (String, String) {
        let granted_at = fiducia_proto::time::now_ms() - 60_000;
        let body = fiducia_testkit::envelopes::issue(
            &["measurement", "personalization"],
            granted_at,
            &["consent", "page_view"],
        );
        let response = self.post(body).await;
        assert_eq!(response.status(), 204);
        let header = response
            .headers()
            .get("fiducia-visitor")
            .expect("an id is issued");
        let issued: serde_json::Value = serde_json::from_str(header.to_str().unwrap()).unwrap();
        (
            issued["id"].as_str().unwrap().to_owned(),
            issued["t"].as_str().unwrap().to_owned(),
        )
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Reads the raw topic from the start until `count` messages arrived (or 20 s passed).
    pub async fn read_raw(&self, count: usize) -> Vec<OwnedMessage> {
        self.read_topic(&self.topics.raw, count).await
    }

    /// Reads `topic` from the start until `count` messages arrived (or 20 s passed).
    pub async fn read_topic(&self, topic: &str, count: usize) -> Vec<OwnedMessage> {
        let within = Duration::from_secs(20);
        read_topic(&self.brokers, topic, within, |m| m.len() >= count).await
    }
}

/// The public API alone over the in-memory publisher, on a free port of
/// 127.0.0.1 (no broker, no admin listener): for tests of what the
/// collector refuses, down to raw bytes on its socket. Stopped on drop.
pub struct MemoryCollector {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://<addr>`.
    pub url: String,
    /// What it published.
    pub publisher: Arc<MemoryPublisher>,
    server: ServerHandle,
    shutdown: CancellationToken,
}

impl MemoryCollector {
    /// Starts one on [`config`], after `tweak` adjusted it.
    pub fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        // Installed before the first request, so every refusal is counted.
        fiducia_runtime::service::admin::prometheus();
        // No broker is contacted: the address and topics are never used.
        let mut config = config("127.0.0.1:9", Topics::with_suffix("unused"));
        tweak(&mut config);
        let publisher = Arc::new(MemoryPublisher::default());
        let shutdown = CancellationToken::new();
        let (server, addr) = public_server(
            &config,
            Arc::clone(&publisher),
            Arc::new(Ledger::default()),
            Arc::new(|| true),
            fiducia_collector::profile::Stores::default(),
            &shutdown,
        )
        .expect("the public API binds");
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            addr,
            url: format!("http://{addr}"),
            publisher,
            server: handle,
            shutdown,
        }
    }

    /// Posts `body` as the tag does, with extra request `headers`.
    pub async fn post(
        &self,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        fiducia_testkit::envelopes::post(&self.url, body, headers).await
    }

    /// Requests refused for `reason` so far, by every collector of this
    /// process (tests run side by side: compare before and after).
    pub fn rejected(reason: &str) -> u64 {
        let metric = format!("fiducia_collector_requests_rejected_total{{reason=\"{reason}\"}} ");
        fiducia_runtime::service::admin::prometheus()
            .render()
            .lines()
            .find_map(|line| line.strip_prefix(&metric)?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryCollector {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // The stop command is sent at once; nobody waits for it to finish.
        drop(self.server.stop(false));
    }
}
