//! The export target (issue 17): a subject with 10,000 events among many
//! others' exported in under 5 s, with memory bounded: the collector's
//! resident set grows by far less than the document it streams. Ignored by
//! default (it seeds 200,000 rows); run with
//! `cargo test -p fiducia-collector --release --test api export_of_ten_thousand -- --ignored --nocapture`
//! and write the figures in `benches/README.md`.

use std::time::Instant;

use crate::rights::{center, clickhouse, collector, database, seed};

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: seeds 200,000 rows"]
async fn export_of_ten_thousand_events_is_fast_and_bounded() {
    let ch = clickhouse();
    let db = database(&ch).await;
    let collector = collector(&db).await;
    let (visitor, token) = collector.issued().await;
    // The subject's other rows, then its 10,000 events with 2 KB URLs (a
    // 20 MB document, so a buffered export could not hide in the noise).
    seed(&ch, &db, &visitor, "u-bench", 0).await;
    ch.query(&format!(
        "INSERT INTO {db}.events SELECT generateUUIDv4(), 'demo', '{visitor}', 'u-bench', 'page_view', now(), \
         concat('https://shop.example/p/', toString(number), '?q=', \
         arrayStringConcat(arrayMap(x -> 'abcdefghij', range(200)))) FROM system.numbers LIMIT 10000"
    ))
    .await;
    // 180,000 more of others, so the subject is a needle.
    ch.query(&format!(
        "INSERT INTO {db}.events SELECT generateUUIDv4(), 'demo', concat('v-', toString(number % 5000)), '', \
         'page_view', now(), concat('https://shop.example/p/', toString(number)) FROM system.numbers LIMIT 180000"
    ))
    .await;
    let before = peak_rss_kib();
    let started = Instant::now();
    let response = center(
        &collector,
        reqwest::Method::GET,
        &format!("/v1/privacy/demo/{visitor}/export"),
        &token,
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let first_byte = started.elapsed();
    let mut bytes = 0_usize;
    let mut tail = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        tail = chunk.to_vec();
    }
    let took = started.elapsed();
    let growth = peak_rss_kib().saturating_sub(before);
    assert!(
        String::from_utf8_lossy(&tail).ends_with("}}\n"),
        "the whole document"
    );
    eprintln!(
        "export: 10,000 events among 190,000 rows: {bytes} bytes in {took:?} (first byte {first_byte:?}); \
         peak RSS growth {growth} KiB"
    );
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
    assert!(
        (growth as usize) * 1024 < bytes / 4,
        "memory grew by {growth} KiB for a {bytes}-byte document"
    );
}
