//! Consent against the real broker and ClickHouse: records reach
//! `consent_log` through the sink, a withdrawal sent to one collector is
//! enforced by another through the consent topic, and a withdrawal refused
//! while the broker was down is recorded when retried.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fiducia_collector::Application;
use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::admin::retention_ms;
use fiducia_testkit::{PrivateInfra, free_port, infra, repo_root, unique};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tokio_util::sync::CancellationToken;

use crate::helpers::TestCollector;
use crate::processes::{ClickHouse, Service, wait_status};

/// An envelope from `visitor` with this consent state, chosen at
/// `updated_at`, carrying events of these types.
fn envelope(visitor: &str, granted: &[&str], updated_at: i64, types: &[&str]) -> String {
    let consent: Vec<String> = ["measurement", "personalization", "functional"]
        .iter()
        .map(|p| {
            let value = if granted.contains(p) {
                "granted"
            } else {
                "denied"
            };
            format!(r#""{p}":"{value}""#)
        })
        .collect();
    let now = fiducia_proto::time::now_ms();
    let events: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(seq, t)| {
            format!(
                r#"{{"id":"{}","type":"{t}","ts":{now},"seq":{seq},"props":{{}}}}"#,
                uuid::Uuid::now_v7()
            )
        })
        .collect();
    format!(
        r#"{{"site":"demo","sent_at":{now},
            "consent":{{{},"source":"api","notice_version":"2026-01","updated_at":{updated_at}}},
            "visitor":{{"id":"{visitor}"}},"context":{{"url":"https://shop.example/"}},
            "events":[{}]}}"#,
        consent.join(","),
        events.join(",")
    )
}

