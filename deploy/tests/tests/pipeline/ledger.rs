//! The loss ledger reconciles exactly: every event the collector published
//! is enriched, dead-lettered or dropped on purpose by the enricher, and
//! every event it enriched is inserted, dead-lettered or dropped by the
//! sink, as the three services' own `/metrics` count them. Once everything
//! is stored, the consumer lag gauges read 0, the end-to-end latency
//! histogram holds one observation per row inserted, and `promtool check
//! metrics` finds nothing to say about any service's `/metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureRecord;

use crate::metrics_text::{Scrape, promtool_check};
use crate::stack::{Running, Stack};
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::{clicks_from, dropped};
use fiducia_testkit::{infra, repo_root, unique};

const BROWSER: &[(&str, &str)] = &[("user-agent", fiducia_testkit::raw::CHROME)];
const CRAWLER: &[(&str, &str)] = &[(
    "user-agent",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)];

/// The sites file of the repository, with bots dropped on `demo`.
fn sites_dropping_bots(dir: &std::path::Path) -> String {
    let sites = std::fs::read_to_string(repo_root().join("deploy/sites.toml")).expect("sites");
    let sites = sites.replacen(
        "[sites.demo.enrich]\n",
        "[sites.demo.enrich]\ndrop_bots = true\n",
        1,
    );
    assert!(
        sites.contains("drop_bots = true"),
        "the demo site's enrich section"
    );
    let path = dir.join("sites.toml");
    std::fs::write(&path, sites).expect("write sites");
    path.display().to_string()
}

/// Posts `body` and checks it was accepted.
async fn accepted(collector: &Running, body: String, headers: &[(&str, &str)]) {
    let response = collector.post(body, headers).await;
    assert_eq!(response.status(), 204);
    assert_eq!(dropped(response.headers()), "");
}

/// Produces one message that no stage can decode to `topic`.
async fn poison(brokers: &str, topic: &str) {
    let producer = fiducia_testkit::producer(brokers, "ledger-test");
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
        .key("demo:poison")
        .payload(&[0xff, 0xff, 0xff][..]);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .expect("produce a poison message");
}

/// The three services' metrics, read together.
struct Ledger {
    collector: Scrape,
    enricher: Scrape,
    sink: Scrape,
}

impl Ledger {
    async fn read(collector: &Running, enricher: &Running, sink: &Running) -> Self {
        Self {
            collector: Scrape::new(collector.metrics().await),
            enricher: Scrape::new(enricher.metrics().await),
            sink: Scrape::new(sink.metrics().await),
        }
    }

