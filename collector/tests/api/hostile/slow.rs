//! Slow and idle clients: heads and bodies trickled a byte at a time, a
//! second head stalled on a kept-alive connection, thousands of idle
//! connections. Each is cut off within its bound (timeouts shortened here
//! to a few hundred milliseconds), and a well-formed request from another
//! client is answered meanwhile.

use std::time::{Duration, Instant};

use fiducia_collector::config::Config;
use fiducia_collector::server::write_deadline;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{answer, good, raw_post, read_until_closed, spawn_with, still_serves};
use crate::helpers::MemoryCollector;

/// Timeouts short enough to wait for.
fn short(config: &mut Config) {
    config.connections.client_request_timeout = Duration::from_millis(500);
    config.connections.keep_alive = Duration::from_millis(500);
    config.limits.body_timeout = Duration::from_millis(800);
    config.kafka_message_timeout = Duration::from_millis(500);
}

/// Sends `bytes` one at a time, `every` apart, until the collector
/// closes the connection (or all are sent); then reads what it answered.
async fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    every: Duration,
    started: Instant,
) -> super::Exchange {
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(every).await;
    }
    read_until_closed(stream, started, Duration::from_secs(30)).await
}

#[tokio::test]
async fn a_head_trickled_slower_than_the_request_timeout_gets_408_and_a_close() {
    let collector = spawn_with(short);
    let started = Instant::now();
    let mut stream = TcpStream::connect(collector.addr).await.unwrap();
    let head = b"GET /tag.js HTTP/1.1\r\nHost: collector\r\n\r\n";
    let answer = trickle(&mut stream, head, Duration::from_millis(100), started).await;
    assert_eq!(answer.statuses(), [408], "{}", answer.text);
    assert!(answer.closed);
    assert!(answer.took < Duration::from_secs(3), "{:?}", answer.took);
    still_serves(&collector).await;
}

#[tokio::test]
async fn a_second_head_stalled_on_a_kept_alive_connection_is_cut_at_the_deadline() {
    let mut config = None;
    let collector = spawn_with(|c| {
        short(c);
        config = Some(c.clone());
    });
    let deadline = write_deadline(&config.unwrap());
    let before = MemoryCollector::rejected("stalled_connection");
    let mut stream = TcpStream::connect(collector.addr).await.unwrap();
    stream
        .write_all(b"GET /.well-known/gpc.json HTTP/1.1\r\nHost: c\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // actix-http times only the first head: this one would be waited for
    // as long as bytes keep coming (a write from the collector is what the
    // deadline waits for).
    let started = Instant::now();
    let mut next = b"GET /tag.js HTTP/1.1\r\nHost: collector\r\nX-Slow: ".to_vec();
    next.extend([b'a'; 200]);
    let answer = trickle(&mut stream, &next, Duration::from_millis(200), started).await;
    assert_eq!(
        answer.statuses(),
        [200],
        "only the first request was answered"
    );
    assert!(answer.closed);
    let (low, high) = (
        deadline - Duration::from_millis(300),
        deadline + Duration::from_secs(1),
    );
    assert!(
        answer.took > low && answer.took < high,
        "{:?} vs {deadline:?}",
        answer.took
    );
    assert!(MemoryCollector::rejected("stalled_connection") > before);
    still_serves(&collector).await;
}

#[tokio::test]
async fn a_body_trickled_slower_than_the_body_timeout_gets_408_body_timeout() {
    let collector = spawn_with(short);
    let before = MemoryCollector::rejected("body_timeout");
    let body = good();
    let head = raw_post(&[&format!("Content-Length: {}", body.len())], "");
    let started = Instant::now();
    let mut stream = TcpStream::connect(collector.addr).await.unwrap();
    stream.write_all(&head).await.unwrap();
    let answer = trickle(
        &mut stream,
        body.as_bytes(),
        Duration::from_millis(50),
        started,
    )
    .await;
    assert_eq!(answer.statuses(), [408], "{}", answer.text);
    assert!(
        answer.text.contains(r#""error":"body_timeout""#),
        "{}",
        answer.text
    );
    assert!(answer.closed);
    assert!(answer.took < Duration::from_secs(3), "{:?}", answer.took);
    assert!(MemoryCollector::rejected("body_timeout") > before);
    assert!(collector.publisher.published().is_empty());
}

#[tokio::test]
async fn two_thousand_idle_connections_neither_delay_another_client_nor_outlive_their_timeout() {
    let collector = spawn_with(|c| {
        c.connections.client_request_timeout = Duration::from_secs(2);
        c.connections.keep_alive = Duration::from_secs(2);
    });
    let mut idle = Vec::with_capacity(2_000);
    for i in 0..2_000 {
        let mut stream = TcpStream::connect(collector.addr).await.unwrap();
        if i % 2 == 1 {
            // Half of them start a head and stop.
            stream
                .write_all(b"POST /v1/events HTTP/1.1\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let started = Instant::now();
    assert_eq!(answer(&collector, good(), &[]).await, (204, String::new()));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // Each is closed once its request timeout passed (with a bare 408).
    let started = Instant::now();
    for stream in &mut idle {
        let closed = read_until_closed(stream, started, Duration::from_secs(10)).await;
        assert!(closed.closed, "{}", closed.text);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    still_serves(&collector).await;
}

#[tokio::test]
async fn past_max_connections_a_client_waits_in_the_backlog_until_idle_ones_are_cut() {
    let collector = spawn_with(|c| {
        c.workers = 1;
        c.connections.max_connections_per_worker = 50;
        c.connections.client_request_timeout = Duration::from_secs(1);
    });
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(collector.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(answer(&collector, good(), &[]).await, (204, String::new()));
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(500) && waited < Duration::from_secs(3),
        "answered after {waited:?}: once the idle connections were cut, not refused"
    );
}
