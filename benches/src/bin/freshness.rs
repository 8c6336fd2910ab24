//! `fiducia-freshness`: how long after an event is accepted its visitor's
//! profile can be read (issue 18: p95 ≤ 1 s, p99 ≤ 2 s at 5,000 events/s).
//! It follows the profiles topic from its end, as a collector does, for
//! `--duration-s`, and for every profile record takes now minus the
//! profile's `updated_at_ms` (the collector's receive time of the latest
//! event applied to it). Prints one JSON object on stdout and a summary on
//! stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use fiducia_proto::time::now_ms;
use fiducia_proto::v1::Profile;
use fiducia_runtime::kafka::follow::{self, FollowSettings};
use hdrhistogram::Histogram;
use prost::Message as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Measures event → profile freshness on a profiles topic.
#[derive(Debug, Parser)]
struct Args {
    /// Name of this run in the report.
    #[arg(long)]
    label: String,
    /// Kafka bootstrap servers.
    #[arg(long)]
    brokers: String,
    /// The profiles topic.
    #[arg(long)]
    topic: String,
    /// How long to follow.
    #[arg(long)]
    duration_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    label: String,
    kind: &'static str,
    profiles: u64,
    tombstones: u64,
    p50_ms: u64,
    p95_ms: u64,
    p99_ms: u64,
    max_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000, 3).context("histogram")?,
    ));
    let tombstones = Arc::new(Mutex::new(0u64));
    let settings = FollowSettings::live(
        &args.brokers,
        &args.topic,
        "fiducia-freshness",
        "fiducia_bench_freshness_lag",
    );
    let (seen, forgotten) = (Arc::clone(&histogram), Arc::clone(&tombstones));
    let apply = move |payload: &[u8]| match Profile::decode(payload) {
        Ok(profile) if profile.updated_at_ms > 0 => {
            let age = u64::try_from(now_ms() - profile.updated_at_ms)
                .unwrap_or(0)
                .max(1);
            let _ = seen.lock().map(|mut h| h.saturating_record(age));
        }
        _ => {
            let _ = forgotten.lock().map(|mut n| *n += 1);
        }
    };
    let shutdown = CancellationToken::new();
    let _caught_up = follow::spawn(settings, apply, shutdown.clone());
    tokio::time::sleep(Duration::from_secs_f64(args.duration_s)).await;
    shutdown.cancel();
    let h = histogram.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let report = Report {
        label: args.label,
        kind: "freshness",
        profiles: h.len(),
        tombstones: *tombstones.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
        p50_ms: h.value_at_quantile(0.50),
        p95_ms: h.value_at_quantile(0.95),
        p99_ms: h.value_at_quantile(0.99),
        max_ms: h.max(),
    };
    eprintln!(
        "{}: {} profile records, event → profile p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        report.label, report.profiles, report.p50_ms, report.p95_ms, report.p99_ms, report.max_ms
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
