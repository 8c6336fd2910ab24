//! Consent records reach `consent_log` through the sink, including a
//! withdrawal that was refused with `503` while the broker was down and
//! retried once it was back, and the records of a visitor id the collector
//! issued and of a change made in the privacy center.

use std::time::{Duration, Instant};

use crate::stack::Stack;
use fiducia_proto::time::now_ms;
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::{choice, dropped, issue};
use fiducia_testkit::{PrivateInfra, eventually, infra, unique};

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_withdrawals_and_gpc_objections_land_in_consent_log() {
    let stack = Stack::new(infra(), Topics::with_suffix(&unique("consent")));
    let collector = stack.collector().await;
    let _sink = stack.sink().await;

    let now = now_ms();
    let both = ["measurement", "personalization"];
    let steps = [
        // A grant, then a withdrawal of personalization, by visitor a.
        (choice("visitor-a", &both, now - 3000, &["consent"]), None),
        (
            choice("visitor-a", &["measurement"], now - 2000, &["consent"]),
            None,
        ),
        // Visitor b grants both, then browses with GPC on.
        (choice("visitor-b", &both, now - 1000, &["consent"]), None),
        (
            choice("visitor-b", &both, now - 1000, &["page_view"]),
            Some(("Sec-GPC", "1")),
        ),
    ];
    for (body, header) in steps {
        let response = collector.post(body, header.as_slice()).await;
        assert_eq!(response.status(), 204);
    }

    let query = format!(
        "SELECT subject, action, source, measurement, personalization, gpc, notice_version, ip_prefix != '' \
         FROM `{}`.consent_log FINAL ORDER BY subject, server_time, server_ms FORMAT TSV",
        stack.database
    );
    let expected = "\
visitor-a\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-a\twithdraw\ttag:api\t1\t0\t0\t2026-01\t1
visitor-b\tgrant\ttag:api\t1\t1\t0\t2026-01\t1
visitor-b\tobject\tgpc\t1\t0\t1\t2026-01\t1";
    stack.clickhouse.wait_for(&query, expected, WITHIN).await;
    stack.drop_database().await;
}

/// A visitor id the collector issued has its records in `consent_log`
/// from its first (the choice it was issued under), and a change made in
/// the privacy center lands there like any other, as the visitor's proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_visitors_records_and_a_change_in_the_privacy_center_land_in_consent_log() {
    let stack = Stack::new(infra(), Topics::with_suffix(&unique("privacy")));
    let collector = stack.collector().await;
    let _sink = stack.sink().await;

    let body = issue(
        &["measurement", "personalization"],
        now_ms() - 1000,
        &["page_view"],
    );
    let response = collector.post(body, &[]).await;
    assert_eq!(response.status(), 204);
    let issued: serde_json::Value =
        serde_json::from_str(response.headers()["fiducia-visitor"].to_str().unwrap()).unwrap();
    let (visitor, token) = (
        issued["id"].as_str().unwrap(),
        issued["t"].as_str().unwrap(),
    );
    let change = reqwest::Client::new()
        .post(format!(
            "{}/v1/privacy/demo/{visitor}/consent",
            collector.url
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"personalization":"denied"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), 200);

    let query = format!(
        "SELECT action, source, measurement, personalization \
         FROM `{}`.consent_log FINAL WHERE subject = '{visitor}' ORDER BY server_time, server_ms FORMAT TSV",
        stack.database
    );
    let expected = "grant\ttag:api\t1\t1\nwithdraw\tprivacy:center\t1\t0";
    stack.clickhouse.wait_for(&query, expected, WITHIN).await;
    stack.drop_database().await;
}

/// A withdrawal answered `503` because the broker was down is not lost:
/// retried once the broker is back, it is recorded (one `withdraw` row in
/// `consent_log`), enforced at once by the collector that took it, and by a
/// collector started afterwards from the consent topic alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_refused_with_503_is_recorded_when_retried() {
    let infra = PrivateInfra::start();
    // The default names: `up --infra` recreates them on the restarted broker.
    let stack = Stack::new(&infra.infra, Topics::default());
    let first = stack.collector().await;
    let visitor = unique("visitor");
    let granted_at = now_ms() - 60_000;
    let grant = choice(&visitor, &["measurement"], granted_at, &["consent"]);
    assert_eq!(first.post(grant, &[]).await.status(), 204);

    infra.script("down", &["kafka"]);
    let probe = || choice("probe", &["measurement"], now_ms(), &["page_view"]);
    eventually(
        "a 503 with the broker down",
        Duration::from_secs(20),
        || async {
            match first.post(probe(), &[]).await.status().as_u16() {
                503 => Ok(()),
                other => Err(format!("answering {other}")),
            }
        },
    )
    .await;
    let withdraw = choice(&visitor, &[], now_ms(), &["consent"]);
    assert_eq!(first.post(withdraw.clone(), &[]).await.status(), 503);

    infra.script("up", &["--infra"]);
    let started = Instant::now();
    eventually("the retried withdrawal accepted", WITHIN, || async {
        match first.post(withdraw.clone(), &[]).await.status().as_u16() {
            204 => Ok(()),
            503 => Err("503".to_owned()),
            other => panic!("only 503 while the broker recovers, not {other}"),
        }
    })
    .await;
    println!(
        "broker back: the withdrawal was accepted after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stale = || choice(&visitor, &["measurement"], granted_at, &["page_view"]);
    let answer = first.post(stale(), &[]).await;
    assert_eq!(dropped(answer.headers()), "measurement:withdrawn=1");
    let second = stack.collector().await;
    let answer = second.post(stale(), &[]).await;
    assert_eq!(dropped(answer.headers()), "measurement:withdrawn=1");

    let _sink = stack.sink().await;
    let query = format!(
        "SELECT action, source, measurement FROM `{}`.consent_log FINAL \
         WHERE subject = '{visitor}' AND action = 'withdraw' FORMAT TSV",
        stack.database
    );
    stack
        .clickhouse
        .wait_for(&query, "withdraw\ttag:api\t0", WITHIN)
        .await;
}
