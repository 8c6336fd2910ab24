//! Envelopes as the tag sends them (`POST /v1/events` bodies, see
//! `collector/README.md`), for site `demo`, sent now.

/// The origin site `demo` allows in every test configuration.
pub const ORIGIN: &str = "http://localhost:8000";

/// `count` click events from `visitor-1`, with measurement consent
/// `measurement` (`granted` or `denied`) given a minute ago; the body and
/// the events' ids.
#[must_use]
pub fn clicks(measurement: &str, count: usize) -> (String, Vec<String>) {
    clicks_from("visitor-1", measurement, count)
}

/// [`clicks`] from `visitor`.
#[must_use]
pub fn clicks_from(visitor: &str, measurement: &str, count: usize) -> (String, Vec<String>) {
    let now = fiducia_proto::time::now_ms();
    let updated_at = now - 60_000;
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let events: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(seq, id)| {
            format!(
                r#"{{"id":"{id}","type":"click","ts":{now},"seq":{seq},"props":{{"el":"a#buy"}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"site":"demo","sent_at":{now},"consent":{{"measurement":"{measurement}","updated_at":{updated_at}}},
            "visitor":{{"id":"{visitor}"}},
            "context":{{"url":"https://shop.example/p/42?utm_source=news","referrer":"https://www.google.com/","title":"Red shoes"}},
            "events":[{}]}}"#,
        events.join(",")
    );
    (body, ids)
}

/// An envelope from `visitor` whose consent grants the purposes in `granted`
/// (the others denied), chosen at `updated_at` through the tag's API, with
/// one event of each type in `types`.
#[must_use]
pub fn choice(visitor: &str, granted: &[&str], updated_at: i64, types: &[&str]) -> String {
    let consent: Vec<String> = ["measurement", "personalization", "functional"]
        .iter()
        .map(|p| {
            let value = if granted.contains(p) {
                "granted"
            } else {
                "denied"
            };
            format!(r#""{p}":"{value}""#)
        })
        .collect();
    let now = fiducia_proto::time::now_ms();
    let events: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(seq, t)| {
            format!(
                r#"{{"id":"{}","type":"{t}","ts":{now},"seq":{seq},"props":{{}}}}"#,
                uuid::Uuid::now_v7()
            )
        })
        .collect();
    format!(
        r#"{{"site":"demo","sent_at":{now},
            "consent":{{{},"source":"api","notice_version":"2026-01","updated_at":{updated_at}}},
            "visitor":{{"id":"{visitor}"}},"context":{{"url":"https://shop.example/"}},
            "events":[{}]}}"#,
        consent.join(","),
        events.join(",")
    )
}

/// [`choice`] from a tag that has no visitor id yet and asks the collector
/// for one (`visitor.issue`).
#[must_use]
pub fn issue(granted: &[&str], updated_at: i64, types: &[&str]) -> String {
    choice("-", granted, updated_at, types)
        .replace(r#""visitor":{"id":"-"}"#, r#""visitor":{"issue":true}"#)
}

/// Posts `body` to `{collector}/v1/events` as the tag does (`text/plain`,
/// from [`ORIGIN`]), with extra request `headers`.
///
/// # Panics
/// When the request cannot be sent.
pub async fn post(
    collector: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{collector}/v1/events"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", ORIGIN);
    for &(name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body).send().await.expect("request sent")
}

/// The `Fiducia-Dropped` header of an answer (empty when nothing was dropped).
///
/// # Panics
/// When the header is not ASCII.
#[must_use]
pub fn dropped(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("fiducia-dropped")
        .map(|v| v.to_str().expect("an ASCII header").to_owned())
        .unwrap_or_default()
}
