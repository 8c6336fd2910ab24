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
        ("POST", format!("/v1/privacy/demo/{visitor}/erase")),
        ("POST", format!("/v1/privacy/demo/{visitor}/retention")),
        ("GET", format!("/v1/privacy/demo/{visitor}/export")),
        ("GET", format!("/v1/privacy/demo/{visitor}/requests")),
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

mod access;
mod changes;
mod issue;
mod page;
mod rights;
