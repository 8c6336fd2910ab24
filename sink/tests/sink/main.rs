//! The sink against the real broker and the real ClickHouse (started by
//! `deploy/local/up --infra` through the testkit). Every test has its own
//! topics, consumer group and database. [`jobs`] covers profiles, their
//! erasure and retention; [`docs`] runs every query of the analyst guide;
//! [`startup`] runs the binary with configurations it must refuse.

mod docs;
mod jobs;
mod startup;

use std::time::Duration;

use clickhouse::Client;
use fiducia_proto::headers;
use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::topics::Topics;
use fiducia_proto::v1::{DeadLetter, DeadLetterReason, Decision, EnrichedEvent};
use fiducia_runtime::kafka::consume::{self, ConsumerSettings};
use fiducia_runtime::service::config::KafkaConfig;
use fiducia_sink::config::ClickHouseConfig;
use fiducia_sink::schema::migrations::{MIGRATIONS, Migration, Step};
use fiducia_sink::schema::{migrate_with, render};
use fiducia_sink::writer::clickhouse::client;
use fiducia_sink::{Application, Config};
use fiducia_testkit::{Infra, create_topics, unique};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PARTITIONS: i32 = 2;
const WAIT: Duration = Duration::from_secs(60);

/// One test's own topics and database on the shared servers.
struct Setup {
    infra: &'static Infra,
    topics: Topics,
    database: String,
}

impl Setup {
    async fn new() -> Self {
        let infra = fiducia_testkit::infra();
        let topics = Topics::with_suffix(&unique("t"));
        create_topics(&infra.brokers, &topics, PARTITIONS).await;
        Self {
            infra,
            topics,
            database: unique("fiducia_test"),
        }
    }

    fn config(&self) -> Config {
        let kafka = KafkaConfig {
            create_topics: false,
            partitions: PARTITIONS,
            ..KafkaConfig::new(&self.infra.brokers, self.topics.clone())
        };
        let clickhouse = ClickHouseConfig {
            url: self.infra.clickhouse_url.clone(),
            database: self.database.clone(),
            ..ClickHouseConfig::default()
        };
        let mut config = Config::new(kafka, clickhouse);
        config.admin_addr = ([127, 0, 0, 1], 0).into();
        config.group_id = unique("sink");
        config.batch.max_wait = Duration::from_millis(100);
        config
    }

    /// A client on the test's server, validation off like the sink's.
    fn clickhouse(&self) -> Client {
        client(&self.config().clickhouse)
    }

    async fn count(&self, sql: &str) -> u64 {
        self.clickhouse()
            .query_raw(&render(sql, &self.database))
            .fetch_one()
            .await
            .unwrap_or(0)
    }

    async fn wait_for_count(&self, sql: &str, want: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.count(sql).await;
            if got == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sql}: {got} rows, want {want}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Drops the test's database; called at the end of a passing test, so a
    /// failing one leaves its data to look at.
    async fn drop_database(&self) {
        self.clickhouse()
            .query_raw(&render("DROP DATABASE IF EXISTS {db}", &self.database))
            .execute()
            .await
            .unwrap();
    }

    fn producer(&self) -> FutureProducer {
        fiducia_testkit::producer(&self.infra.brokers, "sink-test")
    }
}

