//! The consent ledger's snapshot with the built collector on the real
//! broker: a collector writes its snapshot, is killed, records (a
//! withdrawal among them) arrive while it is down, and the restarted
//! collector loads the snapshot, reads only those records and enforces the
//! withdrawal; with the snapshot corrupted, it replays the whole topic.
//! The binary runs as its own process, so its counters are its own.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use fiducia_collector::consent::snapshot::format;
use fiducia_proto::topics::Topics;
use fiducia_runtime::service::config::topic_vars;
use fiducia_testkit::envelopes::{ORIGIN, choice, dropped, post};
use fiducia_testkit::{Service, eventually, free_port, infra, unique, wait_status};

use crate::helpers::TestCollector;

/// The value of the series of `name` whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l)))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

async fn metrics(admin: &str) -> String {
    reqwest::get(format!("{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// Records the snapshot at `path` covers, over its partitions.
fn covered(path: &Path) -> i64 {
    format::read(path).map_or(0, |(cover, _)| {
        cover.partitions.values().map(|p| p.next).sum()
    })
}

/// Waits until the snapshot at `path` covers `records` records.
async fn wait_covering(path: &Path, records: i64) {
    let what = format!("a snapshot covering {records} records");
    eventually(&what, Duration::from_secs(20), || async {
        match covered(path) {
            covered if covered == records => Ok(()),
            covered => Err(format!("{covered} covered")),
        }
    })
    .await;
}

/// Restarts the collector, waits until it is ready, and reads how its
/// ledger started (`from`, `reason`) and how many records it applied.
async fn restart(
    collector: &mut Service,
    admin_url: &str,
    from: &str,
    reason: &str,
) -> Option<f64> {
    collector.restart();
    wait_status(&format!("{admin_url}/readyz"), 200, Duration::from_secs(30)).await;
    let text = metrics(admin_url).await;
    let start = [format!("from=\"{from}\""), format!("reason=\"{reason}\"")];
    let start: Vec<&str> = start.iter().map(String::as_str).collect();
    assert_eq!(
        metric(
            &text,
            "fiducia_collector_consent_ledger_starts_total",
            &start
        ),
        Some(1.0),
        "{text}"
    );
    metric(
        &text,
        "fiducia_collector_consent_ledger_records_total",
        &["outcome=\"applied\""],
    )
}

fn env(topics: &Topics, dir: &Path, public: u16, admin: u16) -> HashMap<String, String> {
    let sites = dir.join("sites.toml");
    std::fs::write(
        &sites,
        format!("[sites.demo.collect]\nallowed_origins = [\"{ORIGIN}\"]\n"),
    )
    .expect("sites file");
    let mut env: HashMap<String, String> = topic_vars(topics)
        .into_iter()
        .map(|(var, name)| (var.to_owned(), name))
        .collect();
    for (var, value) in [
        ("FIDUCIA_KAFKA_BROKERS", infra().brokers.clone()),
        ("FIDUCIA_KAFKA_CREATE_TOPICS", "true".into()),
        ("FIDUCIA_KAFKA_PARTITIONS", "2".into()),
        ("FIDUCIA_SITES_FILE", sites.display().to_string()),
        (
            "FIDUCIA_COLLECTOR_LISTEN_ADDR",
            format!("127.0.0.1:{public}"),
        ),
        ("FIDUCIA_COLLECTOR_ADMIN_ADDR", format!("127.0.0.1:{admin}")),
        ("FIDUCIA_COLLECTOR_DOWNSTREAM_GROUP", "off".into()),
        (
            "FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_PATH",
            dir.join("ledger.snapshot").display().to_string(),
        ),
        ("FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_INTERVAL_S", "1".into()),
    ] {
        env.insert(var.to_owned(), value);
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_collector_replays_only_the_tail_after_its_snapshot_and_the_withdrawal_wins() {
    let topics = Topics::with_suffix(&unique("snapshot"));
    let dir = tempfile::tempdir().expect("a state directory");
    let (public, admin) = (free_port(), free_port());
    let (url, admin_url) = (
        format!("http://127.0.0.1:{public}"),
        format!("http://127.0.0.1:{admin}"),
    );
    let readyz = format!("{admin_url}/readyz");
    let snapshot = dir.path().join("ledger.snapshot");
    let mut collector = Service::start(
        env!("CARGO_BIN_EXE_fiducia-collector"),
        &env(&topics, dir.path(), public, admin),
    );
    wait_status(&readyz, 200, Duration::from_secs(30)).await;

    // Five visitors grant measurement: five records, snapshotted.
    let granted_at = fiducia_proto::time::now_ms() - 60_000;
    let visitors: Vec<String> = (0..5).map(|_| unique("visitor")).collect();
    for visitor in &visitors {
        let grant = choice(visitor, &["measurement"], granted_at, &["consent"]);
        assert_eq!(post(&url, grant, &[]).await.status(), 204);
    }
    wait_covering(&snapshot, 5).await;
    collector.kill_9();

    // While it is down: a withdrawal and two new grants, through another collector.
    let other = TestCollector::spawn_at(&infra().brokers, topics.clone(), |_| {}).await;
    let withdraw = choice(
        &visitors[0],
        &[],
        fiducia_proto::time::now_ms(),
        &["consent"],
    );
    assert_eq!(other.post(withdraw).await.status(), 204);
    for _ in 0..2 {
        let grant = choice(
            &unique("visitor"),
            &["measurement"],
            granted_at,
            &["consent"],
        );
        assert_eq!(other.post(grant).await.status(), 204);
    }
    drop(other);

    // The tail, and at most the last covered record of each of the two
    // partitions again (where it resumes: `consent::snapshot::check`).
    let applied = restart(&mut collector, &admin_url, "snapshot", "loaded").await;
    assert!(
        applied.is_some_and(|n| (3.0..=5.0).contains(&n)),
        "only the tail is read: {applied:?}"
    );
    let stale = |visitor: &str| choice(visitor, &["measurement"], granted_at, &["page_view"]);
    let response = post(&url, stale(&visitors[0]), &[]).await;
    assert_eq!(dropped(response.headers()), "measurement:withdrawn=1");
    let response = post(&url, stale(&visitors[1]), &[]).await;
    assert_eq!(
        dropped(response.headers()),
        "",
        "a grant from the snapshot stands"
    );

    // A corrupt snapshot: the whole topic again, and the withdrawal still wins.
    wait_covering(&snapshot, 8).await;
    collector.kill_9();
    let mut bytes = std::fs::read(&snapshot).expect("the snapshot");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&snapshot, bytes).expect("corrupted");
    assert_eq!(
        restart(&mut collector, &admin_url, "replay", "corrupt").await,
        Some(8.0),
        "the whole topic is read"
    );
    let response = post(&url, stale(&visitors[0]), &[]).await;
    assert_eq!(dropped(response.headers()), "measurement:withdrawn=1");
    collector.terminate();
}

/// A follower started inside a record batch (a snapshot taken mid-batch)
/// never skips a record: Tansu answers such a fetch with the next batch,
/// and the follower then reads the partition from its beginning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_started_inside_a_record_batch_skips_no_record() {
    use std::sync::{Arc, Mutex};

    use fiducia_runtime::kafka::follow::{Delivered, FollowSettings, FollowState, follow_messages};
    use rdkafka::producer::FutureRecord;
    use tokio_util::sync::CancellationToken;

    let topics = Topics::with_suffix(&unique("resume"));
    fiducia_testkit::create_topics(&infra().brokers, &topics, 1).await;
    let producer = fiducia_testkit::producer(&infra().brokers, "resume-test");
    // Ten records sent at once (one batch), then one more (the next batch).
    for batch in [0..10, 10..11] {
        let sends = batch.map(|i| {
            let (producer, topic) = (producer.clone(), topics.consent.clone());
            async move {
                let payload = format!("record-{i}");
                let record = FutureRecord::<(), _>::to(&topic)
                    .payload(&payload)
                    .partition(0);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map(|d| d.offset)
            }
        });
        for sent in futures::future::join_all(sends).await {
            sent.expect("acknowledged");
        }
    }
    let mut settings = FollowSettings::whole_topic(
        &infra().brokers,
        &topics.consent,
        "resume-test",
        "test_resume_lag_messages",
    );
    settings.start_offsets.insert(0, 5);
    let applied = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&applied);
    let apply = move |message: &Delivered<'_>| seen.lock().unwrap().push(message.offset);
    let state = Arc::new(FollowState::default());
    let shutdown = CancellationToken::new();
    tokio::spawn(follow_messages(
        settings,
        apply,
        Arc::clone(&state),
        shutdown.clone(),
    ));
    assert!(
        tokio::time::timeout(Duration::from_secs(30), state.caught_up(&shutdown))
            .await
            .unwrap_or(false),
        "caught up"
    );
    shutdown.cancel();
    let applied = applied.lock().unwrap().clone();
    println!("resume: started at 5 inside a batch, applied offsets {applied:?}");
    for offset in 5..=10 {
        assert!(
            applied.contains(&offset),
            "offset {offset} skipped: {applied:?}"
        );
    }
}
