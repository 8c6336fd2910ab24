//! What the enricher's integration tests share: a test's own topics on the
//! shared broker, raw events as the collector writes them, reading topics
//! back, and the enricher run in-process or as a process of its own.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fiducia_enricher::{Application, Config};
use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::topics::Topics;
use fiducia_proto::v1::{EnrichedEvent, Profile, RawEvent};
use fiducia_runtime::kafka::admin::ensure_compacted_topics;
use fiducia_runtime::service::config::{KafkaConfig, topic_vars};
use fiducia_testkit::{
    Infra, Service, count_messages, create_topics, free_port, read_topic, unique, wait_status,
};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::{OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Partitions of every test topic.
pub const PARTITIONS: i32 = 2;
/// Longest wait for anything to arrive.
pub const WAIT: Duration = Duration::from_secs(90);
/// A minute in ms.
pub const MIN: i64 = 60_000;

/// 16:00 UTC yesterday: recent, so what ClickHouse computes against its
/// `now()` sees recent events on any date, and hours from any midnight, so
/// sessions never cross one by accident.
pub fn t0() -> i64 {
    midnight_days_ago_ms(1) + 16 * 60 * MIN
}

/// One test's own topics on the shared broker.
pub struct Setup {
    pub infra: &'static Infra,
    pub topics: Topics,
}

impl Setup {
    pub async fn new() -> Self {
        let infra = fiducia_testkit::infra();
        let topics = Topics::with_suffix(&unique("t"));
        create_topics(&infra.brokers, &topics, PARTITIONS).await;
        ensure_compacted_topics(
            &infra.brokers,
            &[&topics.sessions, &topics.profiles],
            PARTITIONS,
        )
        .await
        .expect("create the sessions and profiles topics");
        Self { infra, topics }
    }

    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            create_topics: false,
            partitions: PARTITIONS,
            session_timeout: Duration::from_secs(6),
            rejoin_when_unassigned: Some(Duration::from_secs(15)),
            ..KafkaConfig::new(&self.infra.brokers, self.topics.clone())
        }
    }

    /// An in-process enricher's configuration in consumer group `group`.
    pub fn config(&self, group: &str) -> Config {
        let mut config = Config::new(self.kafka());
        config.admin_addr = ([127, 0, 0, 1], 0).into();
        config.group_id = group.to_owned();
        config.batch_max_wait = Duration::from_millis(50);
        config
    }

    /// The environment of an enricher process in consumer group `group`.
    pub fn env(&self, group: &str, admin_port: u16) -> HashMap<String, String> {
        [
            ("FIDUCIA_KAFKA_BROKERS", self.infra.brokers.clone()),
            ("FIDUCIA_KAFKA_CREATE_TOPICS", "false".into()),
            ("FIDUCIA_KAFKA_PARTITIONS", PARTITIONS.to_string()),
            ("FIDUCIA_KAFKA_SESSION_TIMEOUT_MS", "6000".into()),
            ("FIDUCIA_KAFKA_REJOIN_UNASSIGNED_MS", "15000".into()),
            ("FIDUCIA_ENRICHER_GROUP_ID", group.to_owned()),
            (
                "FIDUCIA_ENRICHER_ADMIN_ADDR",
                format!("127.0.0.1:{admin_port}"),
            ),
            ("FIDUCIA_ENRICHER_BATCH_MAX_WAIT_MS", "50".into()),
            ("FIDUCIA_SITES_FILE", default_sites_file(group)),
            ("FIDUCIA_ENRICHER_GEOIP_DB", String::new()),
        ]
        .into_iter()
        .chain(topic_vars(&self.topics))
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub fn producer(&self) -> FutureProducer {
        fiducia_testkit::producer(&self.infra.brokers, "enricher-test")
    }

    /// Produces a raw event as the collector does: keyed by visitor, routing headers.
    pub async fn produce_raw(&self, producer: &FutureProducer, raw: &RawEvent) {
        fiducia_testkit::raw::produce(producer, &self.topics.raw, raw).await;
    }

    /// Produces any message to the raw topic.
    pub async fn produce(
        &self,
        producer: &FutureProducer,
        key: &str,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) {
        let mut record: FutureRecord<'_, str, [u8]> =
            FutureRecord::to(&self.topics.raw).key(key).headers(headers);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("produce a raw message");
    }

    /// Messages of `topic`, read until `done` says so.
    pub async fn read(
        &self,
        topic: &str,
        mut done: impl FnMut(&[OwnedMessage]) -> bool,
    ) -> Vec<OwnedMessage> {
        let messages = read_topic(&self.infra.brokers, topic, WAIT, &mut done).await;
        assert!(
            done(&messages),
            "{topic}: gave up after {WAIT:?} with {} messages",
            messages.len()
        );
        messages
    }

    /// Messages in `topic` now, from its offsets.
    pub fn count(&self, topic: &str) -> i64 {
        count_messages(&self.infra.brokers, topic)
    }

    /// Enriched events of this test, read until `count` distinct ids are seen.
    pub async fn enriched(&self, count: usize) -> Vec<EnrichedEvent> {
        let mut seen = std::collections::HashSet::new();
        self.read(&self.topics.enriched, |messages| {
            if let Some(last) = messages.last() {
                seen.insert(decode_enriched(last).event_id);
            }
            seen.len() >= count
        })
        .await
        .iter()
        .map(decode_enriched)
        .collect()
    }
}

