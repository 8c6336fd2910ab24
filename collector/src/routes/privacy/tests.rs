//! The privacy routes over the in-memory publisher: who may call them (the
//! token rules, on every route), issuing visitor ids, changes enforced as
//! ledger records, history, receipts that verify against the published
//! keys, explain's part of the ledger, and the page.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::test::{self, TestRequest};
use ed25519_dalek::SigningKey;
use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::ConsentAction;
use proptest::prelude::*;
use serde_json::Value;

use super::super::testing::{keys, now, send};
use crate::consent::ledger::Ledger;
use crate::privacy::jws;
use crate::privacy::keys::Keys;
use crate::privacy::receipt::RECEIPT_TYPE;
use crate::privacy::token::{self, TokenError};
use crate::publish::memory::MemoryPublisher;

const DAY_MS: i64 = 86_400_000;

struct World {
    publisher: Arc<MemoryPublisher>,
    ledger: Arc<Ledger>,
}

impl World {
    fn new() -> Self {
        Self {
            publisher: Arc::new(MemoryPublisher::default()),
            ledger: Arc::new(Ledger::default()),
        }
    }

    async fn send(&self, request: TestRequest) -> ServiceResponse {
        send(&self.publisher, &self.ledger, true, request).await
    }

    /// Posts an envelope as the tag does when it has no visitor id yet.
    async fn post_events(&self, consent: &str, visitor: &str, types: &[&str]) -> ServiceResponse {
        let events: Vec<String> = types
            .iter()
            .map(|t| {
                format!(
                    r#"{{"id":"{}","type":"{t}","ts":{}}}"#,
                    uuid::Uuid::now_v7(),
                    now()
                )
            })
            .collect();
        let body = format!(
            r#"{{"site":"demo","sent_at":{},"consent":{consent},"visitor":{visitor},"events":[{}]}}"#,
            now(),
            events.join(",")
        );
        self.send(TestRequest::post().uri("/v1/events").set_payload(body))
            .await
    }

    /// A visitor the collector issued, with its token.
    async fn visitor(&self) -> (String, String) {
        let response = self
            .post_events(
                &granted(&["measurement", "personalization"]),
                r#"{"issue":true}"#,
                &["consent", "page_view"],
            )
            .await;
        assert_eq!(response.status(), 204);
        let header = response
            .headers()
            .get("fiducia-visitor")
            .unwrap()
            .to_str()
            .unwrap();
        let issued: Value = serde_json::from_str(header).unwrap();
        assert!(issued["exp"].as_i64().unwrap() > now() + 390 * DAY_MS);
        (
            issued["id"].as_str().unwrap().to_owned(),
            issued["t"].as_str().unwrap().to_owned(),
        )
    }

    async fn get(&self, path: &str, token: Option<&str>) -> ServiceResponse {
        let mut request = TestRequest::get().uri(path);
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        self.send(request).await
    }

    async fn change(&self, visitor: &str, token: &str, body: &str) -> ServiceResponse {
        self.send(
            TestRequest::post()
                .uri(&format!("/v1/privacy/demo/{visitor}/consent"))
                .insert_header(("authorization", format!("Bearer {token}")))
                .insert_header(("content-type", "application/json"))
                .set_payload(body.to_owned()),
        )
        .await
    }
}

fn granted(purposes: &[&str]) -> String {
    let fields: Vec<String> = purposes
        .iter()
        .map(|p| format!(r#""{p}":"granted""#))
        .collect();
    format!(
        r#"{{{},"source":"api","updated_at":{}}}"#,
        fields.join(","),
        now() - 1000
    )
}

async fn json(response: ServiceResponse) -> Value {
    test::read_body_json(response).await
}

/// Every privacy route, for `visitor` of site `demo`.
fn routes(visitor: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("/v1/privacy/demo/{visitor}/consent")),
        ("POST", format!("/v1/privacy/demo/{visitor}/consent")),
        ("GET", format!("/v1/privacy/demo/{visitor}/history")),
        (
            "GET",
            format!("/v1/privacy/demo/{visitor}/receipts/0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70"),
        ),
    ]
}

