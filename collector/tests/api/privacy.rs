//! The privacy center against the real broker: the history shows every
//! record a visitor made, in order, on any collector and on one started
//! afterwards (rebuilt from the consent topic); a change made on one
//! collector is enforced by another; a receipt verifies offline with the
//! key another collector publishes, and not after one byte of the record
//! changed.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use fiducia_proto::v1::ConsentRecord;
use fiducia_testkit::envelopes::{ORIGIN, choice, dropped};
use prost::Message;
use serde_json::Value;

use crate::helpers::TestCollector;

async fn get(collector: &TestCollector, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", collector.url))
        .bearer_auth(token)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap()
}

async fn change(collector: &TestCollector, visitor: &str, token: &str, body: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1/privacy/demo/{visitor}/consent",
            collector.url
        ))
        .bearer_auth(token)
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn history(collector: &TestCollector, visitor: &str, token: &str) -> Vec<Value> {
    let response = get(
        collector,
        &format!("/v1/privacy/demo/{visitor}/history"),
        token,
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["records"].as_array().unwrap().clone()
}

/// The visitor's records as the consent topic holds them, in the order a
/// collector received them.
async fn topic_records(
    collector: &TestCollector,
    visitor: &str,
    at_least: usize,
) -> Vec<ConsentRecord> {
    let decode = |messages: &[rdkafka::message::OwnedMessage]| -> Vec<ConsentRecord> {
        let mut records: Vec<ConsentRecord> = messages
            .iter()
            .filter_map(|m| {
                rdkafka::Message::payload(m).and_then(|p| ConsentRecord::decode(p).ok())
            })
            .filter(|r| r.subject == visitor)
            .collect();
        records.sort_by_key(|r| (r.server_ts_ms, r.record_id.clone()));
        records
    };
    let messages = fiducia_testkit::read_topic(
        &collector.brokers,
        &collector.topics.consent,
        Duration::from_secs(20),
        |m| decode(m).len() >= at_least,
    )
    .await;
    decode(&messages)
}

fn uuid(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_shows_every_record_in_order_on_any_collector_and_after_a_restart() {
    let first = TestCollector::spawn().await;
    let (visitor, token) = first.issued().await;
    let now = fiducia_proto::time::now_ms;
    // The tag withdraws personalization, the center grants functional, the tag grants everything.
    let withdraw = choice(&visitor, &["measurement"], now(), &["consent"]);
    assert_eq!(first.post(withdraw).await.status(), 204);
    change(&first, &visitor, &token, r#"{"functional":"granted"}"#).await;
    let all = choice(
        &visitor,
        &["measurement", "personalization", "functional"],
        now(),
        &["consent"],
    );
    assert_eq!(first.post(all).await.status(), 204);

    let topic = topic_records(&first, &visitor, 4).await;
    let expected: Vec<(String, String)> = topic
        .iter()
        .map(|r| (uuid(&r.record_id), r.source.clone()))
        .collect();
    assert_eq!(expected.len(), 4, "{expected:?}");
    let shown = |records: &[Value]| -> Vec<(String, String)> {
        records
            .iter()
            .map(|r| {
                (
                    r["record_id"].as_str().unwrap().to_owned(),
                    r["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let on_first = history(&first, &visitor, &token).await;
    assert_eq!(
        shown(&on_first),
        expected,
        "every record, in the order received"
    );
    let actions: Vec<&str> = on_first
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant", "withdraw", "grant", "grant"]);
    assert_eq!(
        on_first[1]["changes"],
        serde_json::json!({"personalization": "withdrawn"})
    );
    assert_eq!(on_first[2]["source"], "privacy:center");

    // A collector started now (another instance, or this one restarted)
    // holds the same history once ready: rebuilt from the consent topic.
    let second = first.another().await;
    assert_eq!(shown(&history(&second, &visitor, &token).await), expected);
    drop(first);
    let third = second.another().await;
    assert_eq!(shown(&history(&third, &visitor, &token).await), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_the_center_of_one_collector_is_enforced_by_another() {
    let first = TestCollector::spawn().await;
    let second = first.another().await;
    let (visitor, token) = first.issued().await;
    // A tab that still holds the grant sends to the other instance.
    let granted_at = fiducia_proto::time::now_ms() - 60_000;
    let stale = || {
        choice(
            &visitor,
            &["measurement", "personalization"],
            granted_at,
            &["identify"],
        )
    };
    assert_eq!(dropped(second.post(stale()).await.headers()), "");

    let after = change(&first, &visitor, &token, r#"{"personalization":"denied"}"#).await;
    assert_eq!(after["purposes"]["personalization"]["status"], "withdrawn");
    let changed = Instant::now();
    loop {
        let response = second.post(stale()).await;
        assert_eq!(response.status(), 204);
        if dropped(response.headers()) == "personalization:withdrawn=1" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the other collector ignores the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "privacy: a change in the center of one collector was enforced by another after {} ms",
        changed.elapsed().as_millis()
    );
    let state: Value = get(
        &second,
        &format!("/v1/privacy/demo/{visitor}/consent"),
        &token,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(state["purposes"]["personalization"]["granted"], false);
    assert_eq!(
        state["purposes"]["personalization"]["source"],
        "privacy:center"
    );
    let metrics = first.metrics().await;
    assert!(
        metrics
            .contains(r#"fiducia_collector_privacy_requests_total{route="change",outcome="ok"}"#),
        "{metrics}"
    );
}

/// Verifies a compact JWS with an Ed25519 key of a JWKS, as anyone can
/// offline: nothing of the collector's code.
fn verify_offline(jwks: &Value, jws: &str) -> Result<Value, String> {
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("not three parts".into());
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("no such key")?;
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            header["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?
        .try_into()
        .unwrap();
    let signed = format!("{}.{payload}", parts[0]);
    VerifyingKey::from_bytes(&x)
        .unwrap()
        .verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|e| e.to_string())?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_verifies_with_the_published_key_and_fails_after_one_byte_of_the_record_changes()
{
    let first = TestCollector::spawn().await;
    let (visitor, token) = first.issued().await;
    change(&first, &visitor, &token, r#"{"personalization":"denied"}"#).await;
    let records = history(&first, &visitor, &token).await;
    let topic = topic_records(&first, &visitor, 2).await;
    // Another collector publishes the key.
    let second = first.another().await;
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", second.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (record, proto) in records.iter().zip(&topic) {
        let response = get(&first, record["receipt"].as_str().unwrap(), &token).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
        let receipt: Value = response.json().await.unwrap();
        let jws = receipt["jws"].as_str().unwrap();
        let payload = verify_offline(&jwks, jws).expect("the receipt verifies");
        assert_eq!(payload["consentReceiptID"], uuid(&proto.record_id));
        assert_eq!(payload["piiPrincipalId"], visitor.as_str());
        assert_eq!(payload["fiducia"]["server_ts_ms"], proto.server_ts_ms);
        assert_eq!(payload["collectionMethod"], proto.source.as_str());
        // One byte of the record changed: it no longer verifies.
        let parts: Vec<&str> = jws.split('.').collect();
        let mut bytes = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let changed = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(&bytes),
            parts[2]
        );
        assert!(
            verify_offline(&jwks, &changed).is_err(),
            "a changed record verified"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_routes_answer_the_sites_origin_and_count_refused_tokens() {
    let collector = TestCollector::spawn().await;
    let (visitor, _) = collector.issued().await;
    let path = format!("/v1/privacy/demo/{visitor}/consent");
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", collector.url))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "authorization, content-type"
    );
    let refused = get(&collector, &path, "forged.token.here").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "token_malformed");
    let metrics = collector.metrics().await;
    assert!(
        metrics.contains(
            r#"fiducia_collector_privacy_token_failures_total{reason="token_malformed"}"#
        ),
        "{metrics}"
    );
}
