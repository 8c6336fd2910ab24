//! The route over in-memory stores: who gets a personal answer, what a
//! contextual one reads, caching and CORS.

use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::{App, test};
use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ConsentAction, Interest, ItemCount, ItemList, Profile};

use crate::consent::ledger::Ledger;
use crate::privacy::token;
use crate::profile::Stores;
use crate::publish::memory::MemoryPublisher;
use crate::routes::testing::{keys, now, state};
use crate::sites::Sites;

const ORIGIN: &str = "http://localhost:8000";
const P: Purpose = Purpose::Personalization;

struct Fixture {
    ledger: Arc<Ledger>,
    stores: Stores,
}

impl Fixture {
    /// Visitor `v-1` granted personalization a minute ago and has a
    /// profile (shoes, viewed runner-2); the items topic has lists.
    fn granted() -> Self {
        let fixture = Self {
            ledger: Arc::new(Ledger::default()),
            stores: Stores::default(),
        };
        crate::profile::follow::drop_on_withdrawal(
            &fixture.ledger,
            Arc::clone(&fixture.stores.profiles),
        );
        let t = now() - 60_000;
        fixture.ledger.apply(&crate::consent::testing::record(
            "v-1",
            ConsentAction::Grant,
            &[Purpose::Measurement, P],
            t,
        ));
        fixture.stores.profiles.insert(
            "demo/v-1",
            Profile {
                interests: vec![Interest {
                    category: "shoes".into(),
                    score: 3.5,
                    last_seen_ms: t,
                }],
                scores_at_ms: now(),
                recent_items: vec!["runner-2".into()],
                events: 4,
                sessions: 1,
                begun_at_ms: t + 1,
                ..Profile::default()
            },
        );
        let list = |items: &[(&str, u32)]| ItemList {
            items: items
                .iter()
                .map(|&(item, visitors)| ItemCount {
                    item: item.into(),
                    visitors,
                })
                .collect(),
            ..ItemList::default()
        };
        let items = &fixture.stores.items;
        items.apply(
            "demo/related/runner-2",
            Some(&list(&[("runner-7", 12), ("runner-2", 40)])),
        );
        items.apply(
            "demo/popular/shoes",
            Some(&list(&[("runner-2", 40), ("runner-9", 31)])),
        );
        items.apply("demo/popular/", Some(&list(&[("hat-1", 50)])));
        fixture
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> ServiceResponse<BoxBody> {
        let mut request = test::TestRequest::get().uri(uri);
        for &(name, value) in headers {
            request = request.insert_header((name, value));
        }
        self.send(request).await
    }

    async fn send(&self, request: test::TestRequest) -> ServiceResponse<BoxBody> {
        let sites = Sites::from_toml(
            "[sites.demo.collect]\nallowed_origins = [\"http://localhost:8000\"]\n\
             [sites.demo.enrich]\ntime_zone = \"Europe/Rome\"\ndrop_bots = true\n\
             [[sites.demo.enrich.categories]]\nname = \"shoes\"\npath_prefix = \"/p/shoes/\"\n\
             [[sites.demo.enrich.items]]\npath_regex = \"^/p/[^/]+/([^/]+)\"\n\
             [[sites.demo.personalization.segments]]\nname = \"shoe lover\"\ninterest = \"shoes\"\n\
             [sites.other.collect]\nallowed_origins = [\"http://localhost:8001\"]\n",
        )
        .unwrap();
        let publisher = Arc::new(MemoryPublisher::default());
        let state = state(&publisher, &self.ledger, true, sites, self.stores.clone());
        let app = test::init_service(
            App::new()
                .app_data(state)
                .wrap(actix_web::middleware::from_fn(
                    crate::routes::cors::allow_origin::<MemoryPublisher>,
                ))
                .configure(crate::routes::configure::<MemoryPublisher>),
        )
        .await;
        let request = request.peer_addr("198.51.100.23:5000".parse().unwrap());
        test::call_service(&app, request.to_request())
            .await
            .map_into_boxed_body()
    }
}

fn header<'a>(headers: &'a actix_web::http::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

fn bearer(visitor: &str) -> String {
    let token = token::issue(&keys().keys, "demo", visitor, now(), 3_600_000).unwrap();
    format!("Bearer {token}")
}

async fn json(response: ServiceResponse<BoxBody>) -> serde_json::Value {
    serde_json::from_slice(&test::read_body(response).await).unwrap()
}

const PAGE: &str = "/v1/profile/demo?path=/p/shoes/runner-2&referrer=https://www.google.com/";

#[actix_web::test]
async fn a_visitor_who_allowed_personalization_gets_a_personal_answer() {
    let fixture = Fixture::granted();
    let auth = bearer("v-1");
    let response = fixture
        .get(PAGE, &[("authorization", &auth), ("origin", ORIGIN)])
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(header(headers, "cache-control"), "no-store");
    assert_eq!(header(headers, "access-control-allow-origin"), ORIGIN);
    let body = json(response).await;
    assert_eq!(body["kind"], "personal", "{body}");
    assert_eq!(body["site"], "demo");
    assert_eq!(body["consent"]["purpose"], "personalization");
    assert_eq!(body["segments"][0]["name"], "shoe lover");
    assert_eq!(body["interests"][0]["category"], "shoes");
    assert_eq!(body["interests"][0]["score"], 3.5);
    let items: Vec<(&str, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["item"].as_str().unwrap(), i["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        items,
        [
            ("runner-7", "because you viewed runner-2"),
            ("runner-9", "in your interest: shoes"),
            ("hat-1", "popular on this site now"),
        ]
    );
    assert!(
        body["explanation"]
            .as_str()
            .unwrap()
            .starts_with("Personalized because you allowed personalization on ")
    );
}

#[actix_web::test]
async fn without_a_token_the_answer_is_contextual_and_cacheable() {
    let fixture = Fixture::granted();
    // A cookie and a visitor id in the query change nothing: nothing is read.
    let response = fixture
        .get(
            &format!("{PAGE}&visitor=v-1"),
            &[
                ("origin", ORIGIN),
                ("cookie", "fiducia_vid=v-1"),
                (
                    "user-agent",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
                ),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(response.headers(), "cache-control"),
        "private, max-age=60"
    );
    let vary: Vec<&str> = response
        .headers()
        .get_all("vary")
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        vary.contains(&"Authorization") && vary.contains(&"Origin"),
        "{vary:?}"
    );
    let body = json(response).await;
    assert_eq!(body["kind"], "contextual");
    assert_eq!(body["basis"], "no_token");
    assert_eq!(body["context"]["category"], "shoes");
    assert_eq!(body["context"]["referrer_class"], "search");
    assert_eq!(body["context"]["device"], "mobile");
    assert!(body["context"]["time_of_day"].is_string());
    assert_eq!(
        body["items"][0]["item"], "runner-9",
        "the page's own item is left out"
    );
    assert_eq!(body["items"][0]["reason"], "popular in shoes now");
    assert_eq!(
        body["explanation"],
        "Chosen from this page only: nothing about you was used."
    );
    assert!(body.get("interests").is_none() && body.get("consent").is_none());
}

#[actix_web::test]
async fn every_doubt_answers_contextual() {
    let fixture = Fixture::granted();
    let auth = bearer("v-1");
    let other_site = token::issue(&keys().keys, "other", "v-1", now(), 3_600_000).unwrap();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("authorization", "Bearer nonsense".into())],
            "token_refused",
        ),
        (
            vec![("authorization", format!("Bearer {other_site}"))],
            "token_refused",
        ),
        (vec![("authorization", bearer("v-2"))], "no_consent_record"),
        (
            vec![("authorization", auth.clone()), ("sec-gpc", "1".into())],
            "objection",
        ),
    ];
    for (headers, basis) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = fixture.get(PAGE, &headers).await;
        assert_eq!(header(response.headers(), "cache-control"), "no-store");
        let body = json(response).await;
        assert_eq!(
            (body["kind"].as_str(), body["basis"].as_str()),
            (Some("contextual"), Some(basis)),
            "{headers:?}"
        );
    }
}

