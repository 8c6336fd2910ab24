//! Data rights against the real broker and ClickHouse: erasure from the
//! privacy center and by user id through the admin API (records on both
//! topics, later events dropped `erased` by every collector within a
//! second), the retention choice carried onto events, the export holding
//! exactly the subject's rows, and the admin API refusing and auditing
//! every call without its secret.
//!
//! The sink owns the tables; each test creates its own database with the
//! sink's columns that matter here (`SELECT *` exports whatever a table has).

use std::time::{Duration, Instant};

use fiducia_collector::config::{Secret, Warehouse};
use fiducia_proto::privacy::user_key;
use fiducia_proto::v1::{
    ConsentAction, ConsentRecord, PrivacyRequest, PrivacyRequestKind, RawEvent,
};
use fiducia_testkit::ClickHouse;
use fiducia_testkit::envelopes::{ORIGIN, choice, dropped};
use fiducia_testkit::{infra, unique};
use prost::Message;
use serde_json::{Value, json};

use crate::helpers::TestCollector;

pub(crate) const SECRET: &str = "admin-secret-for-tests-0123";

/// The tables an export reads and the admin audit, as the sink creates
/// them (the columns the tests need, the engines the sink uses: the export
/// reads `ReplacingMergeTree` tables with `FINAL`; `admin_audit` exactly).
const DDL: &[&str] = &[
    "CREATE TABLE {db}.events (event_id UUID, site_id String, visitor_id String, user_id String, \
     event_type String, received_at DateTime, url String) ENGINE = ReplacingMergeTree ORDER BY (site_id, event_id)",
    "CREATE TABLE {db}.sessions (site_id String, visitor_id String, session_id String, events UInt32) \
     ENGINE = MergeTree ORDER BY (site_id, session_id)",
    "CREATE TABLE {db}.profile_events (site_id String, visitor_id String, category String) \
     ENGINE = ReplacingMergeTree ORDER BY (site_id, visitor_id, category)",
    "CREATE TABLE {db}.consent_log (record_id UUID, site_id String, subject String, action String) \
     ENGINE = ReplacingMergeTree ORDER BY (site_id, subject, record_id)",
    "CREATE TABLE {db}.privacy_requests (request_id UUID, site_id String, subject String, \
     user_key String, kind String, channel String, status String, requested_at DateTime, \
     updated_at DateTime) ENGINE = ReplacingMergeTree ORDER BY (site_id, request_id, status)",
    "CREATE TABLE {db}.admin_audit (called_at DateTime('UTC'), called_ms UInt16, call_id UUID, \
     site_id String, route String, method String, subject String, request_id String, \
     status UInt16, ip_prefix String) ENGINE = MergeTree ORDER BY called_at",
];

/// A database of this test's own with [`DDL`]; its name.
pub(crate) async fn database(clickhouse: &ClickHouse) -> String {
    let db = unique("rights").replace('-', "_");
    clickhouse.query(&format!("CREATE DATABASE {db}")).await;
    for ddl in DDL {
        clickhouse.query(&ddl.replace("{db}", &db)).await;
    }
    db
}

pub(crate) fn clickhouse() -> ClickHouse {
    ClickHouse::new(&infra().clickhouse_url)
}

/// A collector with a warehouse (`db`) and the admin secret.
pub(crate) async fn collector(db: &str) -> TestCollector {
    let db = db.to_owned();
    TestCollector::spawn_with(move |config| {
        config.warehouse = Some(Warehouse {
            url: infra().clickhouse_url.clone(),
            database: db,
            user: "default".into(),
            password: Secret(String::new()),
        });
        config.admin_secret = Some(Secret(SECRET.into()));
    })
    .await
}

