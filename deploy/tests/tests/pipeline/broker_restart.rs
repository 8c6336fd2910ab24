//! A broker restarted without its data (memory storage, or a cluster
//! replaced) while every service keeps running: the consumers' positions
//! and committed offsets now lie beyond the log end of the recreated
//! partitions. Every event the collector acknowledges after the restart
//! must still reach ClickHouse.
//!
//! The consumers notice and re-read the new logs from their beginning
//! (`proto/runtime/src/kafka/consume/log_end.rs`). A consumer may also
//! crash: librdkafka 2.12.1 dereferences a null topic name when a broker
//! answers a fetch for a topic id it does not know with leader tags (the
//! recreated topics have new ids), so the test restarts a service that
//! ended, as its supervisor would, and the restarted consumer finds its
//! committed offsets beyond the log end and resets them the same way. A
//! consumer that keeps failing to fetch a reset partition gives up after
//! 30 s and its service exits non-zero, restarted the same way.

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
async fn events_acknowledged_after_a_broker_lost_its_data_are_stored() {
    let infra = PrivateInfra::start();
    // The default names: `up --infra` recreates them on the restarted broker.
    let stack = Stack::new(&infra.infra, Topics::default())
        .with_env("RUST_LOG", "info,fiducia_runtime::kafka::consume=debug");
    let mut collector = stack.collector().await;
    let mut sink = stack.sink().await;
    let mut enricher = stack.enricher().await;
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
    let mut stored = 0;
    let mut crashes = Vec::new();
    while stored < before + after {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{stored} of {} stored after 120 s",
            before + after
        );
        for (name, service) in [
            ("collector", &mut collector),
            ("enricher", &mut enricher),
            ("sink", &mut sink),
        ] {
            if let Some(status) = service.restart_if_ended().await {
                crashes.push(format!("{name}: {status}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stored = stack.clickhouse.query_u64(&events).await;
    }
    assert_eq!(stored, before + after, "stored exactly once");
    // A consumer may still end after the last row landed (the give-up rule
    // above): it is restarted like in the loop, and its counters, which
    // are only reported here, start again from zero.
    let mut resets = Vec::new();
    for (name, service) in [("enricher", &mut enricher), ("sink", &mut sink)] {
        if let Some(status) = service.restart_if_ended().await {
            crashes.push(format!("{name}: {status}"));
        }
        let Some(metrics) = service.try_metrics().await else {
            crashes.push(format!("{name}: ended while its metrics were read"));
            continue;
        };
        resets.extend(
            metrics
                .lines()
                .filter(|l| l.starts_with("fiducia_") && l.contains("_kafka_offset_resets_total"))
                .map(str::to_owned),
        );
    }
    println!(
        "broker lost its data: the {after} events acknowledged after it came back were stored \
         {:.1} s after the last was posted; restarted after a crash: {crashes:?}; resets: {resets:?}",
        started.elapsed().as_secs_f64()
    );
    stack.drop_database().await;
}