#[actix_web::test]
async fn a_withdrawal_makes_the_next_answer_contextual_and_drops_the_profile() {
    let fixture = Fixture::granted();
    let auth = bearer("v-1");
    assert_eq!(
        json(fixture.get(PAGE, &[("authorization", &auth)]).await).await["kind"],
        "personal"
    );
    fixture.ledger.apply(&crate::consent::testing::record(
        "v-1",
        ConsentAction::Withdraw,
        &[Purpose::Measurement],
        now(),
    ));
    assert!(fixture.stores.profiles.get("demo/v-1").is_none());
    let body = json(fixture.get(PAGE, &[("authorization", &auth)]).await).await;
    assert_eq!(
        (body["kind"].as_str(), body["basis"].as_str()),
        (Some("contextual"), Some("not_granted"))
    );
}

#[actix_web::test]
async fn refusals_are_json_with_a_reason_and_preflights_allow_the_token() {
    let fixture = Fixture::granted();
    for (uri, headers, status, reason) in [
        ("/v1/profile/nope", vec![], 403, "unknown_site"),
        (
            "/v1/profile/demo",
            vec![("origin", "http://evil.example")],
            403,
            "origin_not_allowed",
        ),
        ("/v1/profile/demo?limit=99", vec![], 400, "invalid_field"),
    ] {
        let response = fixture.get(uri, &headers).await;
        assert_eq!(response.status(), status, "{uri}");
        assert_eq!(json(response).await["error"], reason, "{uri}");
    }
    let preflight = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/v1/profile/demo")
        .insert_header(("origin", ORIGIN));
    let response = fixture.send(preflight).await;
    assert_eq!(response.status(), 204);
    let allowed = header(response.headers(), "access-control-allow-headers");
    assert!(allowed.contains("authorization"), "{allowed}");
}
