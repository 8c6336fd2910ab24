//! `GET /v1/profile` against the real broker: a profile produced to the
//! profiles topic is served as personal within 2 s to a visitor whose
//! ledger grants personalization; a tombstone makes the next answer
//! contextual; a withdrawal made in the privacy center makes the next
//! answer contextual at once and drops the profile from the store.

use std::time::{Duration, Instant};

use fiducia_proto::v1::{Interest, Profile};
use fiducia_testkit::envelopes::ORIGIN;
use prost::Message;
use rdkafka::producer::FutureRecord;
use serde_json::Value;

use crate::helpers::TestCollector;

async fn profile(collector: &TestCollector, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/profile/demo?path=/p/shoes/runner-2",
            collector.url
        ))
        .bearer_auth(token)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Asks until the answer is of `kind`, for at most `within`; the last answer
/// and how long it took.
async fn until_kind(
    collector: &TestCollector,
    token: &str,
    kind: &str,
    within: Duration,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let answer = profile(collector, token).await;
        if answer["kind"] == kind || started.elapsed() > within {
            return (answer, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn produce(collector: &TestCollector, key: &str, payload: Option<&[u8]>) {
    let producer = fiducia_testkit::producer(&collector.brokers, "profile-test");
    let mut record = FutureRecord::<str, [u8]>::to(&collector.topics.profiles).key(key);
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .expect("the broker takes the profile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_served_within_two_seconds_and_forgotten_on_tombstone_or_withdrawal() {
    // Installed before the collector makes its gauges (main does it first).
    fiducia_runtime::service::admin::prometheus();
    let collector = TestCollector::spawn().await;
    let (visitor, token) = collector.issued().await;
    let now = fiducia_proto::time::now_ms();
    let key = format!("demo/{visitor}");
    let record = Profile {
        site_id: "demo".into(),
        visitor_id: visitor.clone(),
        interests: vec![Interest {
            category: "shoes".into(),
            score: 2.0,
            last_seen_ms: now,
        }],
        scores_at_ms: now,
        recent_items: vec!["runner-2".into()],
        events: 2,
        sessions: 1,
        updated_at_ms: now,
        begun_at_ms: now,
        ..Profile::default()
    }
    .encode_to_vec();
    let before = profile(&collector, &token).await;
    assert_eq!(before["kind"], "contextual", "{before}");

    produce(&collector, &key, Some(&record)).await;
    let (answer, took) = until_kind(&collector, &token, "personal", Duration::from_secs(2)).await;
    assert_eq!(
        answer["kind"], "personal",
        "not personal after {took:?}: {answer}"
    );
    assert_eq!(answer["interests"][0]["category"], "shoes");
    assert_eq!(answer["consent"]["purpose"], "personalization");

    // The enricher forgets the visitor: a tombstone.
    produce(&collector, &key, None).await;
    let (answer, took) = until_kind(&collector, &token, "contextual", Duration::from_secs(2)).await;
    assert_eq!(
        answer["kind"], "contextual",
        "still personal after {took:?}"
    );
    assert_eq!(answer["basis"], "no_profile");

    // Back, then withdrawn in the privacy center: contextual at once.
    produce(&collector, &key, Some(&record)).await;
    let (answer, _) = until_kind(&collector, &token, "personal", Duration::from_secs(2)).await;
    assert_eq!(answer["kind"], "personal");
    let held = |metrics: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("fiducia_collector_profiles_held ")?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(-1.0)
    };
    assert_eq!(held(&collector.metrics().await), 1.0);
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/privacy/demo/{visitor}/consent",
            collector.url
        ))
        .bearer_auth(&token)
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(r#"{"personalization":"denied"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer = profile(&collector, &token).await;
    assert_eq!(
        (answer["kind"].as_str(), answer["basis"].as_str()),
        (Some("contextual"), Some("not_granted"))
    );
    // A refusal (an unknown site) is counted as an answer of kind `none`.
    let refused = reqwest::Client::new()
        .get(format!("{}/v1/profile/nowhere?path=/", collector.url))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let metrics = collector.metrics().await;
    assert_eq!(held(&metrics), 0.0, "the profile is gone from the store");
    assert!(metrics.contains("fiducia_collector_profile_requests_total{answer=\"personal\"}"));
    assert!(metrics.contains("fiducia_collector_profile_requests_total{answer=\"none\"} 1"));
    assert!(metrics.contains("fiducia_collector_profile_freshness_seconds"));
}