/// A running sink, stopped through its token.
struct RunningSink {
    admin: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSink {
    async fn start(config: Config) -> Self {
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone()).await.unwrap();
        let admin = app.admin_addr();
        Self {
            admin,
            shutdown,
            task: tokio::spawn(app.run_until_stopped()),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Cancels the token and waits for a clean stop.
    async fn stop(self) {
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
fn event(id: Uuid, i: u32) -> EnrichedEvent {
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

/// Produces one message like the enricher does; returns (partition, offset).
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    partition: Option<i32>,
) -> (i32, i64) {
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: headers::SITE,
            value: Some("demo"),
        })
        .insert(Header {
            key: headers::SCHEMA,
            value: Some(headers::schema::ENRICHED_EVENT),
        });
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

async fn produce_events(producer: &FutureProducer, topic: &str, events: &[EnrichedEvent]) {
    let sends = events.iter().map(|event| {
        let key = format!("{}:{}", event.site_id, event.visitor_id);
        let payload = event.encode_to_vec();
        async move { produce(producer, topic, &key, &payload, None).await }
    });
    futures::future::join_all(sends).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_from_empty_twice_and_concurrently() {
    let setup = Setup::new().await;
    let (first, second) = tokio::join!(
        Application::build(setup.config(), CancellationToken::new()),
        Application::build(setup.config(), CancellationToken::new()),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut applied = [first.applied_migrations(), second.applied_migrations()].concat();
    applied.sort_unstable();
    applied.dedup();
    let every: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied, every,
        "every version applied by one or both, nothing else"
    );
    eprintln!("server: {}", first.server_features());

    let again = Application::build(setup.config(), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        again.applied_migrations().is_empty(),
        "nothing left to apply"
    );
    let tables = "SELECT count() FROM system.tables WHERE database = '{db}' AND name IN ('events', 'consent_log', 'schema_migrations', 'sessions', 'profile_events', 'profile_events_mv', 'profiles', 'privacy_requests')";
    assert_eq!(
        setup
            .count(&tables.replace("'{db}'", &format!("'{}'", setup.database)))
            .await,
        8
    );
    assert_eq!(
        setup
            .count("SELECT uniqExact(version) FROM {db}.schema_migrations")
            .await,
        every.len() as u64
    );

    // The way later migrations extend the schema on 18.16 (no ADD COLUMN IF
    // NOT EXISTS) is idempotent and race-safe too.
    let next = [Migration {
        version: every.len() as u32 + 1,
        name: "test: add a column",
        steps: &[Step::AddColumn {
            table: "events",
            column: "test_extra",
            definition: "String DEFAULT ''",
        }],
    }];
    let history = [MIGRATIONS, &next].concat();
    let client = setup.clickhouse();
    let (a, b) = tokio::join!(
        migrate_with(&client, &setup.database, &history),
        migrate_with(&client, &setup.database, &history),
    );
    assert!(a.unwrap().len() + b.unwrap().len() >= 1);
    assert!(
        migrate_with(&client, &setup.database, &history)
            .await
            .unwrap()
            .is_empty()
    );
    let columns = format!(
        "SELECT count() FROM system.columns WHERE database = '{}' AND table = 'events' AND name = 'test_extra'",
        setup.database
    );
    assert_eq!(setup.count(&columns).await, 1);
    assert_eq!(
        setup
            .count("SELECT uniqExact(version) FROM {db}.schema_migrations")
            .await,
        history.len() as u64
    );
    setup.drop_database().await;
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct StoredEvent {
    id: String,
    event_type: String,
    event_time: u32,
    event_ms: u16,
    received_at: u32,
    seq: u32,
    is_bot: u8,
    bot_reasons: Vec<String>,
    decision: String,
    props: String,
    utm_campaign: String,
    title: String,
    session_seq: u32,
    page_categories: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_once_even_when_delivered_twice() {
    const N: u32 = 300;
    let setup = Setup::new().await;
    let producer = setup.producer();
    let events: Vec<EnrichedEvent> = (0..N).map(|i| event(Uuid::now_v7(), i)).collect();
    produce_events(&producer, &setup.topics.enriched, &events).await;

    let sink = RunningSink::start(setup.config()).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", N.into())
        .await;

    // Every field as stored, the event_id read back as text.
    let stored: Vec<StoredEvent> = setup
        .clickhouse()
        .query_raw(&render(
            "SELECT toString(event_id) AS id, event_type, toUInt32(event_time) AS event_time, event_ms, \
             toUInt32(received_at) AS received_at, seq, is_bot, bot_reasons, decision, props, utm_campaign, \
             title, session_seq, page_categories \
             FROM {db}.events FINAL ORDER BY seq",
            &setup.database,
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(stored.len(), N as usize);
    for (sent, row) in events.iter().zip(&stored) {
        let id = Uuid::from_slice(&sent.event_id).unwrap();
        assert_eq!(
            row.id,
            id.hyphenated().to_string(),
            "UUID byte order survives the round trip"
        );
        assert_eq!(
            i64::from(row.event_time) * 1000 + i64::from(row.event_ms),
            sent.event_time_ms
        );
        assert_eq!(i64::from(row.received_at), sent.received_at_ms / 1000);
        assert_eq!(row.seq, sent.seq);
        assert_eq!(row.event_type, sent.event_type);
        assert_eq!(
            (row.is_bot == 1, &row.bot_reasons),
            (sent.is_bot, &sent.bot_reasons)
        );
        let decision = if sent.decision == i32::from(Decision::Strip) {
            "strip"
        } else {
            "keep"
        };
        assert_eq!(row.decision, decision);
        assert_eq!(
            (row.props.as_str(), row.utm_campaign.as_str()),
            (sent.props_json.as_str(), "spring")
        );
        assert_eq!(
            (&row.title, row.session_seq, &row.page_categories),
            (&sent.title, sent.session_seq, &sent.page_categories)
        );
    }
    let by_id = format!(
        "SELECT count() FROM {{db}}.events WHERE event_id = toUUID('{}')",
        Uuid::from_slice(&events[7].event_id).unwrap()
    );
    assert_eq!(setup.count(&by_id).await, 1, "a UUID literal finds the row");

    // The same events again, then one fresh event per partition: once the
    // fresh ones are in, every duplicate before them was inserted too.
    produce_events(&producer, &setup.topics.enriched, &events).await;
    for partition in 0..PARTITIONS {
        let fresh = event(Uuid::now_v7(), N + 1).encode_to_vec();
        produce(
            &producer,
            &setup.topics.enriched,
            "demo:fresh",
            &fresh,
            Some(partition),
        )
        .await;
    }
    let total = u64::from(N) + u64::try_from(PARTITIONS).unwrap();
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", total)
        .await;
    assert_eq!(
        setup
            .count("SELECT uniqExact(event_id) FROM {db}.events")
            .await,
        total
    );
    // Merging collapses the stored duplicates for good.
    setup
        .clickhouse()
        .query_raw(&render("OPTIMIZE TABLE {db}.events FINAL", &setup.database))
        .execute()
        .await
        .unwrap();
    assert_eq!(setup.count("SELECT count() FROM {db}.events").await, total);

    let (status, metrics) = sink.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "fiducia_sink_rows_inserted_total",
        "fiducia_sink_insert_duration_seconds",
        "fiducia_sink_kafka_messages_consumed_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    sink.stop().await;
    setup.drop_database().await;
}

/// `FIDUCIA_CLICKHOUSE_COMPRESSION=lz4`: the same rows arrive through
/// LZ4-compressed `Native` inserts (`decompress=1`, which 18.16 reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_compressed_inserts_store_the_same_rows() {
    const N: u32 = 50;
    let setup = Setup::new().await;
    let events: Vec<EnrichedEvent> = (0..N).map(|i| event(Uuid::now_v7(), i)).collect();
    produce_events(&setup.producer(), &setup.topics.enriched, &events).await;
    let mut config = setup.config();
    config.clickhouse.compress = true;
    let sink = RunningSink::start(config).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", N.into())
        .await;
    let last = &events[usize::try_from(N - 1).unwrap()];
    let same = format!(
        "SELECT count() FROM {{db}}.events WHERE event_id = toUUID('{}') AND seq = {} AND props = '{}'",
        Uuid::from_slice(&last.event_id).unwrap(),
        last.seq,
        last.props_json.replace('\\', "\\\\").replace('\'', "\\'"),
    );
    assert_eq!(setup.count(&same).await, 1);
    sink.stop().await;
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dead_lettered_and_does_not_block_the_rest() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let (a, b) = (event(Uuid::now_v7(), 1), event(Uuid::now_v7(), 2));
    let garbage = b"\x08\x96\x01 this is not an EnrichedEvent \xff\xff".to_vec();
    // One key, so one partition: the garbage sits between the good ones.
    produce(
        &producer,
        &setup.topics.enriched,
        "demo:v1",
        &a.encode_to_vec(),
        None,
    )
    .await;
    let (partition, offset) =
        produce(&producer, &setup.topics.enriched, "demo:v1", &garbage, None).await;
    produce(
        &producer,
        &setup.topics.enriched,
        "demo:v1",
        &b.encode_to_vec(),
        None,
    )
    .await;

    let sink = RunningSink::start(setup.config()).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", 2)
        .await;

    let reader = consume::consumer(
        &ConsumerSettings {
            brokers: setup.infra.brokers.clone(),
            group_id: unique("dl-reader"),
            topic: setup.topics.deadletter.clone(),
            batch_max_messages: 1,
            batch_max_bytes: 1 << 20,
            batch_max_wait: Duration::from_millis(100),
            session_timeout: Duration::from_secs(10),
            rejoin_when_unassigned: None,
            read_ahead: false,
        },
        "sink-test-dl",
    )
    .unwrap();
    let message = tokio::time::timeout(WAIT, reader.recv())
        .await
        .expect("a dead letter within the wait")
        .unwrap();
    let letter = DeadLetter::decode(message.payload().unwrap()).unwrap();
    assert_eq!(letter.reason(), DeadLetterReason::Undecodable);
    assert_eq!(letter.stage, "sink");
    assert_eq!(
        (letter.topic.as_str(), letter.partition, letter.offset),
        (setup.topics.enriched.as_str(), partition, offset)
    );
    assert_eq!(letter.payload, garbage);
    assert_eq!(letter.key, b"demo:v1");
    let header = |name: &str| {
        message.headers().and_then(|h| {
            h.iter()
                .find(|x| x.key == name)
                .and_then(|x| x.value.map(<[u8]>::to_vec))
        })
    };
    assert_eq!(
        header(headers::SCHEMA).as_deref(),
        Some(headers::schema::DEAD_LETTER.as_bytes())
    );
    assert_eq!(header(headers::SITE).as_deref(), Some(&b"demo"[..]));

    let (_, metrics) = sink.get("/metrics").await;
    assert!(
        metrics.contains(r#"fiducia_sink_dead_letters_total{reason="undecodable"}"#),
        "{metrics}"
    );
    // The sink also stores the dead letter for analysts, without its payload.
    setup
        .wait_for_count(
            &format!(
                "SELECT count() FROM {{db}}.dead_letters WHERE stage = 'sink' AND reason = 'undecodable' \
                 AND site_id = 'demo' AND partition = {partition} AND offset = {offset} \
                 AND payload_bytes = {}",
                garbage.len()
            ),
            1,
        )
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, _) = sink.get("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sink.get("/healthz").await.0, 200);
    sink.stop().await;
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_upgrade_a_database_of_the_previous_version() {
    let setup = Setup::new().await;
    let client = setup.clickhouse();
    let previous = &MIGRATIONS[..MIGRATIONS.len() - 1];
    let applied = migrate_with(&client, &setup.database, previous)
        .await
        .unwrap();
    assert_eq!(applied.len(), previous.len());
    let (a, b) = tokio::join!(
        migrate_with(&client, &setup.database, MIGRATIONS),
        migrate_with(&client, &setup.database, MIGRATIONS),
    );
    let mut upgraded = [a.unwrap(), b.unwrap()].concat();
    upgraded.dedup();
    assert_eq!(
        upgraded,
        [MIGRATIONS.len() as u32],
        "only the newest version"
    );
    assert!(
        migrate_with(&client, &setup.database, MIGRATIONS)
            .await
            .unwrap()
            .is_empty()
    );
    setup.drop_database().await;
}