    /// Every count the identities are made of.
    fn counts(&self) -> BTreeMap<&'static str, f64> {
        let (c, e, s) = (&self.collector, &self.enricher, &self.sink);
        BTreeMap::from([
            (
                "published",
                c.sum("fiducia_collector_events_published_total", &[]),
            ),
            (
                "enricher_consumed",
                e.sum("fiducia_enricher_events_consumed_total", &[]),
            ),
            (
                "enriched",
                e.sum("fiducia_enricher_events_enriched_total", &[]),
            ),
            (
                "enricher_dead",
                e.sum("fiducia_enricher_dead_letters_total", &[]),
            ),
            (
                "enricher_dropped",
                e.sum("fiducia_enricher_events_dropped_total", &[]),
            ),
            (
                "sink_consumed",
                s.sum("fiducia_sink_events_consumed_total", &[]),
            ),
            (
                "inserted",
                s.sum("fiducia_sink_rows_inserted_total", &[("table", "events")]),
            ),
            (
                "sink_dead",
                s.sum("fiducia_sink_dead_letters_total", &[("table", "events")]),
            ),
            (
                "sink_dropped",
                s.sum("fiducia_sink_events_dropped_total", &[]),
            ),
            (
                "latency_count",
                s.sum("fiducia_sink_end_to_end_latency_seconds_count", &[]),
            ),
        ])
    }

    /// The lag gauges of both consuming stages, every series.
    fn lags(&self) -> Vec<(String, f64)> {
        [
            (&self.enricher, "fiducia_enricher_consumer_lag_messages"),
            (&self.enricher, "fiducia_enricher_consumer_lag_seconds"),
            (&self.sink, "fiducia_sink_consumer_lag_messages"),
            (&self.sink, "fiducia_sink_consumer_lag_seconds"),
        ]
        .into_iter()
        .flat_map(|(scrape, name)| scrape.series(name))
        .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loss_ledger_reconciles_exactly_and_the_lag_returns_to_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stack = Stack::new(infra(), Topics::with_suffix(&unique("ledger")))
        .with_env("FIDUCIA_SITES_FILE", sites_dropping_bots(dir.path()));
    let collector = stack.collector().await;
    let sink = stack.sink().await;
    let enricher = stack.enricher().await;

    // Consented events from browsers, one visitor per request: kept.
    let mut kept = 0;
    for (i, n) in [5, 7, 9].into_iter().enumerate() {
        let (body, _) = clicks_from(&format!("visitor-{i}"), "granted", n);
        accepted(&collector, body, BROWSER).await;
        kept += n;
    }
    // Without consent: never published.
    let (denied, _) = clicks_from("visitor-denied", "denied", 4);
    let response = collector.post(denied, BROWSER).await;
    assert_eq!(dropped(response.headers()), "measurement:denied=4");
    // A crawler on a site that drops bots: published, dropped by the enricher.
    let bots = 3;
    let (body, _) = clicks_from("crawler-1", "granted", bots);
    accepted(&collector, body, CRAWLER).await;
    // The same request twice (a tag retrying): the copies are published,
    // and dropped by the enricher as duplicates.
    let copies = 6;
    let (twice, _) = clicks_from("visitor-twice", "granted", copies);
    accepted(&collector, twice.clone(), BROWSER).await;
    accepted(&collector, twice, BROWSER).await;
    kept += copies;
    // One poison message in each consumed topic: a dead letter per stage.
    poison(&stack.brokers, &stack.topics.raw).await;
    poison(&stack.brokers, &stack.topics.enriched).await;

    let published = kept + bots + copies;
    let events = format!("SELECT count() FROM `{}`.events", stack.database);
    stack
        .clickhouse
        .wait_for_count(&events, kept as u64, Duration::from_secs(90))
        .await;

    // The counters follow the acknowledgements; the lag, the next looks.
    let expected = BTreeMap::from([
        ("published", published as f64),
        ("enricher_consumed", (published + 1) as f64),
        ("enriched", kept as f64 + 0.0),
        ("enricher_dead", 1.0),
        ("enricher_dropped", (bots + copies) as f64),
        ("sink_consumed", (kept + 1) as f64),
        ("inserted", kept as f64),
        ("sink_dead", 1.0),
        ("sink_dropped", 0.0),
        ("latency_count", kept as f64),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ledger = loop {
        let ledger = Ledger::read(&collector, &enricher, &sink).await;
        let settled = ledger.counts() == expected
            && !ledger.lags().is_empty()
            && ledger.lags().iter().all(|(_, v)| *v == 0.0);
        if settled || Instant::now() > deadline {
            break ledger;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let counts = ledger.counts();
    println!("ledger: {counts:?}");
    assert_eq!(counts, expected, "the ledger's counts");
    // The identities the operations guide queries.
    assert_eq!(counts["published"] + 1.0, counts["enricher_consumed"]);
    assert_eq!(
        counts["enricher_consumed"],
        counts["enriched"] + counts["enricher_dead"] + counts["enricher_dropped"]
    );
    assert_eq!(counts["enriched"] + 1.0, counts["sink_consumed"]);
    assert_eq!(
        counts["sink_consumed"],
        counts["inserted"] + counts["sink_dead"] + counts["sink_dropped"]
    );
    assert_eq!(counts["latency_count"], counts["inserted"]);
    // Each drop under its reason.
    let e = &ledger.enricher;
    for (reason, n) in [("bot", bots), ("duplicate", copies), ("erased", 0)] {
        assert_eq!(
            e.sum(
                "fiducia_enricher_events_dropped_total",
                &[("reason", reason)]
            ),
            n as f64,
            "{reason}"
        );
    }
    // The collector's decisions agree with what it published.
    assert_eq!(
        ledger
            .collector
            .sum("fiducia_collector_events_total", &[("decision", "keep")]),
        published as f64
    );
    // Lag: one series per partition of the stage's topic, all 0 now.
    let lags = ledger.lags();
    assert!(lags.iter().all(|(_, v)| *v == 0.0), "{lags:?}");
    for (scrape, name, topic) in [
        (
            &ledger.enricher,
            "fiducia_enricher_consumer_lag_messages",
            &stack.topics.raw,
        ),
        (
            &ledger.sink,
            "fiducia_sink_consumer_lag_messages",
            &stack.topics.enriched,
        ),
        (
            &ledger.sink,
            "fiducia_sink_consumer_lag_seconds",
            &stack.topics.enriched,
        ),
    ] {
        let series = scrape.series(name);
        assert!(
            series
                .iter()
                .any(|(s, _)| s.contains(&format!("topic=\"{topic}\""))),
            "{name} for {topic}: {series:?}"
        );
    }

    // Byte histograms have byte buckets, the latency its own, with the
    // bound the latency SLO's alert rules read (`le="2"`).
    for (text, bucket) in [
        (
            ledger.collector.text(),
            r#"fiducia_collector_request_body_size_bytes_bucket{le="1048576"}"#,
        ),
        (
            ledger.sink.text(),
            r#"fiducia_sink_end_to_end_latency_seconds_bucket{le="120"}"#,
        ),
        (
            ledger.sink.text(),
            r#"fiducia_sink_end_to_end_latency_seconds_bucket{le="2"}"#,
        ),
    ] {
        assert!(text.contains(bucket), "{bucket}");
    }

    // Every service says at each scrape that it is ready, as /readyz would.
    for (text, ready) in [
        (ledger.collector.text(), "fiducia_collector_ready 1"),
        (ledger.enricher.text(), "fiducia_enricher_ready 1"),
        (ledger.sink.text(), "fiducia_sink_ready 1"),
    ] {
        assert!(text.lines().any(|l| l == ready), "{ready}");
    }

    // What Prometheus would scrape passes its own linter.
    for (service, text) in [
        ("collector", ledger.collector.text()),
        ("enricher", ledger.enricher.text()),
        ("sink", ledger.sink.text()),
    ] {
        promtool_check(service, text);
    }
    stack.drop_database().await;
}
