//! Changes made in the center (records the ledger enforces), the history
//! and the receipts.

use super::*;

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
