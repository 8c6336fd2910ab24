//! Posted events land exactly once, unconsented ones never, and a `kill -9`
//! of the sink while events flow loses nothing.

use std::time::{Duration, Instant};

use crate::stack::{Running, Stack};
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::{clicks, dropped};
use fiducia_testkit::{infra, unique};

/// Posts `batches` envelopes of 1..=20 events with measurement consent; returns the event count.
async fn post_granted(collector: &Running, batches: usize) -> u64 {
    let mut total = 0;
    for i in 0..batches {
        let (body, ids) = clicks("granted", 1 + (i * 7) % 20);
        let response = collector.post(body, &[]).await;
        assert_eq!(response.status(), 204, "batch {i}");
        total += ids.len() as u64;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_accepted_event_exactly_once() {
    let stack = Stack::new(infra(), Topics::with_suffix(&unique("pipeline")));
    let collector = stack.collector().await;
    let mut sink = stack.sink().await;
    let _enricher = stack.enricher().await;
    let events = format!("SELECT count() FROM `{}`.events FINAL", stack.database);
    let distinct = format!(
        "SELECT uniqExact(event_id) FROM `{}`.events",
        stack.database
    );
    let within = Duration::from_secs(90);

    // 1. Mixed batches with consent: exactly N rows, N distinct ids.
    let started = Instant::now();
    let mut expected = post_granted(&collector, 30).await;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;
    let elapsed = started.elapsed();
    println!(
        "pipeline: {expected} events posted and stored in {:.2} s ({:.0} events/s)",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
    );
    assert_eq!(stack.clickhouse.query_u64(&distinct).await, expected);

    // 2. Without consent: nothing stored, the drop counted.
    let (denied, _) = clicks("denied", 4);
    let response = collector.post(denied, &[]).await;
    assert_eq!(response.status(), 204);
    assert_eq!(dropped(response.headers()), "measurement:denied=4");
    let metrics = collector.metrics().await;
    assert!(
        metrics.contains(r#"decision="drop",purpose="measurement",reason="denied""#),
        "{metrics}"
    );

    // 3. The same batch twice: one row per event id.
    let (twice, _) = clicks("granted", 10);
    collector.post_twice(twice).await;
    expected += 10;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;

    // 4. kill -9 the sink while events flow, start it again: still exactly N.
    let flow = async {
        // Let the flow start before the kill.
        tokio::time::sleep(Duration::from_millis(300)).await;
        sink.process.kill_9();
    };
    let (posted, ()) = tokio::join!(post_granted(&collector, 40), flow);
    expected += posted;
    sink.restart().await;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;
    assert_eq!(stack.clickhouse.query_u64(&distinct).await, expected);
    // Nothing was invented on the way: no unconsented row.
    let unconsented = format!(
        "SELECT count() FROM `{}`.events WHERE consent_measurement = 0",
        stack.database
    );
    assert_eq!(stack.clickhouse.query_u64(&unconsented).await, 0);
    stack.drop_database().await;
}
