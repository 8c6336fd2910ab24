//! Visitor ids issued with their token, only when measurement is granted.

use super::*;

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
