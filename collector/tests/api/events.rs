//! `POST /v1/events` against the real broker: what is accepted lands on the
//! raw topic as protobuf with routing headers; what is refused never does.

use std::io::Write;

use fiducia_proto::headers;
use fiducia_proto::v1::RawEvent;
use fiducia_runtime::kafka::routing::header;
use prost::Message as _;
use rdkafka::Message;

use fiducia_testkit::envelopes::clicks;

use crate::helpers::TestCollector;

#[tokio::test]
async fn consented_events_are_published_with_key_headers_and_truncated_ip() {
    let collector = TestCollector::spawn().await;
    let (body, ids) = clicks("granted", 5);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/events", collector.url))
        .header("content-type", "text/plain")
        .header("origin", crate::helpers::ORIGIN)
        .header("x-forwarded-for", "203.0.113.77")
        .header("user-agent", "Mozilla/5.0 test")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        crate::helpers::ORIGIN
    );
    let messages = collector.read_raw(5).await;
    assert_eq!(messages.len(), 5);
    let mut seen = Vec::new();
    for message in &messages {
        assert_eq!(message.key(), Some(&b"demo/visitor-1"[..]));
        assert_eq!(header(message, headers::SITE), Some(&b"demo"[..]));
        assert_eq!(header(message, headers::EVENT_TYPE), Some(&b"click"[..]));
        assert_eq!(
            header(message, headers::SCHEMA),
            Some(headers::schema::RAW_EVENT.as_bytes())
        );
        let event = RawEvent::decode(message.payload().unwrap()).unwrap();
        let ip = event.ip.unwrap();
        assert_eq!(
            (ip.network, ip.prefix_len),
            (vec![203, 0, 113, 0], 24),
            "only the /24 is published"
        );
        assert_eq!(event.user_agent, "Mozilla/5.0 test");
        seen.push(uuid::Uuid::from_slice(&event.event_id).unwrap().to_string());
    }
    seen.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn events_without_consent_are_dropped_counted_and_never_published() {
    let collector = TestCollector::spawn().await;
    let (denied, denied_ids) = clicks("denied", 3);
    let response = collector.post(denied).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers().get("fiducia-dropped").unwrap(),
        "measurement:denied=3"
    );
    let (missing, _) = clicks("denied", 2);
    let missing = missing.replace(r#""measurement":"denied","#, "");
    assert_eq!(collector.post(missing).await.status(), 204);
    // A consented marker batch after them: once it is read, anything published before it would be too.
    let (granted, granted_ids) = clicks("granted", 1);
    assert_eq!(collector.post(granted).await.status(), 204);
    let messages = collector.read_raw(2).await;
    let published: Vec<String> = messages
        .iter()
        .map(|m| {
            uuid::Uuid::from_slice(&RawEvent::decode(m.payload().unwrap()).unwrap().event_id)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        published, granted_ids,
        "only the consented event reached Kafka"
    );
    assert!(denied_ids.iter().all(|id| !published.contains(id)));
    let metrics = collector.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("fiducia_collector_events_total{")
                && l.contains(r#"site="demo""#)
                && l.contains(r#"decision="drop""#)
                && l.contains(r#"purpose="measurement""#)
                && l.contains(r#"reason="denied""#)),
        "{metrics}"
    );
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bombs_refused() {
    let collector = TestCollector::spawn().await;
    let (body, _) = clicks("granted", 2);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/events", collector.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 20 * 1024 * 1024]).unwrap();
    let response = client
        .post(format!("{}/v1/events", collector.url))
        .header("content-encoding", "gzip")
        .body(bomb.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
}

#[tokio::test]
async fn refusals_carry_status_and_machine_readable_reason() {
    let collector = TestCollector::spawn().await;
    let (good, _) = clicks("granted", 1);
    let client = reqwest::Client::new();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .body("{nope"),
            400,
            "invalid_json",
        ),
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .body(good.replace("\"demo\"", "\"nosuch\"")),
            403,
            "unknown_site",
        ),
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .header("origin", "https://evil.example")
                .body(good.clone()),
            403,
            "origin_not_allowed",
        ),
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .header("content-type", "application/xml")
                .body(good.clone()),
            415,
            "unsupported_media_type",
        ),
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .body(vec![b'x'; 70 * 1024]),
            413,
            "too_large",
        ),
        (
            client
                .post(format!("{}/v1/events", collector.url))
                .body(good.replace("\"click\"", "\"warp\"")),
            400,
            "invalid_field",
        ),
        (
            client
                .request(
                    reqwest::Method::OPTIONS,
                    format!("{}/v1/events", collector.url),
                )
                .header("origin", "https://evil.example"),
            403,
            "origin_not_allowed",
        ),
    ];
    for (request, status, reason) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{reason}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], reason);
    }
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/events", collector.url),
        )
        .header("origin", crate::helpers::ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        crate::helpers::ORIGIN
    );
    let metrics = collector.metrics().await;
    for reason in ["invalid_json", "unknown_site", "too_large"] {
        assert!(
            metrics.contains(&format!(
                r#"fiducia_collector_requests_rejected_total{{reason="{reason}"}}"#
            )),
            "{reason} counted:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn clients_over_the_rate_limit_get_429_with_retry_after() {
    let collector = TestCollector::spawn_with(|c| {
        c.limits.rate_per_ip_per_second = 1;
        c.limits.rate_burst = 2;
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let (body, _) = clicks("granted", 1);
        let response = collector.post(body).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(&statuses[..2], &[204, 204]);
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
}
