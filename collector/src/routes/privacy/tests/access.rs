//! Who may call the privacy routes: only the visitor's own token, on every
//! route and in explain; knowing a visitor id grants nothing.

use super::*;

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
    assert!(world.publisher.requests().is_empty(), "nothing was asked");
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
