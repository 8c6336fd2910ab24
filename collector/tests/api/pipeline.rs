//! The whole pipeline as separate processes (collector → broker → enricher →
//! broker → sink → ClickHouse) on a broker and ClickHouse of this test's own,
//! started by `deploy/local/up --infra`, because these tests kill and stop
//! them: posted events land exactly once, unconsented ones never, a `kill -9`
//! of the sink loses nothing, and a stopped broker turns into `503`s until it
//! is back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fiducia_collector::Application;
use fiducia_proto::topics::Topics;
use fiducia_testkit::{PrivateInfra, free_port, repo_root};
use tokio_util::sync::CancellationToken;

use crate::helpers::{ORIGIN, envelope};
use crate::processes::{ClickHouse, Service, wait_status};

/// Posts `batches` envelopes of 1..=20 events with measurement consent; returns the event count.
async fn post_granted(client: &reqwest::Client, collector: &str, batches: usize) -> u64 {
    let mut total = 0;
    for i in 0..batches {
        let (body, ids) = envelope("granted", 1 + (i * 7) % 20);
        let response = client
            .post(format!("{collector}/v1/events"))
            .header("content-type", "text/plain")
            .header("origin", ORIGIN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "batch {i}");
        total += ids.len() as u64;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_accepted_event_exactly_once() {
    let infra = PrivateInfra::start();
    let sites = repo_root().join("deploy/sites.toml");
    let [collector_port, collector_admin, enricher_admin, sink_admin] =
        [free_port(), free_port(), free_port(), free_port()];
    let env: HashMap<String, String> = [
        ("FIDUCIA_KAFKA_BROKERS", infra.infra.brokers.clone()),
        ("FIDUCIA_CLICKHOUSE_URL", infra.infra.clickhouse_url.clone()),
        ("FIDUCIA_SITES_FILE", sites.display().to_string()),
        (
            "FIDUCIA_COLLECTOR_LISTEN_ADDR",
            format!("127.0.0.1:{collector_port}"),
        ),
        (
            "FIDUCIA_COLLECTOR_ADMIN_ADDR",
            format!("127.0.0.1:{collector_admin}"),
        ),
        (
            "FIDUCIA_ENRICHER_ADMIN_ADDR",
            format!("127.0.0.1:{enricher_admin}"),
        ),
        ("FIDUCIA_SINK_ADMIN_ADDR", format!("127.0.0.1:{sink_admin}")),
        (
            "FIDUCIA_COLLECTOR_RATE_PER_IP_PER_SECOND",
            "100000".to_owned(),
        ),
        ("FIDUCIA_COLLECTOR_RATE_BURST", "100000".to_owned()),
        ("FIDUCIA_SINK_BATCH_MAX_WAIT_MS", "200".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut sink = Service::start("sink", &env);
    let _enricher = Service::start("enricher", &env);
    let _collector = Service::start("collector", &env);
    let client = reqwest::Client::new();
    let collector = format!("http://127.0.0.1:{collector_port}");
    let ready = Duration::from_secs(60);
    for port in [collector_admin, enricher_admin, sink_admin] {
        wait_status(
            &client,
            &format!("http://127.0.0.1:{port}/readyz"),
            200,
            ready,
        )
        .await;
    }
    let clickhouse = ClickHouse {
        url: infra.infra.clickhouse_url.clone(),
        client: client.clone(),
    };

    // 1. Mixed batches with consent: exactly N rows, N distinct ids.
    let started = Instant::now();
    let mut expected = post_granted(&client, &collector, 30).await;
    let latency = clickhouse
        .wait_for_count(expected, Duration::from_secs(60))
        .await;
    let elapsed = started.elapsed();
    println!(
        "pipeline: {expected} events posted and stored in {:.2} s ({:.0} events/s); last batch visible {:.2} s after posting ended",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
        latency.as_secs_f64()
    );
    assert_eq!(
        clickhouse
            .query("SELECT uniqExact(event_id) FROM fiducia.events")
            .await,
        expected.to_string()
    );

    // 2. Without consent: nothing stored, the drop counted.
    let (denied, _) = envelope("denied", 4);
    let response = client
        .post(format!("{collector}/v1/events"))
        .body(denied)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers().get("fiducia-dropped").unwrap(),
        "measurement:denied=4"
    );
    let metrics = client
        .get(format!("http://127.0.0.1:{collector_admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"decision="drop",purpose="measurement",reason="denied""#),
        "{metrics}"
    );

    // 3. The same batch twice: one row per event id.
    let (twice, _) = envelope("granted", 10);
    for _ in 0..2 {
        let response = client
            .post(format!("{collector}/v1/events"))
            .body(twice.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    expected += 10;
    clickhouse
        .wait_for_count(expected, Duration::from_secs(60))
        .await;

    // 4. kill -9 the sink while events flow, start it again: still exactly N.
    let flow = tokio::spawn({
        let client = client.clone();
        let collector = collector.clone();
        async move { post_granted(&client, &collector, 40).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sink.kill_9();
    expected += flow.await.unwrap();
    sink.restart();
    clickhouse
        .wait_for_count(expected, Duration::from_secs(90))
        .await;
    assert_eq!(
        clickhouse
            .query("SELECT uniqExact(event_id) FROM fiducia.events")
            .await,
        expected.to_string()
    );
    // Nothing was invented on the way: no unconsented row, no full IP column.
    assert_eq!(
        clickhouse
            .query("SELECT count() FROM fiducia.events WHERE consent_measurement = 0")
            .await,
        "0"
    );
}

/// A stopped broker turns every request into `503` + `Retry-After` and fails
/// `/readyz`; once it is back, requests are accepted again. The broker keeps
/// nothing across the restart (memory storage), the hardest case for the
/// collector's idempotent producer: it must notice and start a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_means_503_until_it_is_back() {
    let infra = PrivateInfra::start();
    // The default names: `up --infra` recreates them on the restarted broker.
    let topics = Topics::default();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let app = Application::build(
        crate::helpers::config(&infra.infra.brokers, topics),
        shutdown.clone(),
    )
    .await
    .expect("collector builds");
    let collector = format!("http://{}", app.public_addr());
    let readyz = format!("http://{}/readyz", app.admin_addr());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    wait_status(&client, &readyz, 200, Duration::from_secs(30)).await;
    let post = |client: reqwest::Client, collector: String| async move {
        let (body, _) = envelope("granted", 1);
        client
            .post(format!("{collector}/v1/events"))
            .header("origin", ORIGIN)
            .body(body)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(post(client.clone(), collector.clone()).await.status(), 204);

    infra.script("down", &["kafka"]);
    let started = Instant::now();
    let refused = loop {
        let response = post(client.clone(), collector.clone()).await;
        if response.status() == 503 {
            break response;
        }
        assert_eq!(
            response.status(),
            204,
            "acknowledged before the outage was noticed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still 204 with the broker down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // Either the publish failed, or the ledger's follower noticed first
    // and nothing is decided until it has read the consent topic again.
    let reason: serde_json::Value = refused.json().await.unwrap();
    assert!(
        reason["error"] == "unavailable" || reason["error"] == "ledger_catching_up",
        "{reason}"
    );
    wait_status(&client, &readyz, 503, Duration::from_secs(15)).await;

    infra.script("up", &["--infra"]);
    wait_status(&client, &readyz, 200, Duration::from_secs(30)).await;
    let started = Instant::now();
    loop {
        let status = post(client.clone(), collector.clone()).await.status();
        if status == 204 {
            break;
        }
        assert_eq!(status, 503, "only 503 while recovering");
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "still refused 45 s after the broker came back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "broker back: accepted again after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for _ in 0..5 {
        assert_eq!(
            post(client.clone(), collector.clone()).await.status(),
            204,
            "and stays accepted"
        );
    }
}
