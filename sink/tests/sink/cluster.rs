//! The sink in cluster mode against a real ClickHouse cluster of its own
//! (2 shards x 2 replicas of 18.16 and ZooKeeper, `deploy/local/up
//! clickhouse-cluster`): every event stored once, on its visitor's shard,
//! through a redelivered batch, a retried insert, a replica killed with
//! SIGKILL mid-stream; an erasure and retention that reach every replica.
//!
//! About a minute here, beside the other tests; alone:
//! `cargo test -p fiducia-sink --test sink cluster:: -- --nocapture` (it
//! prints its timings and the cluster's memory).

use std::time::{Duration, Instant};

use clickhouse::Client;
use fiducia_proto::time::{midnight_days_ago_ms, now_ms};
use fiducia_proto::v1::{ConsentAction, EnrichedEvent};
use fiducia_runtime::service::sites::personalization::Personalization;
use fiducia_sink::config::ClickHouseConfig;
use fiducia_sink::jobs::items::queries;
use fiducia_sink::jobs::retention::{RetentionConfig, RetentionJob};
use fiducia_sink::schema::ServerFeatures;
use fiducia_sink::schema::cluster::Cluster;
use fiducia_sink::schema::cluster::VISITOR_KEY;
use fiducia_sink::schema::render;
use fiducia_sink::tables::TableRow as _;
use fiducia_sink::tables::events::EventRow;
use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter, client};
use fiducia_testkit::{CLUSTER_NODES, PrivateCluster, eventually};
use uuid::Uuid;

use crate::helpers::{
    PARTITIONS, RunningSink, Setup, WAIT, event, insert, produce, produce_events,
};
use crate::rights::{consent, erase, events_of, send_consent, wait_verified};

/// Events of the first wave, and of the wave the replica crash interrupts.
const N: u32 = 1_000;
const M: u32 = 600;
/// Visitors they come from: enough for both shards to have many.
const VISITORS: u32 = 40;
/// The server killed mid-stream: a replica the sink does not talk to.
const KILLED: usize = 3;

/// Event `i` of a wave: one of [`VISITORS`] visitors, every 11th anonymous
/// (no visitor, no session: spread by its id).
fn wave_event(wave: &str, i: u32) -> EnrichedEvent {
    let anonymous = i.is_multiple_of(11);
    EnrichedEvent {
        visitor_id: if anonymous {
            String::new()
        } else {
            format!("{wave}-v{}", i % VISITORS)
        },
        session_id: if anonymous {
            String::new()
        } else {
            format!("{wave}-s{}", i % VISITORS)
        },
        consent_personalization: true,
        ..event(Uuid::now_v7(), i)
    }
}

/// One server of the cluster.
struct Server {
    client: Client,
    database: String,
    /// Its shard's number from 0, as the `Distributed` tables count.
    shard: u64,
}

impl Server {
    async fn count(&self, sql: &str) -> u64 {
        self.client
            .query_raw(&render(sql, &self.database))
            .fetch_one()
            .await
            .unwrap_or(u64::MAX)
    }
}

fn servers(cluster: &PrivateCluster, database: &str) -> Vec<Server> {
    (0..cluster.urls.len())
        .map(|i| Server {
            client: client(&ClickHouseConfig {
                url: cluster.urls[i].clone(),
                ..ClickHouseConfig::default()
            }),
            database: database.to_owned(),
            shard: i as u64 / 2,
        })
        .collect()
}

