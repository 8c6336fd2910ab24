//! Hostile input (issue 15): every parser and limit of the collector meets
//! what a hostile or broken client sends, and each gets its documented
//! answer (`collector/README.md`, Hostile input): a `4xx` with a
//! machine-readable reason, counted by reason, or, below HTTP, a bare
//! status and a closed connection. Nothing panics, nothing refused is
//! published, and a well-formed request from another client is answered
//! meanwhile. The collector runs over the in-memory publisher (no broker),
//! on 127.0.0.1, and the transport tests write raw bytes to its socket.

mod body;
mod framing;
mod limits;
mod properties;
mod slow;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fiducia_collector::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::MemoryCollector;

/// A collector no test will rate-limit (property tests send thousands).
fn spawn() -> MemoryCollector {
    spawn_with(|_| {})
}

/// Same, after `tweak`.
fn spawn_with(tweak: impl FnOnce(&mut Config)) -> MemoryCollector {
    MemoryCollector::spawn_with(|config| {
        config.limits.rate_per_ip_per_second = 1_000_000;
        config.limits.rate_burst = 1_000_000;
        tweak(config);
    })
}

/// A consented one-click envelope, as the tag sends it.
fn good() -> String {
    fiducia_testkit::envelopes::clicks("granted", 1).0
}

/// Posts `body` and returns the status and the answer's `error` (empty
/// when the answer has no JSON body).
async fn answer(
    collector: &MemoryCollector,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let response = collector.post(body, headers).await;
    let status = response.status().as_u16();
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    (
        status,
        json["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A request the collector must refuse, and how.
struct Refusal {
    case: &'static str,
    body: Vec<u8>,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    reason: &'static str,
    field: Option<&'static str>,
}

/// `case`, whose `body` (posted as the tag does) gets `status` and `reason`.
fn refused(
    case: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    reason: &'static str,
) -> Refusal {
    Refusal {
        case,
        body: body.into(),
        headers: &[],
        status,
        reason,
        field: None,
    }
}

impl Refusal {
    /// The answer names this field.
    fn field(self, field: &'static str) -> Self {
        Self {
            field: Some(field),
            ..self
        }
    }

    /// Posted with these headers too.
    fn with(self, headers: &'static [(&'static str, &'static str)]) -> Self {
        Self { headers, ..self }
    }
}

/// Posts each case and checks its status, its reason (and field), that
/// the reason was counted, and that nothing was published.
async fn assert_refused(collector: &MemoryCollector, cases: Vec<Refusal>) {
    for refusal in cases {
        let case = refusal.case;
        let before = MemoryCollector::rejected(refusal.reason);
        let response = collector.post(refusal.body, refusal.headers).await;
        assert_eq!(response.status().as_u16(), refusal.status, "{case}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["error"], refusal.reason, "{case}: {json}");
        if let Some(field) = refusal.field {
            assert_eq!(json["field"], field, "{case}: {json}");
        }
        assert!(
            MemoryCollector::rejected(refusal.reason) > before,
            "{case}: counted"
        );
    }
    assert!(collector.publisher.published().is_empty());
}

/// Asserts the collector still takes a well-formed batch and publishes it:
/// whatever came before harmed nothing.
async fn still_serves(collector: &MemoryCollector) {
    let before = collector.publisher.published().len();
    assert_eq!(answer(collector, good(), &[]).await, (204, String::new()));
    assert_eq!(collector.publisher.published().len(), before + 1);
}

/// What came back on one connection.
struct Exchange {
    /// Everything the collector wrote, lossily as text.
    text: String,
    /// Whether it closed the connection (rather than `wait` running out).
    closed: bool,
    /// From connecting to the close (or to `wait`).
    took: Duration,
}

impl Exchange {
    /// The status of every response, in order.
    fn statuses(&self) -> Vec<u16> {
        self.text
            .split("HTTP/1.1 ")
            .skip(1)
            .filter_map(|answer| answer.get(..3)?.parse().ok())
            .collect()
    }
}

/// Writes `bytes` on a fresh connection, then reads until the collector
/// closes it or `wait` passed.
async fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Exchange {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_until_closed(&mut stream, started, wait).await
}

/// Reads `stream` until the collector closes it or `wait` (from `started`) passed.
async fn read_until_closed(stream: &mut TcpStream, started: Instant, wait: Duration) -> Exchange {
    let mut out = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    let closed = loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    Exchange {
        text: String::from_utf8_lossy(&out).into_owned(),
        closed,
        took: started.elapsed(),
    }
}

/// `data` gzipped, as a client would send it.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A raw `POST /v1/events` of `body` with `headers` (each `Name: value`).
fn raw_post(headers: &[&str], body: &str) -> Vec<u8> {
    let mut head = String::from("POST /v1/events HTTP/1.1\r\nHost: collector\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    format!("{head}\r\n{body}").into_bytes()
}
