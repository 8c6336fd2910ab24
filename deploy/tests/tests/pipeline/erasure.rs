//! The visitors' rights through the whole pipeline (issue 17): two visitors
//! browse with every purpose granted; the sink is stopped, both keep
//! browsing (their events wait in Kafka), one of them erases their data in
//! the privacy center, and the sink comes back. Then:
//!
//! * a second collector drops the erased visitor's new events within a
//!   second of the answer (its ledger follows the consent topic);
//! * none of the erased visitor's events still in Kafka reaches ClickHouse,
//!   and every table and view that held them (`fiducia_proto::privacy::HOLDERS`)
//!   has zero rows of them once `privacy_requests` says `verified`, after
//!   `received`, `enforced` and `deleted`;
//! * their consent records are kept as proof, pseudonymised;
//! * the other visitor is untouched: every event stored, exactly once, and
//!   their export (admin API) holds exactly their rows and nobody else's.

use std::time::{Duration, Instant};

use fiducia_proto::privacy::{HOLDERS, OnErasure};
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::{ORIGIN, dropped};
use fiducia_testkit::{infra, unique};
use serde_json::Value;

use crate::stack::{Running, Stack};

const ADMIN_SECRET: &str = "pipeline-test-admin-secret";

/// A person's browser: bots get no profile.
const BROWSER: &[(&str, &str)] = &[("user-agent", fiducia_testkit::raw::CHROME)];

/// `count` page views of product pages from `visitor` (measurement and
/// personalization granted a minute ago), or from a tag asking for an id
/// when `visitor` is `None`.
fn page_views(visitor: Option<&str>, count: usize) -> String {
    let now = fiducia_proto::time::now_ms();
    let events: Vec<String> = (0..count)
        .map(|seq| {
            format!(
                r#"{{"id":"{}","type":"page_view","ts":{now},"seq":{seq},"props":{{}}}}"#,
                uuid::Uuid::now_v7()
            )
        })
        .collect();
    let visitor = visitor.map_or_else(
        || r#"{"issue":true}"#.to_owned(),
        |id| format!(r#"{{"id":"{id}"}}"#),
    );
    format!(
        r#"{{"site":"demo","sent_at":{now},
            "consent":{{"measurement":"granted","personalization":"granted","functional":"denied",
                        "source":"api","notice_version":"2026-01","updated_at":{}}},
            "visitor":{visitor},
            "context":{{"url":"https://shop.example/p/{count}","title":"Red shoes"}},
            "events":[{}]}}"#,
        now - 60_000,
        events.join(",")
    )
}

/// A visitor the collector issues an id to, with a first page view: its id
/// and privacy token.
async fn issued(collector: &Running) -> (String, String) {
    let response = collector.post(page_views(None, 1), BROWSER).await;
    assert_eq!(response.status(), 204);
    let header = response
        .headers()
        .get("fiducia-visitor")
        .expect("an id is issued");
    let issued: Value = serde_json::from_str(header.to_str().unwrap()).unwrap();
    (
        issued["id"].as_str().unwrap().to_owned(),
        issued["t"].as_str().unwrap().to_owned(),
    )
}

