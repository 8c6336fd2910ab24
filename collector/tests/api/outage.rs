//! A stopped broker turns every request into `503` + `Retry-After` and fails
//! `/readyz`, on a broker of this test's own (started by
//! `deploy/local/up --infra`, because the test stops it).

use std::time::{Duration, Instant};

use fiducia_collector::Application;
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::{ORIGIN, clicks};
use fiducia_testkit::{PrivateInfra, eventually, wait_status};
use tokio_util::sync::CancellationToken;

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
    wait_status(&readyz, 200, Duration::from_secs(30)).await;
    let post = |client: reqwest::Client, collector: String| async move {
        let (body, _) = clicks("granted", 1);
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
    let refused = eventually(
        "a 503 with the broker down",
        Duration::from_secs(20),
        || async {
            let response = post(client.clone(), collector.clone()).await;
            match response.status().as_u16() {
                503 => Ok(response),
                204 => Err("204: acknowledged, the outage not noticed yet".to_owned()),
                other => panic!("only 204 or 503 while the broker stops, not {other}"),
            }
        },
    )
    .await;
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
    wait_status(&readyz, 503, Duration::from_secs(15)).await;

    infra.script("up", &["--infra"]);
    wait_status(&readyz, 200, Duration::from_secs(30)).await;
    let started = Instant::now();
    eventually(
        "204 once the broker is back",
        Duration::from_secs(45),
        || async {
            match post(client.clone(), collector.clone())
                .await
                .status()
                .as_u16()
            {
                204 => Ok(()),
                503 => Err("503".to_owned()),
                other => panic!("only 503 while recovering, not {other}"),
            }
        },
    )
    .await;
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
