//! Bodies past a limit: too many events or properties, fields too long,
//! bodies too large as sent or once inflated (gzip bombs), gzip that does
//! not inflate, encodings and media types the collector does not take, and
//! paths and methods it does not serve. Each answer carries its reason and
//! is counted; the collector serves the next client as before.

use super::{answer, assert_refused, exchange, good, gzip, raw_post, refused, spawn, still_serves};
use crate::helpers::MemoryCollector;

const GZIP: &[(&str, &str)] = &[("content-encoding", "gzip")];

#[tokio::test]
async fn huge_fields_and_huge_counts_meet_their_limits() {
    let collector = spawn();
    let (many, _) = fiducia_testkit::envelopes::clicks("granted", 101);
    let props: Vec<String> = (0..51).map(|i| format!(r#""p{i}":{i}"#)).collect();
    let many_props = good().replacen(r#""el":"a#buy""#, &props.join(","), 1);
    let long_prop = good().replacen("a#buy", &"x".repeat(2049), 1);
    let long_title = good().replacen("Red shoes", &"t".repeat(4097), 1);
    let large = format!("{}{}", good(), " ".repeat(64 * 1024));
    let inflated = gzip(format!("{}{}", good(), " ".repeat(512 * 1024)).as_bytes());
    let cases = vec![
        refused("101 events", many, 400, "too_many_events"),
        refused("51 properties", many_props, 400, "props_too_large"),
        refused("a 2 kB property", long_prop, 400, "props_too_large"),
        refused("a 4,097-character title", long_title, 400, "invalid_field").field("context.title"),
        refused("64 kB and more as sent", large, 413, "too_large"),
        refused("512 kB and more inflated", inflated, 413, "too_large").with(GZIP),
    ];
    assert_refused(&collector, cases).await;
    still_serves(&collector).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_without_a_content_length_too() {
    let collector = spawn();
    // Chunked, so no length is declared: the limit is met while reading.
    let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
    let body = format!("{}0\r\n\r\n", chunk.repeat(9));
    let before = MemoryCollector::rejected("too_large");
    let request = raw_post(&["Transfer-Encoding: chunked"], &body);
    let answer = exchange(collector.addr, &request, std::time::Duration::from_secs(5)).await;
    assert_eq!(answer.statuses(), [413], "{}", answer.text);
    assert!(
        answer.text.contains(r#""error":"too_large""#),
        "{}",
        answer.text
    );
    assert!(MemoryCollector::rejected("too_large") > before);
    still_serves(&collector).await;
}

#[tokio::test]
async fn gzip_bombs_broken_gzip_and_unknown_encodings_are_refused() {
    let collector = spawn();
    // Deflate's best is about 1:1000, so 60 MiB fit under the 64 KiB limit.
    let bomb = gzip(&vec![b' '; 60 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "60 MiB in {} bytes", bomb.len());
    let mut truncated = gzip(good().as_bytes());
    truncated.truncate(truncated.len() - 8);
    let mut corrupt = gzip(good().as_bytes());
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xFF;
    let cases = vec![
        refused("a 60 MiB bomb", bomb, 413, "too_large").with(GZIP),
        refused("gzip cut short", truncated, 400, "invalid_gzip").with(GZIP),
        refused("a flipped byte", corrupt, 400, "invalid_gzip").with(GZIP),
        refused("plain text said to be gzip", good(), 400, "invalid_gzip").with(GZIP),
        refused("empty gzip", Vec::new(), 400, "invalid_gzip").with(GZIP),
        refused("br", good(), 415, "unsupported_encoding").with(&[("content-encoding", "br")]),
        refused("deflate", good(), 415, "unsupported_encoding")
            .with(&[("content-encoding", "deflate")]),
        refused("gzip twice in one", good(), 415, "unsupported_encoding")
            .with(&[("content-encoding", "gzip, gzip")]),
        refused(
            "two encoding headers",
            gzip(good().as_bytes()),
            415,
            "unsupported_encoding",
        )
        .with(&[
            ("content-encoding", "identity"),
            ("content-encoding", "gzip"),
        ]),
        // The tag's own post sends `text/plain`: this adds a second type.
        refused("two media types", good(), 415, "unsupported_media_type")
            .with(&[("content-type", "application/json")]),
        refused("a form", good(), 415, "unsupported_media_type")
            .with(&[("content-type", "application/x-www-form-urlencoded")]),
    ];
    assert_refused(&collector, cases).await;
    // Two gzip members one after the other are one body.
    let body = good();
    let (first, second) = body.split_at(40);
    let members = [gzip(first.as_bytes()), gzip(second.as_bytes())].concat();
    assert_eq!(answer(&collector, members, GZIP).await.0, 204);
}

#[tokio::test]
async fn paths_and_methods_not_served_answer_with_a_reason() {
    let collector = spawn();
    let client = reqwest::Client::new();
    for (method, path, status, reason) in [
        ("GET", "/nope", 404, "not_found"),
        ("POST", "/v1/event", 404, "not_found"),
        ("GET", "/v1/events", 405, "method_not_allowed"),
        ("PUT", "/v1/consent/explain", 405, "method_not_allowed"),
        ("DELETE", "/tag.js", 405, "method_not_allowed"),
        ("POST", "/.well-known/gpc.json", 405, "method_not_allowed"),
    ] {
        let before = MemoryCollector::rejected(reason);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client
            .request(method, format!("{}{path}", collector.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        if status == 405 {
            assert!(response.headers().contains_key("allow"), "{path}");
        }
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["error"], reason, "{path}");
        assert!(MemoryCollector::rejected(reason) > before, "{path}");
    }
}