/// Posts `count` page views of `visitor`; whether they were all accepted.
async fn browse(collector: &Running, visitor: &str, count: usize) -> bool {
    let response = collector
        .post(page_views(Some(visitor), count), BROWSER)
        .await;
    assert_eq!(response.status(), 204);
    dropped(response.headers()).is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_reaches_every_table_and_spares_the_other_visitor() {
    let infra = infra();
    let stack = Stack::new(infra, Topics::with_suffix(&unique("erasure")))
        .with_env("FIDUCIA_COLLECTOR_ADMIN_SECRET", ADMIN_SECRET);
    let first = stack.collector().await;
    let second = stack.collector().await;
    let _enricher = stack.enricher().await;
    let mut sink = stack.sink().await;
    let db = stack.database.clone();
    let count = |table: &str, column: &str, visitor: &str| {
        format!("SELECT count() FROM `{db}`.`{table}` WHERE {column} = '{visitor}'")
    };
    let within = Duration::from_secs(90);

    let (gone, token) = issued(&first).await;
    let (kept, _) = issued(&first).await;
    assert!(browse(&first, &gone, 5).await && browse(&first, &kept, 5).await);
    for visitor in [&gone, &kept] {
        let events = count("events", "visitor_id", visitor);
        stack.clickhouse.wait_for_count(&events, 6, within).await;
        let profile = count("profile_events", "visitor_id", visitor);
        stack.clickhouse.wait_for_count(&profile, 6, within).await;
    }

    // The sink stops; both keep browsing: these events wait in Kafka.
    sink.process.kill_9();
    assert!(browse(&second, &gone, 7).await && browse(&second, &kept, 7).await);

    let erase = reqwest::Client::new()
        .post(format!("{}/v1/privacy/demo/{gone}/erase", first.url))
        .bearer_auth(&token)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    let answered = Instant::now();
    assert_eq!(erase.status(), 202);
    let erase: Value = erase.json().await.unwrap();
    let request_id = erase["request_id"].as_str().unwrap().to_owned();
    // Every collector drops the erased visitor's new events at once.
    while browse(&second, &gone, 1).await {
        assert!(
            answered.elapsed() < Duration::from_secs(5),
            "the second collector still accepts the erased visitor"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let denied_after = answered.elapsed();
    let response = second.post(page_views(Some(&gone), 2), BROWSER).await;
    assert_eq!(dropped(response.headers()), "measurement:erased=2");

    sink.restart().await;
    let status = format!(
        "SELECT arrayStringConcat(groupArray(status), ',') FROM \
         (SELECT status FROM `{db}`.privacy_requests FINAL WHERE request_id = '{request_id}' \
          ORDER BY updated_at, updated_ms, \
                   indexOf(['received', 'enforced', 'deleted', 'verified'], status))"
    );
    eventually_verified(&stack, &status, within).await;
    let verified_after = answered.elapsed();

    for holder in HOLDERS {
        let rows = count(holder.name, holder.visitor_column, &gone);
        let left = stack.clickhouse.query_u64(&rows).await;
        match holder.on_erasure {
            OnErasure::Delete | OnErasure::Follows | OnErasure::Pseudonymise => {
                assert_eq!(left, 0, "{} still holds the erased visitor", holder.name);
            }
            OnErasure::Keep => assert!(left > 0, "the request itself is kept"),
        }
    }
    let proof = format!(
        "SELECT count() FROM `{db}`.consent_log \
         WHERE subject = concat('erased:', lower(hex(SHA256(concat('demo', '\\0', '{gone}'))))) \
           AND action != 'erase'"
    );
    assert!(
        stack.clickhouse.query_u64(&proof).await >= 1,
        "the erased visitor's consent is kept as proof, pseudonymised"
    );
    // The other visitor: every event, once (a redelivered batch collapses).
    let events = format!("SELECT count() FROM `{db}`.events FINAL WHERE visitor_id = '{kept}'");
    stack.clickhouse.wait_for_count(&events, 13, within).await;
    let distinct =
        format!("SELECT uniqExact(event_id) FROM `{db}`.events WHERE visitor_id = '{kept}'");
    assert_eq!(stack.clickhouse.query_u64(&distinct).await, 13);

    // The export of the other visitor: exactly their rows.
    let export: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/admin/demo/export?visitor_id={kept}",
            first.url
        ))
        .bearer_auth(ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("the export is one JSON document");
    assert_eq!(export["format"], "fiducia.export");
    let rows = &export["tables"]["events"]["data"];
    assert_eq!(rows.as_array().unwrap().len(), 13);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|row| row["visitor_id"] == kept.as_str()),
        "nobody else's rows"
    );
    assert!(!export.to_string().contains(&gone));
    println!(
        "erasure: new events denied by another collector {} ms after the answer; \
         verified gone from every table {:.1} s after it",
        denied_after.as_millis(),
        verified_after.as_secs_f64()
    );
    stack.drop_database().await;
}

/// Waits until the request's states are `received,enforced,deleted,verified`.
async fn eventually_verified(stack: &Stack, status: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let states = stack.clickhouse.query(status).await;
        if states.trim() == "received,enforced,deleted,verified" {
            return;
        }
        assert!(
            started.elapsed() < within,
            "the erasure's states after {within:?}: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
