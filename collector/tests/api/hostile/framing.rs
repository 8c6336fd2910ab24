//! Request heads that frame their body ambiguously (request smuggling) or
//! that are too large, written as raw bytes. actix-http's codec answers
//! each with a bare `400` or `431` and closes the connection: the body,
//! which carries a second, smuggled request, is never parsed as one, and
//! nothing is published.

use std::time::Duration;

use super::{exchange, good, raw_post, spawn, still_serves};
use crate::helpers::MemoryCollector;

const WAIT: Duration = Duration::from_secs(5);

/// A well-formed `POST /v1/events` of a consented envelope, whole: what a
/// smuggler hides in the body of the first request.
fn smuggled() -> String {
    let body = good();
    format!(
        "POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn ambiguous_framing_is_400_and_the_smuggled_request_is_never_read() {
    let collector = spawn();
    let inner = smuggled();
    let chunked = format!("0\r\n\r\n{inner}");
    let len = inner.len().to_string();
    let cl = |n: &str| format!("Content-Length: {n}");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("Content-Length and chunked", raw_post(&[&cl("5"), "Transfer-Encoding: chunked"], &chunked)),
        ("chunked and Content-Length", raw_post(&["Transfer-Encoding: chunked", &cl(&len)], &inner)),
        ("two Content-Lengths that differ", raw_post(&[&cl("0"), &cl(&len)], &inner)),
        ("two Content-Lengths that agree", raw_post(&[&cl(&len), &cl(&len)], &inner)),
        ("a list of lengths", raw_post(&[&cl(&format!("{len}, {len}"))], &inner)),
        ("a signed length", raw_post(&[&cl(&format!("+{len}"))], &inner)),
        ("gzip, chunked", raw_post(&["Transfer-Encoding: gzip, chunked"], &chunked)),
        ("chunked, then identity", raw_post(&["Transfer-Encoding: chunked", "Transfer-Encoding: identity"], &chunked)),
        ("a space before the colon", raw_post(&["Transfer-Encoding : chunked", &cl("0")], &chunked)),
        ("obs-fold", raw_post(&["Transfer-Encoding: identity", " chunked", &cl("0")], &chunked)),
        ("obs-fold of a length", raw_post(&[&cl("0"), &format!(" {len}")], &inner)),
        ("a bare CR", raw_post(&["X-A: a\rTransfer-Encoding: chunked"], &chunked)),
        (
            "chunked in HTTP/1.0",
            format!("POST /v1/events HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}").into_bytes(),
        ),
    ];
    for (case, request) in cases {
        let before = MemoryCollector::rejected("malformed_request");
        let answer = exchange(collector.addr, &request, WAIT).await;
        assert_eq!(
            answer.statuses(),
            [400],
            "{case}: one answer\n{}",
            answer.text
        );
        assert!(answer.closed, "{case}: connection closed");
        assert!(answer.text.contains("connection: close"), "{case}");
        assert!(
            MemoryCollector::rejected("malformed_request") > before,
            "{case}"
        );
    }
    assert!(
        collector.publisher.published().is_empty(),
        "nothing smuggled through"
    );
    still_serves(&collector).await;
}

#[tokio::test]
async fn pipelined_requests_are_each_answered_which_is_why_one_answer_above_means_one_request() {
    let collector = spawn();
    let twice = format!("{}{}", smuggled(), smuggled());
    let answer = exchange(collector.addr, twice.as_bytes(), Duration::from_millis(500)).await;
    assert_eq!(answer.statuses(), [204, 204], "{}", answer.text);
    assert_eq!(collector.publisher.published().len(), 2);
}

#[tokio::test]
async fn a_chunked_body_with_broken_framing_is_400_incomplete_body() {
    let collector = spawn();
    let body = good();
    for (case, chunks) in [
        (
            "a size that is not hex",
            format!("zz\r\n{body}\r\n0\r\n\r\n"),
        ),
        (
            "a chunk longer than its size",
            format!("4\r\n{body}\r\n0\r\n\r\n"),
        ),
        (
            "a size past u64",
            format!("fffffffffffffffffff\r\n{body}\r\n0\r\n\r\n"),
        ),
    ] {
        let before = MemoryCollector::rejected("incomplete_body");
        let request = raw_post(&["Transfer-Encoding: chunked"], &chunks);
        let answer = exchange(collector.addr, &request, WAIT).await;
        assert_eq!(answer.statuses(), [400], "{case}\n{}", answer.text);
        assert!(
            answer.text.contains(r#""error":"incomplete_body""#),
            "{case}"
        );
        assert!(answer.closed, "{case}: connection closed");
        assert!(
            MemoryCollector::rejected("incomplete_body") > before,
            "{case}"
        );
    }
    assert!(collector.publisher.published().is_empty());
    still_serves(&collector).await;
}

#[tokio::test]
async fn oversized_heads_are_431_and_closed() {
    let collector = spawn();
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long = format!("X-Long: {}\r\n", "a".repeat(130 * 1024));
    let url = format!(
        "GET /tag.js?{} HTTP/1.1\r\nHost: c\r\n\r\n",
        "q".repeat(130 * 1024)
    );
    for (case, head) in [
        (
            "100 headers",
            format!("GET /tag.js HTTP/1.1\r\nHost: c\r\n{many}\r\n"),
        ),
        (
            "one 130 kB header",
            format!("GET /tag.js HTTP/1.1\r\nHost: c\r\n{long}\r\n"),
        ),
        ("a 130 kB URL", url),
    ] {
        let before = MemoryCollector::rejected("header_too_large");
        let answer = exchange(collector.addr, head.as_bytes(), WAIT).await;
        assert_eq!(answer.statuses(), [431], "{case}\n{}", answer.text);
        assert!(answer.closed, "{case}: connection closed");
        assert!(
            MemoryCollector::rejected("header_too_large") > before,
            "{case}"
        );
    }
    // 95 headers are served.
    let fewer: String = (0..94).map(|i| format!("X-H{i}: v\r\n")).collect();
    let head = format!("GET /tag.js HTTP/1.1\r\nHost: c\r\nConnection: close\r\n{fewer}\r\n");
    assert_eq!(
        exchange(collector.addr, head.as_bytes(), WAIT)
            .await
            .statuses(),
        [200]
    );
    still_serves(&collector).await;
}