/// Waits until every replica holds exactly `want` events in all (each
/// shard's pair agreeing), each on the shard its visitor key names.
async fn wait_every_replica_exact(servers: &[Server], want: u64) {
    eventually(
        "every replica holds its shard's events exactly once",
        WAIT * 2,
        || async {
            let mut per_server = Vec::new();
            for server in servers {
                per_server.push(
                    server
                        .count("SELECT count() FROM {db}.events_local FINAL")
                        .await,
                );
                let misplaced = server
                    .count(&format!(
                        "SELECT count() FROM {{db}}.events_local WHERE {VISITOR_KEY} % 2 != {}",
                        server.shard
                    ))
                    .await;
                if misplaced != 0 {
                    return Err(format!("{misplaced} rows on the wrong shard"));
                }
            }
            let agree = per_server[0] == per_server[1] && per_server[2] == per_server[3];
            if agree
                && per_server[0] + per_server[2] == want
                && per_server[0] > 0
                && per_server[2] > 0
            {
                Ok(())
            } else {
                Err(format!(
                    "events per server {per_server:?}, want {want} per replica pair"
                ))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_stores_every_event_once_on_its_visitors_shard_through_retries_a_replica_crash_erasure_and_retention()
 {
    let started = Instant::now();
    let cluster = PrivateCluster::start();
    eprintln!("cluster up in {:.1?}", started.elapsed());
    let setup = Setup::on_cluster(&cluster.urls[0], &cluster.name).await;
    let servers = servers(&cluster, &setup.database);
    let distributed = &servers[0];
    let producer = setup.producer();

    // N events through Kafka: exactly N through the Distributed table,
    // each on its visitor's shard, the same on both replicas of a shard.
    let first: Vec<EnrichedEvent> = (0..N).map(|i| wave_event("a", i)).collect();
    produce_events(&producer, &setup.topics.enriched, &first).await;
    let sink = RunningSink::start(setup.config()).await;
    eprintln!(
        "sink migrated the cluster in {:.1?} since start",
        started.elapsed()
    );
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", N.into())
        .await;
    wait_every_replica_exact(&servers, N.into()).await;

    // The same batch delivered again (then a marker per partition, after
    // it in each): still N.
    produce_events(&producer, &setup.topics.enriched, &first).await;
    for partition in 0..PARTITIONS {
        let marker = wave_event("marker", partition.unsigned_abs());
        let payload = prost::Message::encode_to_vec(&marker);
        produce(
            &producer,
            &setup.topics.enriched,
            "marker",
            &payload,
            Some(partition),
        )
        .await;
    }
    let with_markers = u64::from(N) + u64::from(PARTITIONS.unsigned_abs());
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", with_markers)
        .await;
    wait_every_replica_exact(&servers, with_markers).await;

    // An insert retried as it was (the sink's retry of a failed batch):
    // the replicas drop the repeated blocks, so even without FINAL the
    // rows are there once.
    let retried: Vec<EventRow> = (0..100)
        .map(|i| EventRow {
            site_id: "retried".into(),
            ..EventRow::from_message(wave_event("retry", i)).unwrap()
        })
        .collect();
    let writer = ClickHouseWriter::new(&setup.config().clickhouse, ClickHouseHealth::new(WAIT));
    insert(&writer, retried.clone()).await;
    insert(&writer, retried).await;
    assert_eq!(
        distributed
            .count("SELECT count() FROM {db}.events WHERE site_id = 'retried'")
            .await,
        100,
        "a retried insert is stored once, without FINAL"
    );
    let total = with_markers + 100;

    // M more events while a replica is killed with SIGKILL and started again.
    let second: Vec<EnrichedEvent> = (0..M).map(|i| wave_event("b", i)).collect();
    let crash = Instant::now();
    for (chunk, events) in second.chunks(100).enumerate() {
        if chunk == 2 {
            cluster.kill(CLUSTER_NODES[KILLED]);
            eprintln!("killed clickhouse-{}", CLUSTER_NODES[KILLED]);
        }
        if chunk == 4 {
            cluster.restart_missing();
            eprintln!("restarted clickhouse-{}", CLUSTER_NODES[KILLED]);
        }
        produce_events(&producer, &setup.topics.enriched, events).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let total = total + u64::from(M);
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", total)
        .await;
    wait_every_replica_exact(&servers, total).await;
    eprintln!(
        "the killed replica caught up {:.1?} after the kill",
        crash.elapsed()
    );

    // An erasure: the subject's rows gone from every table on every replica.
    let visitor = "gone";
    let yesterday = midnight_days_ago_ms(1);
    send_consent(
        &setup,
        &producer,
        &consent(visitor, ConsentAction::Grant, 0, yesterday),
    )
    .await;
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of(visitor, "", 20),
    )
    .await;
    setup
        .wait_for_count(
            &format!("SELECT count() FROM {{db}}.events FINAL WHERE visitor_id = '{visitor}'"),
            20,
        )
        .await;
    setup
        .wait_for_count(
            &format!("SELECT count() FROM {{db}}.profile_events WHERE visitor_id = '{visitor}'"),
            20,
        )
        .await;
    let erased = Instant::now();
    let id = erase(&setup, &producer, visitor, "").await;
    wait_verified(&setup, id).await;
    eventually("the subject is gone from every replica", WAIT, || async {
        for (i, server) in servers.iter().enumerate() {
            for (table, column) in [
                ("events_local", "visitor_id"),
                ("profile_events_local", "visitor_id"),
                ("consent_log_local", "subject"),
            ] {
                let left = server
                    .count(&format!(
                        "SELECT count() FROM {{db}}.{table} WHERE {column} = '{visitor}'"
                    ))
                    .await;
                if left != 0 {
                    return Err(format!("{left} rows in {table} on server {i}"));
                }
            }
        }
        Ok(())
    })
    .await;
    eprintln!(
        "erasure verified on every replica in {:.1?}",
        erased.elapsed()
    );
    wait_every_replica_exact(&servers, total).await;

    // The item lists' queries (a distributed subquery inside a distributed
    // query) run, and retention deletes on every replica: run as of 30
    // months from now, it leaves no event and no profile signal anywhere.
    let popular = Personalization {
        min_visitors: 1,
        ..Personalization::default()
    };
    for sql in [
        queries::popular("demo", &popular),
        queries::related("demo", &popular),
    ] {
        // The sink's client (cluster mode's settings).
        let rows: Result<Vec<(String, String, u32)>, _> = setup
            .clickhouse()
            .query_raw(&render(&sql, &setup.database))
            .fetch_all()
            .await;
        rows.unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    let features = ServerFeatures::probe(&distributed.client)
        .await
        .unwrap()
        .in_cluster(Some(Cluster::new(&cluster.name, &setup.database)));
    let retention = RetentionJob::new(
        setup.clickhouse(),
        &setup.database,
        features,
        RetentionConfig::default(),
    );
    let later = u32::try_from(now_ms() / 1000).unwrap() + 30 * 31 * 86_400;
    let deleted: u64 = retention.run_once(later).await.unwrap().values().sum();
    assert!(
        deleted >= total,
        "retention deleted {deleted} rows, want every event"
    );
    eventually("retention emptied every replica", WAIT, || async {
        for (i, server) in servers.iter().enumerate() {
            for table in ["events_local", "profile_events_local"] {
                let left = server
                    .count(&format!("SELECT count() FROM {{db}}.{table}"))
                    .await;
                if left != 0 {
                    return Err(format!("{left} rows in {table} on server {i}"));
                }
            }
        }
        Ok(())
    })
    .await;

    let rss = cluster.rss_bytes();
    let mib = |bytes: u64| bytes / (1024 * 1024);
    let all: u64 = rss.iter().map(|(_, bytes)| bytes).sum();
    let each: Vec<String> = rss
        .iter()
        .map(|(name, b)| format!("{name} {} MiB", mib(*b)))
        .collect();
    eprintln!("cluster RSS {} MiB: {}", mib(all), each.join(", "));
    sink.stop().await;
    eprintln!("cluster test done in {:.1?}", started.elapsed());
}