/// Page views from `visitor` (granted a minute ago), with `user_id` if any.
fn views(visitor: &str, user_id: Option<&str>) -> String {
    let granted_at = fiducia_proto::time::now_ms() - 60_000;
    let body = choice(
        visitor,
        &["measurement", "personalization"],
        granted_at,
        &["page_view", "click"],
    );
    match user_id {
        None => body,
        Some(user) => body.replace(
            &format!(r#""visitor":{{"id":"{visitor}"}}"#),
            &format!(r#""visitor":{{"id":"{visitor}","user_id":"{user}"}}"#),
        ),
    }
}

pub(crate) async fn center(
    collector: &TestCollector,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", collector.url))
        .bearer_auth(token)
        .header("origin", ORIGIN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

async fn admin(
    collector: &TestCollector,
    method: reqwest::Method,
    path: &str,
    secret: Option<&str>,
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", collector.url));
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    request.send().await.unwrap()
}

/// Messages of `topic` decoded as `M`, once `enough` holds (20 s at most).
async fn decoded<M: Message + Default>(
    collector: &TestCollector,
    topic: &str,
    enough: impl Fn(&[M]) -> bool,
) -> (Vec<M>, Vec<Vec<u8>>) {
    let decode = |messages: &[rdkafka::message::OwnedMessage]| -> (Vec<M>, Vec<Vec<u8>>) {
        messages
            .iter()
            .filter_map(|m| {
                let payload = rdkafka::Message::payload(m)?;
                Some((M::decode(payload).ok()?, payload.to_vec()))
            })
            .unzip()
    };
    let messages =
        fiducia_testkit::read_topic(&collector.brokers, topic, Duration::from_secs(20), |m| {
            enough(&decode(m).0)
        })
        .await;
    decode(&messages)
}

/// Posts `body` to `collector` until it is dropped as `expected`; how long
/// that took from `since`.
async fn dropped_within(
    collector: &TestCollector,
    body: impl Fn() -> String,
    expected: &str,
    since: Instant,
) -> Duration {
    loop {
        let response = collector.post(body()).await;
        assert_eq!(response.status(), 204);
        if dropped(response.headers()) == expected {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "not dropped: {}",
            dropped(response.headers())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_from_the_center_is_durable_on_both_topics_and_every_collector_drops_the_visitor()
 {
    let ch = clickhouse();
    let db = database(&ch).await;
    let first = collector(&db).await;
    let second = first.another().await;
    let (visitor, token) = first.issued().await;
    assert_eq!(
        dropped(second.post(views(&visitor, None)).await.headers()),
        ""
    );

    let path = format!("/v1/privacy/demo/{visitor}/erase");
    let response = center(&first, reqwest::Method::POST, &path, &token, None).await;
    let answered = Instant::now();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "received");
    let id = answer["request_id"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);

    // From the answer on: this collector at once, the other within a second.
    let erased = "measurement:erased=2";
    assert_eq!(
        dropped(first.post(views(&visitor, None)).await.headers()),
        erased
    );
    let took = dropped_within(&second, || views(&visitor, None), erased, answered).await;
    eprintln!("erased visitor dropped by another collector {took:?} after the answer");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (requests, _) =
        decoded::<PrivacyRequest>(&first, &first.topics.privacy, |r| !r.is_empty()).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.kind(), PrivacyRequestKind::Erasure);
    assert_eq!(
        (request.subject.as_str(), request.channel.as_str()),
        (visitor.as_str(), "center")
    );
    assert_eq!(
        uuid::Uuid::from_slice(&request.request_id)
            .unwrap()
            .to_string(),
        id
    );
    let (records, _) = decoded::<ConsentRecord>(&first, &first.topics.consent, |r| {
        r.iter().any(|r| r.action() == ConsentAction::Erase)
    })
    .await;
    let erase: Vec<&ConsentRecord> = records
        .iter()
        .filter(|r| r.action() == ConsentAction::Erase)
        .collect();
    assert_eq!(erase.len(), 1);
    assert_eq!(erase[0].subject, visitor);
    assert_eq!(
        erase[0].record_id, request.request_id,
        "the record names its request"
    );

    // Again: the state, nothing published twice.
    let again = center(&first, reqwest::Method::POST, &path, &token, None).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["status"].as_str(), again["request_id"].as_str()),
        (Some("erased"), Some(id.as_str()))
    );
    let consent = center(
        &first,
        reqwest::Method::GET,
        &format!("/v1/privacy/demo/{visitor}/consent"),
        &token,
        None,
    )
    .await;
    let consent: Value = consent.json().await.unwrap();
    assert_eq!(consent["erased"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_by_user_id_drops_that_user_under_any_visitor_id_and_kafka_never_sees_the_id() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let first = collector(&db).await;
    let second = first.another().await;
    let user = format!("user-{}", uuid::Uuid::new_v4().simple());
    let response = admin(
        &first,
        reqwest::Method::POST,
        "/v1/admin/demo/requests",
        Some(SECRET),
        Some(&json!({"kind": "erasure", "user_id": user}).to_string()),
    )
    .await;
    let answered = Instant::now();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "received");

    let erased = "measurement:erased=2";
    assert_eq!(
        dropped(first.post(views("v-any", Some(&user))).await.headers()),
        erased
    );
    let took = dropped_within(&second, || views("v-other", Some(&user)), erased, answered).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Another user on the same visitor id is not touched.
    assert_eq!(
        dropped(
            second
                .post(views("v-any", Some("someone-else")))
                .await
                .headers()
        ),
        ""
    );

    let key = user_key("demo", &user);
    let (requests, raw_requests) =
        decoded::<PrivacyRequest>(&first, &first.topics.privacy, |r| !r.is_empty()).await;
    assert_eq!(requests[0].user_key, key);
    assert_eq!(
        (requests[0].subject.as_str(), requests[0].channel.as_str()),
        ("", "admin")
    );
    let (records, raw_records) = decoded::<ConsentRecord>(&first, &first.topics.consent, |r| {
        r.iter().any(|r| r.user_key == key)
    })
    .await;
    let erase = records.iter().find(|r| r.user_key == key).unwrap();
    assert_eq!(
        (erase.action(), erase.subject.as_str()),
        (ConsentAction::Erase, "")
    );
    for payload in raw_requests.iter().chain(&raw_records) {
        assert!(
            !payload.windows(user.len()).any(|w| w == user.as_bytes()),
            "the user id reached Kafka"
        );
    }
    // The audit names the user by key.
    let audited = ch
        .query(&format!(
            "SELECT subject, status, route FROM {db}.admin_audit FORMAT TSV"
        ))
        .await;
    assert_eq!(
        audited.trim(),
        format!("user:{key}\t202\t/v1/admin/{{site}}/requests")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_choice_is_a_record_and_goes_with_the_visitors_events() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let collector = collector(&db).await;
    let (visitor, token) = collector.issued().await;
    let path = format!("/v1/privacy/demo/{visitor}/retention");
    for bad in [
        r#"{"months":13}"#,
        r#"{"months":2}"#,
        r#"{"months":"6"}"#,
        "{",
    ] {
        let response = center(&collector, reqwest::Method::POST, &path, &token, Some(bad)).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let response = center(
        &collector,
        reqwest::Method::POST,
        &path,
        &token,
        Some(r#"{"months":6}"#),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["retention"],
        json!({"months": 6, "effective_months": 6, "site_months": 13, "choices": [1, 6]})
    );
    assert_eq!(
        answer["purposes"]["measurement"]["granted"], true,
        "consent unchanged"
    );

    assert_eq!(collector.post(views(&visitor, None)).await.status(), 204);
    let (records, _) = decoded::<ConsentRecord>(&collector, &collector.topics.consent, |r| {
        r.iter().any(|r| r.retention_months == 6)
    })
    .await;
    assert_eq!(
        records.iter().filter(|r| r.retention_months == 6).count(),
        1
    );
    let (events, _) =
        decoded::<RawEvent>(&collector, &collector.topics.raw, |e| e.len() >= 3).await;
    let mut retention: Vec<(String, u32)> = events
        .iter()
        .map(|e| (e.event_type.clone(), e.retention_months))
        .collect();
    retention.sort();
    assert_eq!(
        retention,
        [
            ("click".into(), 6),
            ("page_view".into(), 0),
            ("page_view".into(), 6)
        ],
        "before the choice: the site's default"
    );
}

/// Rows of `visitor` (and `user`) in every table, and as many of someone else's.
pub(crate) async fn seed(ch: &ClickHouse, db: &str, visitor: &str, user: &str, events: usize) {
    for (who, uid) in [(visitor, user), ("someone-else", "other-user")] {
        ch.query(&format!(
            "INSERT INTO {db}.events SELECT generateUUIDv4(), 'demo', '{who}', '{uid}', 'page_view', \
             now(), concat('https://shop.example/p/', toString(number)) FROM system.numbers LIMIT {events}"
        ))
        .await;
        ch.query(&format!(
            "INSERT INTO {db}.sessions VALUES ('demo', '{who}', 's-{who}', {events})"
        ))
        .await;
        ch.query(&format!(
            "INSERT INTO {db}.profile_events VALUES ('demo', '{who}', 'product')"
        ))
        .await;
        ch.query(&format!(
            "INSERT INTO {db}.consent_log SELECT generateUUIDv4(), 'demo', '{who}', 'grant'"
        ))
        .await;
    }
    // The same visitor id on another site is someone else too.
    ch.query(&format!(
        "INSERT INTO {db}.events SELECT generateUUIDv4(), 'blog', '{visitor}', '{user}', 'page_view', now(), '' FROM system.numbers LIMIT 3"
    ))
    .await;
}

/// The value of the series `name{labels}` in a `/metrics` text (0 if absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn rows<'a>(document: &'a Value, table: &str) -> &'a Vec<Value> {
    document["tables"][table]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{table}: {}", document["tables"][table]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_holds_exactly_the_subjects_rows_and_is_recorded_as_an_access_request() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let collector = collector(&db).await;
    let (visitor, token) = collector.issued().await;
    seed(&ch, &db, &visitor, "u-export", 25).await;

    let response = center(
        &collector,
        reqwest::Method::GET,
        &format!("/v1/privacy/demo/{visitor}/export"),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let id = response.headers()["fiducia-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let document: Value = response.json().await.unwrap();
    assert_eq!(
        (document["format"].as_str(), document["version"].as_u64()),
        (Some("fiducia.export"), Some(1))
    );
    assert_eq!(document["subject"], json!({"visitor_id": visitor}));
    let history = document["consent"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "the record the id was issued with");
    assert!(
        history[0]["receipt"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/v1/privacy/demo/{visitor}/receipts/"))
    );
    let expected = ch
        .query(&format!("SELECT count() FROM {db}.events WHERE site_id = 'demo' AND visitor_id = '{visitor}' FORMAT TSV"))
        .await;
    assert_eq!(rows(&document, "events").len().to_string(), expected.trim());
    assert_eq!(rows(&document, "events").len(), 25);
    for table in [
        "events",
        "sessions",
        "profile_events",
        "consent_log",
        "privacy_requests",
    ] {
        let column = if matches!(table, "consent_log" | "privacy_requests") {
            "subject"
        } else {
            "visitor_id"
        };
        for row in rows(&document, table) {
            assert_eq!(row[column], visitor.as_str(), "{table}");
            assert_eq!(row["site_id"], "demo", "{table}");
        }
    }
    assert_eq!(rows(&document, "sessions").len(), 1);
    assert_eq!(rows(&document, "consent_log").len(), 1);
    assert_eq!(
        document["tables"]["profiles"],
        Value::Null,
        "no such table in this database"
    );

    let (requests, _) =
        decoded::<PrivacyRequest>(&collector, &collector.topics.privacy, |r| !r.is_empty()).await;
    assert_eq!(requests[0].kind(), PrivacyRequestKind::Access);
    assert_eq!(
        uuid::Uuid::from_slice(&requests[0].request_id)
            .unwrap()
            .to_string(),
        id
    );

    // By user id, through the admin API: the events of that user id only.
    let response = admin(
        &collector,
        reqwest::Method::GET,
        "/v1/admin/demo/export?user_id=u-export",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let by_user: Value = response.json().await.unwrap();
    assert_eq!(
        by_user["subject"],
        json!({"user_key": user_key("demo", "u-export")})
    );
    assert_eq!(rows(&by_user, "events").len(), 25);
    assert!(
        rows(&by_user, "events")
            .iter()
            .all(|r| r["user_id"] == "u-export")
    );
    assert_eq!(
        by_user["tables"]["sessions"],
        Value::Null,
        "not held by user id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_call_without_the_secret_is_refused_and_audited() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let collector = collector(&db).await;
    let calls: [(reqwest::Method, &str, Option<&str>); 3] = [
        (
            reqwest::Method::POST,
            "/v1/admin/demo/requests",
            Some(r#"{"kind":"erasure","visitor_id":"v-1"}"#),
        ),
        (reqwest::Method::GET, "/v1/admin/demo/requests", None),
        (
            reqwest::Method::GET,
            "/v1/admin/demo/export?visitor_id=v-1",
            None,
        ),
    ];
    for (method, path, body) in &calls {
        for secret in [
            None,
            Some("wrong"),
            Some("admin-secret-for-tests-012"),
            Some("admin-secret-for-tests-01234"),
        ] {
            let response = admin(&collector, method.clone(), path, secret, *body).await;
            assert_eq!(response.status(), 401, "{method} {path} {secret:?}");
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "admin_unauthorized");
        }
    }
    let refused = ch
        .query(&format!(
            "SELECT count() FROM {db}.admin_audit WHERE status = 401 FORMAT TSV"
        ))
        .await;
    assert_eq!(refused.trim(), "12", "every refused call audited");
    let networks = ch
        .query(&format!(
            "SELECT DISTINCT ip_prefix, subject, method FROM {db}.admin_audit WHERE route = '/v1/admin/{{site}}/export' FORMAT TSV"
        ))
        .await;
    assert_eq!(
        networks.trim(),
        "127.0.0.0/24\t\tGET",
        "truncated, and no subject before the secret"
    );
    let text = collector.metrics().await;
    let series = "fiducia_collector_admin_calls_total{route=\"/v1/admin/{site}/requests\",outcome=\"admin_unauthorized\"}";
    assert!(metric(&text, series) >= 8.0, "{series}");
    // Nothing was erased.
    let (visitor_dropped, _) = (
        dropped(collector.post(views("v-1", None)).await.headers()),
        (),
    );
    assert_eq!(visitor_dropped, "");

    // With the secret: an export request by user id, then the list.
    let response = admin(
        &collector,
        reqwest::Method::POST,
        "/v1/admin/demo/requests",
        Some(SECRET),
        Some(r#"{"kind":"export","user_id":"u-7"}"#),
    )
    .await;
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["export"], "/v1/admin/demo/export?user_id=u-7");
    let request_id = answer["request_id"].as_str().unwrap().to_owned();
    ch.query(&format!(
        "INSERT INTO {db}.privacy_requests VALUES ('{request_id}', 'demo', '', '{}', 'access', 'admin', 'received', now(), now())",
        user_key("demo", "u-7")
    ))
    .await;
    let response = admin(
        &collector,
        reqwest::Method::GET,
        "/v1/admin/demo/requests?user_id=u-7",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["requests"][0]["request_id"], request_id.as_str());
    assert_eq!(list["requests"][0]["status"], "received");
    let audited = ch
        .query(&format!(
            "SELECT request_id, status FROM {db}.admin_audit WHERE status = 202 FORMAT TSV"
        ))
        .await;
    assert_eq!(
        audited.trim(),
        format!("{request_id}\t202"),
        "audited with the request it made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rights_calls_are_refused_and_audited_and_change_nothing() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let collector = collector(&db).await;
    let oversize = format!(r#"{{"kind":"erasure","user_id":"{}"}}"#, "u".repeat(70_000));
    for (path, body, status) in [
        ("/v1/admin/demo/requests", "{", 400),
        (
            "/v1/admin/demo/requests",
            r#"{"kind":"forget","user_id":"u"}"#,
            400,
        ),
        (
            "/v1/admin/demo/requests",
            r#"{"kind":"erasure","user_id":"u","visitor_id":"v"}"#,
            400,
        ),
        (
            "/v1/admin/demo/requests",
            r#"{"kind":"erasure","user_id":"u u"}"#,
            400,
        ),
        ("/v1/admin/demo/requests", r#"{"kind":"erasure"}"#, 400),
        ("/v1/admin/demo/requests", oversize.as_str(), 413),
        (
            "/v1/admin/nosuchsite/requests",
            r#"{"kind":"erasure","user_id":"u"}"#,
            403,
        ),
    ] {
        let response = admin(
            &collector,
            reqwest::Method::POST,
            path,
            Some(SECRET),
            Some(body),
        )
        .await;
        assert_eq!(
            response.status(),
            status,
            "{path} {}",
            &body[..body.len().min(60)]
        );
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"].is_string());
    }
    for query in [
        "",
        "?visitor_id=a&user_id=b",
        "?visitor_id=%27%20OR%201",
        "?x=1",
    ] {
        let path = format!("/v1/admin/demo/export{query}");
        let response = admin(&collector, reqwest::Method::GET, &path, Some(SECRET), None).await;
        assert_eq!(response.status(), 400, "{path}");
    }
    let audited = ch
        .query(&format!(
            "SELECT count() FROM {db}.admin_audit WHERE status >= 400 FORMAT TSV"
        ))
        .await;
    assert_eq!(audited.trim(), "11");
    assert_eq!(
        fiducia_testkit::count_messages(&collector.brokers, &collector.topics.privacy),
        0
    );

    // The center: another visitor's token, no token, a token for another site.
    let (visitor, token) = collector.issued().await;
    let (other, other_token) = collector.issued().await;
    for (target, token, status) in [(&other, &token, 403), (&visitor, &String::new(), 401)] {
        for (method, action) in [
            (reqwest::Method::POST, "erase"),
            (reqwest::Method::GET, "export"),
            (reqwest::Method::GET, "requests"),
        ] {
            let path = format!("/v1/privacy/demo/{target}/{action}");
            let response = center(&collector, method, &path, token, None).await;
            assert_eq!(response.status(), status, "{path}");
        }
    }
    let path = format!("/v1/privacy/other/{other}/erase");
    assert_ne!(
        center(&collector, reqwest::Method::POST, &path, &other_token, None)
            .await
            .status(),
        202
    );
    assert_eq!(
        fiducia_testkit::count_messages(&collector.brokers, &collector.topics.privacy),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_clickhouse_exports_answer_503_and_the_admin_api_is_off_without_a_secret() {
    let collector = TestCollector::spawn().await;
    let (visitor, token) = collector.issued().await;
    let response = center(
        &collector,
        reqwest::Method::GET,
        &format!("/v1/privacy/demo/{visitor}/export"),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "warehouse_unavailable");
    let response = admin(
        &collector,
        reqwest::Method::GET,
        "/v1/admin/demo/requests",
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(response.status(), 404);
    // Erasure needs no warehouse.
    let response = center(
        &collector,
        reqwest::Method::POST,
        &format!("/v1/privacy/demo/{visitor}/erase"),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), 202);
}
