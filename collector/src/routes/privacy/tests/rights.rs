//! The visitor's rights over the in-memory publisher: an erasure is one
//! publish of its request and its record, enforced at once and idempotent;
//! a retention choice is a record the visitor's next events carry; no
//! export, request list or admin call without ClickHouse.

use fiducia_proto::v1::PrivacyRequestKind;

use super::*;

impl World {
    async fn post(&self, path: &str, token: &str, body: &str) -> ServiceResponse {
        self.send(
            TestRequest::post()
                .uri(path)
                .insert_header(("authorization", format!("Bearer {token}")))
                .insert_header(("content-type", "application/json"))
                .set_payload(body.to_owned()),
        )
        .await
    }
}

#[actix_web::test]
async fn an_erasure_is_one_publish_of_its_request_and_record_enforced_at_once() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    let before = world.publisher.publishes();
    let path = format!("/v1/privacy/demo/{visitor}/erase");
    let response = world.post(&path, &token, "").await;
    assert_eq!(response.status(), 202);
    let answer = json(response).await;
    assert_eq!(world.publisher.publishes(), before + 1, "one publish");
    let requests = world.publisher.requests();
    let (key, request) = &requests[0];
    assert_eq!(
        key,
        &fiducia_proto::keys::partition_key("demo", &visitor, "")
    );
    assert_eq!(request.kind(), PrivacyRequestKind::Erasure);
    assert_eq!(request.channel, "center");
    let record = world.publisher.records().pop().unwrap().1;
    assert_eq!(record.action(), ConsentAction::Erase);
    assert_eq!(record.record_id, request.request_id);
    assert_eq!(
        answer["request_id"],
        uuid::Uuid::from_slice(&request.request_id)
            .unwrap()
            .to_string()
    );
    assert!(world.ledger.get("demo", &visitor).unwrap().erased);

    // Again: the state, nothing published.
    let again = world.post(&path, &token, "").await;
    assert_eq!(again.status(), 200);
    let again = json(again).await;
    assert_eq!(again["status"], "erased");
    assert_eq!(again["request_id"], answer["request_id"]);
    assert_eq!(world.publisher.publishes(), before + 1);

    // No retention choice for erased data.
    let path = format!("/v1/privacy/demo/{visitor}/retention");
    assert_eq!(
        world.post(&path, &token, r#"{"months":1}"#).await.status(),
        400
    );
}

#[actix_web::test]
async fn an_erasure_not_made_durable_is_not_enforced() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    world.publisher.set_down(true);
    let path = format!("/v1/privacy/demo/{visitor}/erase");
    let response = world.post(&path, &token, "").await;
    assert_eq!(response.status(), 503);
    assert!(!world.ledger.get("demo", &visitor).unwrap().erased);
}

#[actix_web::test]
async fn a_retention_choice_is_a_record_and_the_visitors_next_events_carry_it() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    let path = format!("/v1/privacy/demo/{visitor}/retention");
    let response = world.post(&path, &token, r#"{"months":13}"#).await;
    assert_eq!(response.status(), 400, "not shorter than the site's 13");
    let response = world.post(&path, &token, r#"{"months":1}"#).await;
    assert_eq!(response.status(), 200);
    let answer = json(response).await;
    assert_eq!(answer["retention"]["effective_months"], 1);
    let record = world.publisher.records().pop().unwrap().1;
    assert_eq!(record.retention_months, 1);
    assert_eq!(record.source, "privacy:center");
    let state = json(
        world
            .get(&format!("/v1/privacy/demo/{visitor}/consent"), Some(&token))
            .await,
    )
    .await;
    assert_eq!(state["retention"]["months"], 1);

    let visitor_json = format!(r#"{{"id":"{visitor}"}}"#);
    let response = world
        .post_events(
            &granted(&["measurement", "personalization"]),
            &visitor_json,
            &["page_view"],
        )
        .await;
    assert_eq!(response.status(), 204);
    let (_, event) = world.publisher.published().pop().unwrap();
    assert_eq!(event.retention_months, 1);
}

#[actix_web::test]
async fn without_clickhouse_no_export_list_or_admin_call_is_made() {
    let world = World::new();
    let (visitor, token) = world.visitor().await;
    for path in ["export", "requests"] {
        let response = world
            .get(&format!("/v1/privacy/demo/{visitor}/{path}"), Some(&token))
            .await;
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(json(response).await["error"], "warehouse_unavailable");
    }
    // The admin API cannot audit, so it does nothing, whatever the secret.
    let response = world
        .send(
            TestRequest::post()
                .uri("/v1/admin/demo/requests")
                .insert_header((
                    "authorization",
                    format!("Bearer {}", super::super::super::testing::ADMIN_SECRET),
                ))
                .set_payload(r#"{"kind":"erasure","visitor_id":"v-1"}"#),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(world.publisher.requests().is_empty(), "nothing published");
}
