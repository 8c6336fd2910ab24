//! What the sink's tests share: one test's own topics and database on the
//! shared servers, a sink in this process, and enriched events as the
//! enricher writes them.

use std::time::Duration;

use clickhouse::Client;
use fiducia_proto::headers;
use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::topics::Topics;
use fiducia_proto::v1::{Decision, EnrichedEvent};
use fiducia_runtime::service::config::KafkaConfig;
use fiducia_sink::config::ClickHouseConfig;
use fiducia_sink::schema::render;
use fiducia_sink::tables::TableRow;
use fiducia_sink::writer::RowWriter;
use fiducia_sink::writer::clickhouse::{ClickHouseWriter, client};
use fiducia_sink::{Application, Config};
use fiducia_testkit::{Infra, create_topics, eventually, unique};
use prost::Message as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const PARTITIONS: i32 = 2;
pub const WAIT: Duration = Duration::from_secs(60);

/// One test's own topics and database on the shared servers (or on a
/// cluster of its own, [`Setup::on_cluster`]).
pub struct Setup {
    pub infra: &'static Infra,
    pub topics: Topics,
    pub database: String,
    /// The ClickHouse the sink and the test talk to, and its cluster if any.
    pub clickhouse_url: String,
    pub cluster: Option<String>,
}

impl Setup {
    pub async fn new() -> Self {
        let infra = fiducia_testkit::infra();
        let topics = Topics::with_suffix(&unique("t"));
        create_topics(&infra.brokers, &topics, PARTITIONS).await;
        Self {
            infra,
            topics,
            database: unique("fiducia_test"),
            clickhouse_url: infra.clickhouse_url.clone(),
            cluster: None,
        }
    }

    /// The same, its database on `cluster` through the server at `url`.
    pub async fn on_cluster(url: &str, cluster: &str) -> Self {
        Self {
            clickhouse_url: url.to_owned(),
            cluster: Some(cluster.to_owned()),
            ..Self::new().await
        }
    }

    pub fn config(&self) -> Config {
        let kafka = KafkaConfig {
            create_topics: false,
            partitions: PARTITIONS,
            ..KafkaConfig::new(&self.infra.brokers, self.topics.clone())
        };
        let clickhouse = ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            database: self.database.clone(),
            cluster: self.cluster.clone(),
            ..ClickHouseConfig::default()
        };
        let mut config = Config::new(kafka, clickhouse);
        config.admin_addr = ([127, 0, 0, 1], 0).into();
        config.group_id = unique("sink");
        config.batch.max_wait = Duration::from_millis(100);
        config
    }

    /// A client on the test's server, validation off like the sink's.
    pub fn clickhouse(&self) -> Client {
        client(&self.config().clickhouse)
    }

    pub async fn count(&self, sql: &str) -> u64 {
        self.clickhouse()
            .query_raw(&render(sql, &self.database))
            .fetch_one()
            .await
            .unwrap_or(0)
    }

    pub async fn wait_for_count(&self, sql: &str, want: u64) {
        eventually(sql, WAIT, || async {
            match self.count(sql).await {
                got if got == want => Ok(()),
                got => Err(format!("{got} rows, want {want}")),
            }
        })
        .await;
    }

    /// Drops the test's database; called at the end of a passing test, so a
    /// failing one leaves its data to look at.
    pub async fn drop_database(&self) {
        self.clickhouse()
            .query_raw(&render("DROP DATABASE IF EXISTS {db}", &self.database))
            .execute()
            .await
            .unwrap();
    }

    pub fn producer(&self) -> FutureProducer {
        fiducia_testkit::producer(&self.infra.brokers, "sink-test")
    }
}

/// A running sink, stopped through its token.
pub struct RunningSink {
    pub admin: std::net::SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl RunningSink {
    pub async fn start(config: Config) -> Self {
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone()).await.unwrap();
        let admin = app.admin_addr();
        Self {
            admin,
            shutdown,
            task: tokio::spawn(app.run_until_stopped()),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Cancels the token and waits for a clean stop.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(20), self.task).await;
        stopped
            .expect("the sink stops within 20 s")
            .unwrap()
            .unwrap();
    }
}

/// Event `i`: yesterday (UTC), `i` seconds and a bit after midnight, so
/// what ClickHouse computes against its `now()` (the profiles' decay) sees
/// recent events on any date.
pub fn event(id: Uuid, i: u32) -> EnrichedEvent {
    let at = midnight_days_ago_ms(1) + i64::from(i) * 1_001;
    EnrichedEvent {
        event_id: id.as_bytes().to_vec(),
        site_id: "demo".into(),
        event_type: if i.is_multiple_of(2) {
            "page_view"
        } else {
            "click"
        }
        .into(),
        event_time_ms: at,
        received_at_ms: at + 500,
        seq: i,
        visitor_id: format!("v{}", i % 7),
        session_id: format!("s{}", i % 5),
        url: format!("https://shop.example/p/{i}?utm_campaign=spring"),
        path: format!("/p/{i}"),
        referrer_class: "search".into(),
        utm_campaign: "spring".into(),
        country: "IT".into(),
        browser: "Firefox".into(),
        device: "desktop".into(),
        is_bot: i.is_multiple_of(10),
        bot_reasons: if i.is_multiple_of(10) {
            vec!["headless".into(), "rate".into()]
        } else {
            Vec::new()
        },
        consent_measurement: true,
        decision: if i.is_multiple_of(3) {
            Decision::Strip
        } else {
            Decision::Keep
        }
        .into(),
        props_json: format!(r#"{{"i":{i}}}"#),
        // Multi-byte characters, and past 127 bytes a two-byte length.
        title: format!("Chaussures rouges — {}", "é".repeat(i as usize % 150)),
        lang: "it-IT".into(),
        session_seq: i + 1,
        page_categories: ["shoes", "sale", "red"][..i as usize % 4]
            .iter()
            .map(|c| (*c).into())
            .collect(),
        ..EnrichedEvent::default()
    }
}

/// The headers a message of site `demo` and `schema` carries.
pub fn routing_headers(schema: &str) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: headers::SITE,
            value: Some("demo"),
        })
        .insert(Header {
            key: headers::SCHEMA,
            value: Some(schema),
        })
}

/// Produces one message like the enricher does; returns (partition, offset).
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    partition: Option<i32>,
) -> (i32, i64) {
    let headers = routing_headers(headers::schema::ENRICHED_EVENT);
    let mut record = FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(headers);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    let delivery = producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    (delivery.partition, delivery.offset)
}

pub async fn produce_events(producer: &FutureProducer, topic: &str, events: &[EnrichedEvent]) {
    let sends = events.iter().map(|event| {
        let key = format!("{}:{}", event.site_id, event.visitor_id);
        let payload = event.encode_to_vec();
        async move { produce(producer, topic, &key, &payload, None).await }
    });
    futures::future::join_all(sends).await;
}

/// Inserts `rows` as the sink would, in one batch.
pub async fn insert<R: TableRow + 'static>(
    writer: &ClickHouseWriter,
    rows: impl IntoIterator<Item = R>,
) {
    let rows = ClickHouseWriter::prepare(rows.into_iter());
    writer.write(&rows, R::TABLE).await.unwrap();
}
