//! The sink's consumer lag while ClickHouse refuses its inserts: above 0
//! in messages and rising in seconds for as long as nothing is inserted,
//! back to 0 once the inserts succeed again, with the ledger reconciled.

use std::time::{Duration, Instant};

use crate::metrics_text::Scrape;
use crate::stack::{Running, Stack};
use fiducia_proto::topics::Topics;
use fiducia_testkit::envelopes::clicks_from;
use fiducia_testkit::{infra, unique};

const BROWSER: &[(&str, &str)] = &[("user-agent", fiducia_testkit::raw::CHROME)];

/// The sink's lag on the enriched topic: messages (summed over
/// partitions) and seconds (the largest).
async fn sink_lag(sink: &Running, enriched: &str) -> (f64, f64) {
    let scrape = Scrape::new(sink.metrics().await);
    let of = |name| {
        scrape
            .series(name)
            .into_iter()
            .filter(|(series, _)| series.contains(&format!("topic=\"{enriched}\"")))
            .map(|(_, value)| value)
            .collect::<Vec<f64>>()
    };
    (
        of("fiducia_sink_consumer_lag_messages").iter().sum(),
        of("fiducia_sink_consumer_lag_seconds")
            .into_iter()
            .fold(0.0, f64::max),
    )
}

/// Waits until `sink_lag` satisfies `done`, for up to `within`.
async fn lag_until(
    sink: &Running,
    enriched: &str,
    within: Duration,
    done: impl Fn((f64, f64)) -> bool,
) -> (f64, f64) {
    let deadline = Instant::now() + within;
    loop {
        let lag = sink_lag(sink, enriched).await;
        if done(lag) || Instant::now() > deadline {
            return lag;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_lag_rises_while_clickhouse_refuses_inserts_and_returns_to_zero() {
    let stack = Stack::new(infra(), Topics::with_suffix(&unique("lag")));
    let collector = stack.collector().await;
    let sink = stack.sink().await;
    let _enricher = stack.enricher().await;
    let enriched = stack.topics.enriched.clone();
    let db = stack.database.clone();
    let events = format!("SELECT count() FROM `{db}`.events");
    let post = async |visitor: &str, n: usize| {
        let (body, _) = clicks_from(visitor, "granted", n);
        assert_eq!(collector.post(body, BROWSER).await.status(), 204);
    };

    post("visitor-before", 5).await;
    let within = Duration::from_secs(90);
    stack.clickhouse.wait_for_count(&events, 5, within).await;
    let lag = lag_until(&sink, &enriched, Duration::from_secs(30), |l| {
        l == (0.0, 0.0)
    })
    .await;
    assert_eq!(lag, (0.0, 0.0), "nothing left once stored");

    // Every insert fails (UNKNOWN_TABLE) while the table is away.
    let rename = |from: &str, to: &str| format!("RENAME TABLE `{db}`.{from} TO `{db}`.{to}");
    stack
        .clickhouse
        .query(&rename("events", "events_away"))
        .await;
    post("visitor-during", 7).await;
    let first = lag_until(&sink, &enriched, Duration::from_secs(60), |(m, s)| {
        m >= 1.0 && s >= 2.0
    })
    .await;
    assert!(
        first.0 >= 1.0 && first.1 >= 2.0,
        "lag while refused: {first:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = sink_lag(&sink, &enriched).await;
    assert!(later.0 >= first.0, "{first:?} then {later:?}");
    assert!(
        later.1 >= first.1 + 3.0,
        "the age keeps rising: {first:?} then {later:?}"
    );

    stack
        .clickhouse
        .query(&rename("events_away", "events"))
        .await;
    stack.clickhouse.wait_for_count(&events, 12, within).await;
    let lag = lag_until(&sink, &enriched, Duration::from_secs(30), |l| {
        l == (0.0, 0.0)
    })
    .await;
    assert_eq!(lag, (0.0, 0.0), "back to 0 once inserted");
    let scrape = Scrape::new(sink.metrics().await);
    let events_table = [("table", "events")];
    assert_eq!(scrape.sum("fiducia_sink_events_consumed_total", &[]), 12.0);
    assert_eq!(
        scrape.sum("fiducia_sink_rows_inserted_total", &events_table),
        12.0,
        "a batch retried is counted once"
    );
    assert!(scrape.sum("fiducia_sink_insert_errors_total", &events_table) >= 1.0);
    assert_eq!(
        scrape.sum("fiducia_sink_end_to_end_latency_seconds_count", &[]),
        12.0
    );
    stack.drop_database().await;
}