fn dropped(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("fiducia-dropped")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_sent_to_one_collector_is_enforced_by_another_within_5_seconds() {
    let first = TestCollector::spawn().await;
    let second = first.another().await;
    let visitor = unique("visitor");
    let granted_at = fiducia_proto::time::now_ms() - 60_000;

    let grant = envelope(&visitor, &["measurement"], granted_at, &["consent"]);
    assert_eq!(first.post(grant).await.status(), 204);
    // A tab that still holds the grant sends to the other instance.
    let stale = || envelope(&visitor, &["measurement"], granted_at, &["page_view"]);
    let response = second.post(stale()).await;
    assert_eq!(
        (response.status().as_u16(), dropped(&response)),
        (204, String::new())
    );

    let withdraw = envelope(&visitor, &[], fiducia_proto::time::now_ms(), &["consent"]);
    assert_eq!(first.post(withdraw).await.status(), 204);
    let withdrawn = Instant::now();
    // The instance that took the withdrawal enforces it at once.
    assert_eq!(
        dropped(&first.post(stale()).await),
        "measurement:withdrawn=1"
    );
    loop {
        let response = second.post(stale()).await;
        assert_eq!(response.status(), 204);
        if dropped(&response) == "measurement:withdrawn=1" {
            break;
        }
        assert!(
            withdrawn.elapsed() < Duration::from_secs(5),
            "the other collector still accepts the withdrawn visitor's events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = withdrawn.elapsed();
    println!(
        "consent: a withdrawal on one collector was enforced by another after {} ms",
        took.as_millis()
    );
    let metrics = second.metrics().await;
    assert!(
        metrics.contains("fiducia_collector_consent_ledger_records_total{outcome=\"applied\"}"),
        "{metrics}"
    );
}

/// Explain publishes nothing and records nothing: after explaining a
/// consent event and a page view, then posting one of each for real, the
/// topics hold only the real ones and no collector's ledger learnt the
/// explained visitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_leaves_no_trace_in_the_topics_or_the_ledger() {
    let collector = TestCollector::spawn().await;
    let now = fiducia_proto::time::now_ms();
    let explained = unique("explained");
    let body = envelope(&explained, &["measurement"], now, &["consent", "page_view"]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/consent/explain", collector.url))
        .header("origin", crate::helpers::ORIGIN)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let real = unique("real");
    let body = envelope(&real, &["measurement"], now, &["consent", "page_view"]);
    assert_eq!(collector.post(body).await.status(), 204);
    for topic in [&collector.topics.raw, &collector.topics.consent] {
        let messages = collector.read_topic(topic, 2).await;
        assert_eq!(
            messages.len(),
            1,
            "{topic}: only the real request's message"
        );
        let key = std::str::from_utf8(rdkafka::Message::key(&messages[0]).unwrap()).unwrap();
        assert!(key.contains(&real), "{topic}: {key}");
    }
    // A collector started now reads the consent topic: nothing of the
    // explained visitor, so its stale grant is simply judged on its own.
    let other = collector.another().await;
    let stale = envelope(&explained, &["measurement"], now, &["page_view"]);
    assert_eq!(dropped(&other.post(stale).await), "");
}

/// A sink on `brokers` and `topics` writing to a database of its own in
/// `clickhouse_url`; ready when returned.
async fn start_sink(
    brokers: &str,
    clickhouse_url: &str,
    topics: &Topics,
) -> (Service, ClickHouse, String) {
    let database = unique("consent").replace('-', "_");
    let sink_admin = free_port();
    let env: HashMap<String, String> = [
        ("FIDUCIA_KAFKA_BROKERS", brokers.to_owned()),
        (
            "FIDUCIA_SITES_FILE",
            repo_root().join("deploy/sites.toml").display().to_string(),
        ),
        ("FIDUCIA_CLICKHOUSE_URL", clickhouse_url.to_owned()),
        ("FIDUCIA_CLICKHOUSE_DATABASE", database.clone()),
        ("FIDUCIA_TOPIC_RAW", topics.raw.clone()),
        ("FIDUCIA_TOPIC_ENRICHED", topics.enriched.clone()),
        ("FIDUCIA_TOPIC_CONSENT", topics.consent.clone()),
        ("FIDUCIA_TOPIC_PRIVACY", topics.privacy.clone()),
        ("FIDUCIA_TOPIC_DEADLETTER", topics.deadletter.clone()),
        ("FIDUCIA_SINK_GROUP_ID", unique("sink")),
        ("FIDUCIA_SINK_ADMIN_ADDR", format!("127.0.0.1:{sink_admin}")),
        ("FIDUCIA_SINK_BATCH_MAX_WAIT_MS", "100".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sink = Service::start("sink", &env);
    let client = reqwest::Client::new();
    wait_status(
        &client,
        &format!("http://127.0.0.1:{sink_admin}/readyz"),
        200,
        Duration::from_secs(60),
    )
    .await;
    let clickhouse = ClickHouse {
        url: clickhouse_url.to_owned(),
        client,
    };
    (sink, clickhouse, database)
}

/// Waits until `query` answers `expected` (30 s at most).
async fn wait_rows(clickhouse: &ClickHouse, query: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let rows = clickhouse.query(query).await;
        if rows == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{query}\nholds:\n{rows}\nwanted:\n{expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_withdrawals_and_gpc_objections_land_in_consent_log() {
    let collector = TestCollector::spawn().await;
    let (_sink, clickhouse, database) = start_sink(
        &collector.brokers,
        &infra().clickhouse_url,
        &collector.topics,
    )
    .await;

    let now = fiducia_proto::time::now_ms();
    let both = ["measurement", "personalization"];
    let steps = [
        // A grant, then a withdrawal of personalization, by visitor a.
        (envelope("visitor-a", &both, now - 3000, &["consent"]), None),
        (
            envelope("visitor-a", &["measurement"], now - 2000, &["consent"]),
            None,
        ),
        // Visitor b grants both, then browses with GPC on.
        (envelope("visitor-b", &both, now - 1000, &["consent"]), None),
        (
            envelope("visitor-b", &both, now - 1000, &["page_view"]),
            Some(("Sec-GPC", "1")),
        ),
    ];
    for (body, header) in steps {
        let response = collector.post_with(body, header.as_slice()).await;
        assert_eq!(response.status(), 204);
    }

    let query = format!(
        "SELECT subject, action, source, measurement, personalization, gpc, notice_version, ip_prefix != '' \
         FROM {database}.consent_log FINAL ORDER BY subject, server_time, server_ms FORMAT TSV"
    );
    let expected = "\
visitor-a\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-a\twithdraw\ttag:api\t1\t0\t0\t2026-01\t1
visitor-b\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-b\tobject\tgpc\t1\t0\t1\t2026-01\t1";
    wait_rows(&clickhouse, &query, expected).await;
    clickhouse
        .query(&format!("DROP DATABASE IF EXISTS {database}"))
        .await;
}

/// A withdrawal answered `503` because the broker was down is not lost:
/// retried once the broker is back, it is recorded (one `withdraw` row in
/// `consent_log`), enforced at once by the collector that took it, and by a
/// collector started afterwards from the consent topic alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_refused_with_503_is_recorded_when_retried() {
    let infra = PrivateInfra::start();
    // The default names: `up --infra` recreates them on the restarted broker.
    let topics = Topics::default();
    let brokers = infra.infra.brokers.clone();
    let first = TestCollector::spawn_at(&brokers, topics.clone(), |_| {}).await;
    let visitor = unique("visitor");
    let granted_at = fiducia_proto::time::now_ms() - 60_000;
    let grant = envelope(&visitor, &["measurement"], granted_at, &["consent"]);
    assert_eq!(first.post(grant).await.status(), 204);

    infra.script("down", &["kafka"]);
    let probe = || {
        envelope(
            "probe",
            &["measurement"],
            fiducia_proto::time::now_ms(),
            &["page_view"],
        )
    };
    let started = Instant::now();
    while first.post(probe()).await.status() != 503 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still 204 with the broker down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let withdraw = envelope(&visitor, &[], fiducia_proto::time::now_ms(), &["consent"]);
    assert_eq!(first.post(withdraw.clone()).await.status(), 503);

    infra.script("up", &["--infra"]);
    let started = Instant::now();
    loop {
        let status = first.post(withdraw.clone()).await.status();
        if status == 204 {
            break;
        }
        assert_eq!(status, 503, "only 503 while the broker recovers");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the retry is still refused"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stale = || envelope(&visitor, &["measurement"], granted_at, &["page_view"]);
    assert_eq!(
        dropped(&first.post(stale()).await),
        "measurement:withdrawn=1"
    );
    let second = TestCollector::spawn_at(&brokers, topics.clone(), |_| {}).await;
    assert_eq!(
        dropped(&second.post(stale()).await),
        "measurement:withdrawn=1"
    );

    let (_sink, clickhouse, database) =
        start_sink(&brokers, &infra.infra.clickhouse_url, &topics).await;
    let query = format!(
        "SELECT action, source, measurement FROM {database}.consent_log FINAL \
         WHERE subject = '{visitor}' AND action = 'withdraw' FORMAT TSV"
    );
    wait_rows(&clickhouse, &query, "withdraw\ttag:api\t0").await;
}

/// The consent topic is created never to expire, and a collector refuses to
/// start on a consent topic that expires records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_topic_never_expires() {
    let collector = TestCollector::spawn().await;
    let retention = retention_ms(&collector.brokers, &collector.topics.consent)
        .await
        .expect("the broker describes the topic");
    assert_eq!(retention.as_deref(), Some("-1"));

    let topics = Topics::with_suffix(&unique("expiring"));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &collector.brokers)
        .create()
        .unwrap();
    let week = NewTopic::new(&topics.consent, 2, TopicReplication::Fixed(1))
        .set("retention.ms", "604800000");
    for result in admin
        .create_topics(&[week], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
    let refused = Application::build(
        crate::helpers::config(&collector.brokers, topics),
        CancellationToken::new(),
    )
    .await;
    let error = refused
        .err()
        .expect("a collector on an expiring consent topic")
        .to_string();
    assert!(error.contains("retention.ms=604800000"), "{error}");
}
