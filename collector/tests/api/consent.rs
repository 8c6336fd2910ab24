//! Consent against the real broker and ClickHouse: records reach
//! `consent_log` through the sink, and a withdrawal sent to one collector is
//! enforced by another through the consent topic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fiducia_proto::testkit::{free_port, infra, unique};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_withdrawals_and_gpc_objections_land_in_consent_log() {
    let collector = TestCollector::spawn().await;
    let database = unique("consent").replace('-', "_");
    let sink_admin = free_port();
    let topics = &collector.topics;
    let env: HashMap<String, String> = [
        ("FIDUCIA_KAFKA_BROKERS", collector.brokers.clone()),
        ("FIDUCIA_CLICKHOUSE_URL", infra().clickhouse_url.clone()),
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
    let _sink = Service::start("sink", &env);
    let client = reqwest::Client::new();
    wait_status(
        &client,
        &format!("http://127.0.0.1:{sink_admin}/readyz"),
        200,
        Duration::from_secs(60),
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

    let clickhouse = ClickHouse {
        url: infra().clickhouse_url.clone(),
        client,
    };
    let query = format!(
        "SELECT subject, action, source, measurement, personalization, gpc, notice_version, ip_prefix != '' \
         FROM {database}.consent_log FINAL ORDER BY subject, server_time, server_ms FORMAT TSV"
    );
    let expected = "\
visitor-a\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-a\twithdraw\ttag:api\t1\t0\t0\t2026-01\t1
visitor-b\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-b\tobject\tgpc\t1\t0\t1\t2026-01\t1";
    let started = Instant::now();
    loop {
        let rows = clickhouse.query(&query).await;
        if rows == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "consent_log holds:\n{rows}\nwanted:\n{expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    clickhouse
        .query(&format!("DROP DATABASE IF EXISTS {database}"))
        .await;
}
