//! A broker restarted without its data (memory storage, or a cluster
//! replaced) while every service keeps running: the consumers' positions
//! and committed offsets now lie beyond the log end of the recreated
//! partitions. Every event the collector acknowledges after the restart
//! must still reach ClickHouse.
//!
//! Ignored: it fails today (issue 15), and shows how. The surviving
//! consumers commit their old offsets into the new broker's group (seen:
//! the enricher's group at offset 600 on a partition whose new log holds
//! 91) and Tansu answers fetches beyond the log end with nothing rather
//! than "out of range", so they wait in silence; and the enricher's
//! producer times out against the restarted broker even after it replaced
//! itself. Run it with `cargo test -p fiducia-pipeline-tests -- --ignored`.

use std::time::Duration;

use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::clicks;
use fiducia_testkit::{PrivateInfra, eventually};

use crate::stack::{Running, Stack};

/// Posts `batches` batches of 10 consented clicks, each answered `204`; the
/// number of events.
async fn post(collector: &Running, batches: usize) -> u64 {
    for i in 0..batches {
        let (body, _) = clicks("granted", 10);
        assert_eq!(collector.post(body, &[]).await.status(), 204, "batch {i}");
    }
    10 * batches as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "issue 15: consumers wait beyond the new log end after a broker lost its data"]
async fn events_acknowledged_after_a_broker_lost_its_data_are_stored() {
    let infra = PrivateInfra::start();
    // The default names: `up --infra` recreates them on the restarted broker.
    let stack = Stack::new(&infra.infra, Topics::default());
    let collector = stack.collector().await;
    let sink = stack.sink().await;
    let enricher = stack.enricher().await;
    let events = format!("SELECT count() FROM `{}`.events FINAL", stack.database);
    let within = Duration::from_secs(90);

    // Far enough that every consumer's offsets lie beyond the new log end.
    let before = post(&collector, 60).await;
    stack
        .clickhouse
        .wait_for_count(&events, before, within)
        .await;

    infra.script("down", &["kafka"]);
    infra.script("up", &["--infra"]);
    let after = eventually("the collector accepting again", within, || async {
        let (body, _) = clicks("granted", 10);
        match collector.post(body, &[]).await.status().as_u16() {
            204 => Ok(10),
            other => Err(format!("answering {other}")),
        }
    })
    .await
        + post(&collector, 9).await;

    let started = std::time::Instant::now();
    stack
        .clickhouse
        .wait_for_count(&events, before + after, Duration::from_secs(120))
        .await;
    println!(
        "broker lost its data: the {after} events acknowledged after it came back were stored {:.1} s after the last was posted",
        started.elapsed().as_secs_f64()
    );
    for service in [&enricher, &sink] {
        let metrics = service.metrics().await;
        assert!(
            metrics
                .lines()
                .any(|l| l.contains("_kafka_offset_resets_total") && !l.ends_with(" 0")),
            "the reset is counted: {metrics}"
        );
    }
    stack.drop_database().await;
}