/// The kinds of token a caller can hold that prove nothing about `visitor`,
/// with the answer the rules give.
fn bad_tokens(visitor: &str) -> Vec<(&'static str, Option<String>, u16, TokenError)> {
    let now = now();
    let ours = keys().keys;
    let stranger = Keys::signing("test", SigningKey::from_bytes(&[7; 32]));
    let unknown = Keys::signing("other-kid", SigningKey::from_bytes(&[42; 32]));
    vec![
        ("missing", None, 401, TokenError::Missing),
        (
            "malformed",
            Some("not-a-token".into()),
            401,
            TokenError::Malformed,
        ),
        (
            "forged",
            token::issue(&stranger, "demo", visitor, now, DAY_MS),
            401,
            TokenError::BadSignature,
        ),
        (
            "unknown key",
            token::issue(&unknown, "demo", visitor, now, DAY_MS),
            401,
            TokenError::UnknownKey,
        ),
        (
            "expired",
            token::issue(&ours, "demo", visitor, now - 2 * DAY_MS, DAY_MS),
            401,
            TokenError::Expired,
        ),
        (
            "wrong site",
            token::issue(&ours, "other", visitor, now, DAY_MS),
            403,
            TokenError::WrongSite,
        ),
        (
            "wrong visitor",
            token::issue(&ours, "demo", &format!("{visitor}x"), now, DAY_MS),
            403,
            TokenError::WrongVisitor,
        ),
    ]
}

