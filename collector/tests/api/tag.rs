//! `GET /tag.js` and the versioned path on a running collector: the
//! committed build of the tag, with its caching headers, `304` for a
//! current copy, gzip on request, and counted in the HTTP metrics.

use std::io::Read as _;

use crate::helpers::TestCollector;

fn committed_tag() -> Vec<u8> {
    std::fs::read(fiducia_testkit::repo_root().join("js-tag/dist/fiducia.min.js"))
        .expect("js-tag/dist/fiducia.min.js is committed")
}

/// `fiducia_collector_http_requests_total` for a route and status (0 when absent).
fn requests(metrics: &str, route: &str, status: u16) -> u64 {
    let prefix =
        format!(r#"fiducia_collector_http_requests_total{{route="{route}",status="{status}"}} "#);
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |count| count.parse().unwrap())
}

/// `GET` (or another method) of `path` on the collector, with `headers`.
async fn request(
    collector: &TestCollector,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", collector.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

async fn get(collector: &TestCollector, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    request(collector, reqwest::Method::GET, path, headers).await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_tag_is_served_with_its_etag_and_a_short_cache() {
    let collector = TestCollector::spawn().await;
    let response = get(&collector, "/tag.js", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "public, max-age=300");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(response.headers().get("content-encoding").is_none());
    let etag = header(&response, "etag").to_owned();
    assert!(
        etag.len() == 18 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    assert_eq!(response.bytes().await.unwrap(), committed_tag());

    let revalidated = get(&collector, "/tag.js", &[("if-none-match", &etag)]).await;
    assert_eq!(revalidated.status(), 304);
    assert_eq!(header(&revalidated, "etag"), etag);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let stale = get(
        &collector,
        "/tag.js",
        &[("if-none-match", "\"0000000000000000\"")],
    )
    .await;
    assert_eq!(stale.status(), 200);

    // The recorder is shared by the tests running in parallel: only this
    // test revalidates, the others also fetch /tag.js.
    let metrics = collector.metrics().await;
    assert_eq!(requests(&metrics, "/tag.js", 304), 1, "{metrics}");
    assert!(requests(&metrics, "/tag.js", 200) >= 2, "{metrics}");
}

#[tokio::test]
async fn the_versioned_path_is_immutable_and_old_versions_are_gone() {
    let collector = TestCollector::spawn().await;
    let latest = get(&collector, "/tag.js", &[]).await;
    let version = header(&latest, "etag").trim_matches('"').to_owned();
    let response = get(&collector, &format!("/tag/{version}.js"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&response, "etag"), format!("\"{version}\""));
    assert_eq!(response.bytes().await.unwrap(), committed_tag());

    for path in ["/tag/0000000000000000.js", &format!("/tag/{version}")] {
        let gone = get(&collector, path, &[]).await;
        assert_eq!(gone.status(), 404, "{path}");
        assert_eq!(header(&gone, "cache-control"), "no-store", "{path}");
        let body: serde_json::Value = gone.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let metrics = collector.metrics().await;
    assert_eq!(requests(&metrics, "/tag/{file}", 404), 2, "{metrics}");
}

#[tokio::test]
async fn clients_that_accept_gzip_get_it_and_head_gets_no_body() {
    let collector = TestCollector::spawn().await;
    let response = get(
        &collector,
        "/tag.js",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-encoding"), "gzip");
    assert_eq!(header(&response, "vary"), "Accept-Encoding");
    assert!(header(&response, "etag").ends_with("-gz\""));
    let compressed = response.bytes().await.unwrap();
    assert!(compressed.len() < committed_tag().len() * 3 / 5);
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, committed_tag());

    let head = request(&collector, reqwest::Method::HEAD, "/tag.js", &[]).await;
    assert_eq!(head.status(), 200);
    assert_eq!(
        header(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(head.bytes().await.unwrap().is_empty());
}
