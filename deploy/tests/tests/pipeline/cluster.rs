//! The whole pipeline into a ClickHouse cluster of its own (2 shards x 2
//! replicas and ZooKeeper, `deploy/local/up clickhouse-cluster`), the sink
//! in cluster mode: posted events stored exactly once, each on the shard its
//! visitor key names, through a batch posted twice and a replica killed
//! with `kill -9` and started again while events flow.

use std::time::{Duration, Instant};

use crate::stack::{Running, Stack};
use fiducia_proto::topics::Topics;
use fiducia_sink::schema::cluster::VISITOR_KEY;
use fiducia_testkit::envelopes::clicks_from;
use fiducia_testkit::{
    CLUSTER_NODES, ClickHouse, Infra, PrivateCluster, eventually, infra, unique,
};

/// Visitors the events come from: enough for both shards to have many.
const VISITORS: usize = 24;
/// The server killed mid-stream: a replica the services do not talk to.
const KILLED: usize = 3;

/// Posts `batches` envelopes of 1..=10 granted events, visitor by visitor;
/// returns the event count.
async fn post(collector: &Running, wave: &str, batches: usize) -> u64 {
    let mut total = 0;
    for i in 0..batches {
        let visitor = format!("{wave}-{}", i % VISITORS);
        let (body, ids) = clicks_from(&visitor, "granted", 1 + i % 10);
        assert_eq!(collector.post(body, &[]).await.status(), 204, "batch {i}");
        total += ids.len() as u64;
    }
    total
}

/// Waits until both replicas of each shard hold exactly their shard's
/// events, `want` in all, none on the wrong shard.
async fn wait_every_replica_exact(servers: &[ClickHouse], database: &str, want: u64) {
    eventually("every replica exact", Duration::from_secs(120), || async {
        let mut counts = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            let shard = i / 2;
            let held = server
                .try_query(&format!("SELECT count() FROM `{database}`.events_local FINAL"))
                .await?;
            let misplaced = server
                .try_query(&format!(
                    "SELECT count() FROM `{database}`.events_local WHERE {VISITOR_KEY} % 2 != {shard}"
                ))
                .await?;
            if misplaced.trim() != "0" {
                return Err(format!("{} rows on the wrong shard", misplaced.trim()));
            }
            counts.push(held.trim().parse::<u64>().map_err(|e| e.to_string())?);
        }
        if counts[0] == counts[1] && counts[2] == counts[3] && counts[0] + counts[2] == want {
            Ok(())
        } else {
            Err(format!("events per server {counts:?}, want {want} per replica pair"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_stores_every_event_once_on_its_visitors_shard_of_a_cluster() {
    let cluster = PrivateCluster::start();
    let on_cluster = Infra {
        brokers: infra().brokers.clone(),
        clickhouse_url: cluster.urls[0].clone(),
    };
    let stack = Stack::new(&on_cluster, Topics::with_suffix(&unique("cluster")))
        .with_env("FIDUCIA_SINK_CLICKHOUSE_CLUSTER", cluster.name.clone());
    let servers: Vec<ClickHouse> = cluster.urls.iter().map(|u| ClickHouse::new(u)).collect();
    let collector = stack.collector().await;
    let _sink = stack.sink().await;
    let _enricher = stack.enricher().await;
    let events = format!("SELECT count() FROM `{}`.events FINAL", stack.database);
    let within = Duration::from_secs(120);

    // N events: exactly N through the Distributed table, each on its shard.
    let mut expected = post(&collector, "a", 60).await;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;
    wait_every_replica_exact(&servers, &stack.database, expected).await;

    // The same batch posted twice: once.
    let (twice, _) = clicks_from("twice", "granted", 10);
    collector.post_twice(twice).await;
    expected += 10;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;

    // A replica killed with SIGKILL while events flow, then started again.
    let crash = Instant::now();
    let flow = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::task::block_in_place(|| cluster.kill(CLUSTER_NODES[KILLED]));
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| cluster.restart_missing());
    };
    let (posted, ()) = tokio::join!(post(&collector, "b", 60), flow);
    expected += posted;
    stack
        .clickhouse
        .wait_for_count(&events, expected, within)
        .await;
    wait_every_replica_exact(&servers, &stack.database, expected).await;
    println!(
        "pipeline into the cluster: {expected} events exactly once on every replica, {:.1} s after the kill",
        crash.elapsed().as_secs_f64()
    );
}