async fn call(world: &World, method: &str, path: &str, token: Option<&str>) -> ServiceResponse {
    let mut request = if method == "POST" {
        TestRequest::post()
            .set_payload(r#"{"personalization":"denied"}"#)
            .insert_header(("content-type", "application/json"))
    } else {
        TestRequest::get()
    }
    .uri(path);
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    world.send(request).await
}

#[actix_web::test]
async fn every_privacy_route_refuses_a_token_that_does_not_prove_the_visitor() {
    let world = World::new();
    let (visitor, _) = world.visitor().await;
    let records = world.publisher.records().len();
    for (method, path) in routes(&visitor) {
        for (kind, token, status, reason) in bad_tokens(&visitor) {
            let response = call(&world, method, &path, token.as_deref()).await;
            assert_eq!(
                response.status(),
                status,
                "{method} {path} with a {kind} token"
            );
            assert_eq!(
                response.headers().get("cache-control").unwrap(),
                "no-store",
                "{kind}"
            );
            let body = json(response).await;
            assert_eq!(
                body["error"],
                reason.reason(),
                "{method} {path} with a {kind} token"
            );
        }
    }
    assert_eq!(
        world.publisher.records().len(),
        records,
        "nothing was changed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Knowing a visitor id grants nothing: whatever token a caller made up
    /// or holds for someone else, no route answers with that visitor's data.
    #[test]
    fn knowing_a_visitor_id_grants_nothing(
        route in 0usize..4, kind in 0usize..7, stranger in "[A-Za-z0-9_-]{1,40}",
    ) {
        actix_web::rt::System::new().block_on(async {
            let world = World::new();
            let (visitor, _) = world.visitor().await;
            let (method, path) = routes(&visitor).swap_remove(route);
            let (_, token, status, reason) = bad_tokens(&visitor).swap_remove(kind);
            // The stranger's own valid token proves the stranger only.
            let own = token::issue(&keys().keys, "demo", &stranger, now(), DAY_MS).unwrap();
            let stranger_status = if stranger == visitor { 200 } else { 403 };
            for (token, status, reason) in [
                (token, status, reason.reason()),
                (Some(own), stranger_status, TokenError::WrongVisitor.reason()),
            ] {
                let response = call(&world, method, &path, token.as_deref()).await;
                prop_assert_eq!(response.status().as_u16(), status);
                let body = json(response).await;
                prop_assert_eq!(body["error"].as_str(), Some(reason));
                prop_assert!(body.get("purposes").is_none() && body.get("records").is_none());
            }
            Ok(())
        })?;
    }
}

#[actix_web::test]
async fn a_visitor_id_is_issued_with_its_token_only_when_measurement_is_granted() {
    let world = World::new();
    let (id, token) = world.visitor().await;
    assert_eq!(id.len(), 32, "a random UUID in hex: {id}");
    let claims = token::verify(&keys().keys, &token, "demo", &id, now()).unwrap();
    assert!(claims.exp * 1000 > now() + 390 * DAY_MS);
    let published = world.publisher.published();
    assert!(published.iter().all(|(_, e)| e.visitor_id == id));
    let records = world.publisher.records();
    assert_eq!(
        records.len(),
        1,
        "the consent event is the id's first record"
    );
    assert_eq!(records[0].1.subject, id);

    // Without a consent event, the id's history starts with an issuance record.
    let response = world
        .post_events(
            &granted(&["measurement"]),
            r#"{"issue":true}"#,
            &["page_view"],
        )
        .await;
    let header: Value = serde_json::from_str(
        response
            .headers()
            .get("fiducia-visitor")
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap();
    let second = header["id"].as_str().unwrap();
    let records = world.publisher.records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[1].1.subject.as_str(), records[1].1.action()),
        (second, ConsentAction::Grant)
    );
    assert_eq!(records[1].1.source, "tag:api");

    for (consent, visitor) in [
        (
            r#"{"measurement":"denied"}"#.to_owned(),
            r#"{"issue":true}"#,
        ),
        (granted(&["personalization"]), r#"{"issue":true}"#),
        // An id the tag minted itself gets no token for it.
        (
            granted(&["measurement"]),
            r#"{"id":"0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70","issue":true}"#,
        ),
        (granted(&["measurement"]), "{}"),
    ] {
        let response = world.post_events(&consent, visitor, &["page_view"]).await;
        assert_eq!(response.status(), 204);
        assert!(
            response.headers().get("fiducia-visitor").is_none(),
            "{consent} {visitor}"
        );
    }
}

#[actix_web::test]
async fn a_change_in_the_center_is_a_record_the_ledger_enforces() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    let state = json(
        world
            .get(&format!("/v1/privacy/demo/{visitor}/consent"), Some(&token))
            .await,
    )
    .await;
    assert_eq!(state["purposes"]["personalization"]["granted"], true);
    assert_eq!(state["purposes"]["personalization"]["source"], "tag:api");

    let response = world
        .change(&visitor, &token, r#"{"personalization":"denied"}"#)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let after = json(response).await;
    assert_eq!(after["purposes"]["personalization"]["granted"], false);
    assert_eq!(after["purposes"]["personalization"]["status"], "withdrawn");
    assert_eq!(after["purposes"]["measurement"]["granted"], true);
    let records = world.publisher.records();
    let record = &records.last().unwrap().1;
    assert_eq!(
        (record.action(), record.source.as_str()),
        (ConsentAction::Withdraw, "privacy:center")
    );
    assert_eq!(records.last().unwrap().0, format!("demo/{visitor}"));
    assert!(
        world
            .ledger
            .get("demo", &visitor)
            .unwrap()
            .withdrawn_at(Purpose::Personalization)
            .is_some()
    );

    // The tag still says granted: its next events lose what the withdrawal covers.
    let visitor_block = format!(r#"{{"id":"{visitor}","user_id":"u-1"}}"#);
    let response = world
        .post_events(
            &granted(&["measurement", "personalization"]),
            &visitor_block,
            &["page_view", "identify"],
        )
        .await;
    assert_eq!(
        response.headers().get("fiducia-dropped").unwrap(),
        "personalization:withdrawn=1"
    );
    let event = world.publisher.published().pop().unwrap().1;
    assert!(event.user_id.is_empty());
    assert!(!Purpose::Personalization.granted_by(event.consent.as_ref().unwrap()));

    for (body, field) in [
        (r#"{"advertising":"granted"}"#, "advertising"),
        (r#"{"personalization":true}"#, "personalization"),
        (r#"{"necessary":"denied"}"#, "necessary"),
        ("{}", "(root)"),
    ] {
        let response = world.change(&visitor, &token, body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["field"], field);
    }
}

#[actix_web::test]
async fn a_change_that_cannot_be_made_durable_is_not_applied() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    world.publisher.set_down(true);
    let response = world
        .change(&visitor, &token, r#"{"measurement":"denied"}"#)
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        world
            .ledger
            .get("demo", &visitor)
            .unwrap()
            .withdrawn_at(Purpose::Measurement)
            .is_none()
    );
}

#[actix_web::test]
async fn the_history_lists_every_record_in_order_and_each_receipt_verifies_with_the_published_key()
{
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    for change in [
        r#"{"personalization":"denied"}"#,
        r#"{"functional":"granted"}"#,
    ] {
        assert_eq!(world.change(&visitor, &token, change).await.status(), 200);
    }
    let history = json(
        world
            .get(&format!("/v1/privacy/demo/{visitor}/history"), Some(&token))
            .await,
    )
    .await;
    let records = history["records"].as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant", "withdraw", "grant"]);
    assert_eq!(
        records[1]["changes"],
        serde_json::json!({"personalization": "withdrawn"})
    );
    assert_eq!(
        records[2]["changes"],
        serde_json::json!({"functional": "granted"})
    );
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["received_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    let jwks = json(world.get("/.well-known/jwks.json", None).await).await;
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let public = format!("{}:{x}", jwks["keys"][0]["kid"].as_str().unwrap());
    let published = Keys::parse(None, Some(&public)).unwrap();
    for record in records {
        let response = world
            .get(record["receipt"].as_str().unwrap(), Some(&token))
            .await;
        assert_eq!(response.status(), 200);
        assert!(
            response
                .headers()
                .get("content-disposition")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let receipt = json(response).await;
        let jws = receipt["jws"].as_str().unwrap();
        let payload: Value =
            serde_json::from_slice(&jws::verify(&published, RECEIPT_TYPE, jws).unwrap()).unwrap();
        assert_eq!(payload, receipt["receipt"]);
        assert_eq!(payload["consentReceiptID"], record["record_id"]);
        assert_eq!(payload["piiPrincipalId"], visitor);
        // One byte of the record changed: the receipt no longer verifies.
        let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
        let mut record_bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1])
                .unwrap();
        let at = record_bytes.iter().position(|&b| b == b'"').unwrap() + 1;
        record_bytes[at] ^= 1;
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            record_bytes,
        );
        assert!(jws::verify(&published, RECEIPT_TYPE, &parts.join(".")).is_err());
    }
    let unknown = world
        .get(
            &format!("/v1/privacy/demo/{visitor}/receipts/0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70"),
            Some(&token),
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

#[actix_web::test]
async fn explain_shows_the_ledgers_part_only_with_the_visitors_own_token() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    assert_eq!(
        world
            .change(&visitor, &token, r#"{"personalization":"denied"}"#)
            .await
            .status(),
        200
    );
    let body = format!(
        r#"{{"site":"demo","sent_at":{},"consent":{},"visitor":{{"id":"{visitor}"}},"events":[{{"id":"{}","type":"page_view","ts":{}}}]}}"#,
        now(),
        granted(&["measurement", "personalization"]),
        uuid::Uuid::now_v7(),
        now()
    );
    let explain = |token: Option<String>| {
        let mut request = TestRequest::post()
            .uri("/v1/consent/explain")
            .set_payload(body.clone());
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        world.send(request)
    };
    let without = json(explain(None).await).await;
    assert_eq!(without["signals"]["ledger"]["consulted"], false);
    assert_eq!(without["purposes"]["personalization"]["granted"], true);
    let with = json(explain(Some(token)).await).await;
    assert_eq!(with["signals"]["ledger"]["consulted"], true);
    assert!(with["signals"]["ledger"]["entry"]["withdrawn_at"]["personalization"].is_i64());
    assert_eq!(with["purposes"]["personalization"]["granted"], false);
    assert_eq!(with["purposes"]["personalization"]["source"], "ledger");
    for (_, token, status, reason) in bad_tokens(&visitor).into_iter().skip(1) {
        let response = explain(token).await;
        assert_eq!(response.status(), status);
        assert_eq!(json(response).await["error"], reason.reason());
    }
}

#[actix_web::test]
async fn the_page_speaks_the_sites_language_and_loads_nothing_from_elsewhere() {
    let world = World::new();
    for (request, lang, title) in [
        (
            TestRequest::get().uri("/privacy?lang=it-IT"),
            "it",
            "Le tue scelte sulla privacy",
        ),
        (
            TestRequest::get()
                .uri("/privacy")
                .insert_header(("accept-language", "fr, it;q=0.8")),
            "it",
            "Le tue scelte",
        ),
        (
            TestRequest::get().uri("/privacy?lang=xx"),
            "en",
            "Your privacy choices",
        ),
    ] {
        let response = world.send(request).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert!(
            headers
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{page}");
        assert!(page.contains(title));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no third-party resource"
        );
    }
    for path in [
        "/privacy/page.css",
        "/privacy/page.js",
        "/privacy/reminder.js?lang=it",
    ] {
        assert_eq!(
            world.send(TestRequest::get().uri(path)).await.status(),
            200,
            "{path}"
        );
    }
}