fn decode_enriched(message: &OwnedMessage) -> EnrichedEvent {
    EnrichedEvent::decode(message.payload().unwrap_or_default()).expect("an enriched event")
}

/// A consented page view of `visitor` on site `demo`, `minutes` after [`t0`].
pub fn raw_event(visitor: &str, minutes: i64) -> RawEvent {
    fiducia_testkit::raw::page_view(visitor, t0() + minutes * MIN)
}

/// The latest profile of every visitor in the profiles topic, read until
/// `done` holds for them (a tombstone removes the visitor).
pub async fn profiles_by_visitor(
    setup: &Setup,
    mut done: impl FnMut(&HashMap<String, Profile>) -> bool,
) -> HashMap<String, Profile> {
    let latest = |messages: &[OwnedMessage]| {
        let mut out = HashMap::new();
        for m in messages {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let visitor = key
                .split_once('/')
                .map_or(key.clone(), |(_, v)| v.to_owned());
            match m.payload().filter(|p| !p.is_empty()) {
                Some(p) => out.insert(visitor, Profile::decode(p).expect("a profile")),
                None => out.remove(&visitor),
            };
        }
        out
    };
    let messages = setup
        .read(&setup.topics.profiles, |messages| done(&latest(messages)))
        .await;
    latest(&messages)
}

/// Every visitor's sessions: session id → the `session_seq`s of its distinct
/// events, sorted. Copies of one event (at-least-once) must agree.
pub fn sessions_by_visitor(
    events: &[EnrichedEvent],
) -> BTreeMap<String, BTreeMap<String, Vec<u32>>> {
    let mut by_id: HashMap<Vec<u8>, &EnrichedEvent> = HashMap::new();
    for event in events {
        if let Some(copy) = by_id.insert(event.event_id.clone(), event) {
            assert_eq!(
                (&copy.session_id, copy.session_seq),
                (&event.session_id, event.session_seq),
                "two copies of one event disagree on its session"
            );
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u32>>> = BTreeMap::new();
    for event in by_id.values() {
        out.entry(event.visitor_id.clone())
            .or_default()
            .entry(event.session_id.clone())
            .or_default()
            .push(event.session_seq);
    }
    for sessions in out.values_mut() {
        for seqs in sessions.values_mut() {
            seqs.sort_unstable();
        }
    }
    out
}

/// An enricher in this process, stopped through its token.
pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn start(config: Config) -> Self {
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone())
            .await
            .expect("the enricher starts");
        Self {
            shutdown,
            task: tokio::spawn(app.run_until_stopped()),
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the enricher stops within 30 s")
            .expect("the task")
            .expect("a clean stop");
    }
}

/// A sites file with site `demo` and no `enrich` section (every rule at
/// its default), written for `group`'s processes; returns its path.
fn default_sites_file(group: &str) -> String {
    let path = std::env::temp_dir().join(format!("fiducia-enricher-test-{group}-sites.toml"));
    std::fs::write(&path, "[sites.demo.collect]\nallowed_origins = []\n").expect("a sites file");
    path.display().to_string()
}

/// An enricher process; killed on drop.
pub struct Process {
    service: Service,
    pub admin_port: u16,
}

impl Process {
    pub fn start(setup: &Setup, group: &str) -> Self {
        let admin_port = free_port();
        let mut env = setup.env(group, admin_port);
        env.insert("RUST_LOG".into(), "info,fiducia_enricher=debug".into());
        let service = Service::start(env!("CARGO_BIN_EXE_fiducia-enricher"), &env);
        Self {
            service,
            admin_port,
        }
    }

    /// A counter from the process's `/metrics` (0 when absent or unreachable).
    pub async fn counter(&self, name: &str) -> f64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.admin_port);
        let Ok(response) = reqwest::get(&url).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter(|line| line.starts_with(name))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) {
        let url = format!("http://127.0.0.1:{}/readyz", self.admin_port);
        wait_status(&url, 200, WAIT).await;
    }

    pub fn kill_9(&mut self) {
        self.service.kill_9();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) {
        self.service.terminate();
    }
}
