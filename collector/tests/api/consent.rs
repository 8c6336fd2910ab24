//! Consent against the real broker: a withdrawal sent to one collector is
//! enforced by another through the consent topic, explain leaves no trace,
//! and the consent topic never expires. (That records reach `consent_log`,
//! also after a `503` and a retry, is shown with the sink in `deploy/tests`.)

use std::time::{Duration, Instant};

use fiducia_collector::Application;
use fiducia_proto::topics::Topics;
use fiducia_runtime::kafka::admin::retention_ms;
use fiducia_testkit::envelopes::{choice, dropped};
use fiducia_testkit::unique;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tokio_util::sync::CancellationToken;

use crate::helpers::TestCollector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_sent_to_one_collector_is_enforced_by_another_within_5_seconds() {
    let first = TestCollector::spawn().await;
    let second = first.another().await;
    let visitor = unique("visitor");
    let granted_at = fiducia_proto::time::now_ms() - 60_000;

    let grant = choice(&visitor, &["measurement"], granted_at, &["consent"]);
    assert_eq!(first.post(grant).await.status(), 204);
    // A tab that still holds the grant sends to the other instance.
    let stale = || choice(&visitor, &["measurement"], granted_at, &["page_view"]);
    let response = second.post(stale()).await;
    assert_eq!(
        (response.status().as_u16(), dropped(response.headers())),
        (204, String::new())
    );

    let withdraw = choice(&visitor, &[], fiducia_proto::time::now_ms(), &["consent"]);
    assert_eq!(first.post(withdraw).await.status(), 204);
    let withdrawn = Instant::now();
    // The instance that took the withdrawal enforces it at once.
    assert_eq!(
        dropped(first.post(stale()).await.headers()),
        "measurement:withdrawn=1"
    );
    loop {
        let response = second.post(stale()).await;
        assert_eq!(response.status(), 204);
        if dropped(response.headers()) == "measurement:withdrawn=1" {
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
    let body = choice(&explained, &["measurement"], now, &["consent", "page_view"]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/consent/explain", collector.url))
        .header("origin", crate::helpers::ORIGIN)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let real = unique("real");
    let body = choice(&real, &["measurement"], now, &["consent", "page_view"]);
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
    let stale = choice(&explained, &["measurement"], now, &["page_view"]);
    assert_eq!(dropped(other.post(stale).await.headers()), "");
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
