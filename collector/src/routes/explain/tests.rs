//! Explain's answers for the consent states the gate knows.

use std::sync::Arc;

use actix_web::test;

use fiducia_proto::consent::Purpose;

use super::super::testing::{body, call, call_on, now};
use crate::consent::ledger::Ledger;
use crate::publish::memory::MemoryPublisher;

async fn explain(
    consent: &str,
    types: &[&str],
    headers: &[(&str, &str)],
) -> (serde_json::Value, Arc<MemoryPublisher>) {
    let publisher = Arc::new(MemoryPublisher::default());
    let response = call(
        &publisher,
        "/v1/consent/explain",
        &body(consent, types),
        headers,
    )
    .await;
    assert_eq!(response.status(), 200);
    (test::read_body_json(response).await, publisher)
}

#[actix_web::test]
async fn every_purpose_and_event_is_explained_in_the_spec_shape() {
    let consent = format!(
        r#"{{"measurement":"granted","updated_at":{}}}"#,
        now() - 1000
    );
    let (answer, _) = explain(&consent, &["page_view", "identify"], &[]).await;
    let m = &answer["purposes"]["measurement"];
    assert_eq!(m["granted"], true);
    assert_eq!(m["source"], "tag");
    assert!(m["reason"].as_str().unwrap().contains("granted by the tag"));
    assert_eq!(answer["purposes"]["necessary"]["source"], "exempt");
    assert_eq!(answer["purposes"]["contextual"]["granted"], false);
    assert_eq!(
        answer["purposes"]["contextual"]["reason"],
        "no signal: denied (fail closed)"
    );
    let events = answer["events"].as_array().unwrap();
    assert_eq!(events[0]["decision"], "keep");
    assert_eq!(events[0]["removed_fields"], serde_json::json!(["user_id"]));
    assert!(
        events[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "user_id removed: needs personalization")
    );
    assert_eq!(events[1]["decision"], "drop");
    assert_eq!(
        events[1]["reasons"][0],
        "needs personalization: denied (none: not_given)"
    );
}

#[actix_web::test]
async fn gpc_and_tc_strings_are_named_as_the_deciding_source() {
    let consent = format!(
        r#"{{"measurement":"granted","personalization":"granted","updated_at":{}}}"#,
        now() - 1000
    );
    let (answer, _) = explain(&consent, &["identify"], &[("Sec-GPC", "1")]).await;
    assert_eq!(answer["purposes"]["personalization"]["source"], "gpc");
    assert_eq!(answer["signals"]["gpc"], true);
    assert_eq!(answer["events"][0]["decision"], "drop");
    // `Sec-GPC` other than exactly "1" means nothing.
    let (answer, _) = explain(&consent, &["identify"], &[("Sec-GPC", "true")]).await;
    assert_eq!(answer["events"][0]["decision"], "keep");

    let stale =
        r#"{"measurement":"granted","tcf":"COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"}"#;
    let (answer, _) = explain(stale, &["page_view"], &[]).await;
    assert_eq!(answer["purposes"]["measurement"]["source"], "tcf");
    assert_eq!(answer["signals"]["tcf"]["outcome"], "not_service_specific");
    assert!(
        answer["purposes"]["measurement"]["reason"]
            .as_str()
            .unwrap()
            .contains("IsServiceSpecific")
    );
}

#[actix_web::test]
async fn explaining_has_no_side_effects() {
    let now = now();
    let consent = format!(r#"{{"measurement":"granted","updated_at":{}}}"#, now - 1000);
    let publisher = Arc::new(MemoryPublisher::default());
    let ledger = Arc::new(Ledger::default());
    let response = call_on(
        &publisher,
        &ledger,
        true,
        "/v1/consent/explain",
        &body(&consent, &["consent", "page_view"]),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(answer["events"][0]["decision"], "record");
    assert_eq!(answer["events"][1]["decision"], "keep");
    assert!(publisher.published().is_empty());
    assert!(publisher.records().is_empty());
    assert_eq!(ledger.subjects(), 0, "the ledger learnt nothing");
}

#[actix_web::test]
async fn explain_never_reveals_what_the_ledger_holds_about_a_visitor() {
    let now = now();
    let ledger = Arc::new(Ledger::default());
    let mut state = fiducia_proto::v1::ConsentSnapshot::default();
    Purpose::Measurement.set_in(&mut state, false);
    ledger.apply(&fiducia_proto::v1::ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: "v-1".into(),
        action: fiducia_proto::v1::ConsentAction::Erase.into(),
        state: Some(state),
        server_ts_ms: now - 5000,
        ..Default::default()
    });
    let consent = format!(r#"{{"measurement":"granted","updated_at":{}}}"#, now - 1000);
    let publisher = Arc::new(MemoryPublisher::default());
    let call = |path: &'static str| {
        let (publisher, ledger, body) = (&publisher, &ledger, body(&consent, &["page_view"]));
        async move { call_on(publisher, ledger, true, path, &body, &[]).await }
    };
    // /v1/events applies the erasure...
    let events = call("/v1/events").await;
    assert_eq!(
        events
            .headers()
            .get(super::super::events::DROPPED_HEADER)
            .unwrap(),
        "measurement:erased=1"
    );
    // ...explain, asked by anyone who knows the id, answers as for a stranger.
    let response = call("/v1/consent/explain").await;
    let answer: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(answer["events"][0]["decision"], "keep");
    assert_eq!(answer["purposes"]["measurement"]["source"], "tag");
    assert_eq!(answer["signals"]["ledger"]["consulted"], false);
    assert!(!answer.to_string().contains("erase"), "{answer}");
}

#[actix_web::test]
async fn explain_checks_the_sites_origins_like_events() {
    let consent = format!(
        r#"{{"measurement":"granted","updated_at":{}}}"#,
        now() - 1000
    );
    let publisher = Arc::new(MemoryPublisher::default());
    for path in ["/v1/events", "/v1/consent/explain"] {
        let response = call(
            &publisher,
            path,
            &body(&consent, &["page_view"]),
            &[("Origin", "https://evil.example")],
        )
        .await;
        assert_eq!(response.status(), 403, "{path}");
        let answer: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(answer["error"], "origin_not_allowed", "{path}");
    }
}
