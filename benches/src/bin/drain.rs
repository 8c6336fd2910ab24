//! `fiducia-drain`: measures a consumer draining a backlog. It polls a
//! Prometheus counter at the service's `/metrics` every 100 ms until it
//! reaches `--target`, and reports
//! items/s and the consumer's CPU seconds (from `/proc`) between the first
//! poll that saw progress and the one that saw the target, so start-up
//! (migrations, group join, session restore) is left out. Prints one JSON
//! object on stdout and a summary line on stderr.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use fiducia_benches::{http, procfs};
use serde::Serialize;

/// Measures how fast a consumer drains a backlog of `--target` items.
#[derive(Debug, Parser)]
struct Args {
    /// Name of this run in the report.
    #[arg(long)]
    label: String,
    /// The consumer's process id (CPU seconds, RSS).
    #[arg(long)]
    pid: u32,
    /// Items to wait for.
    #[arg(long)]
    target: u64,
    /// The service's `/metrics` URL: progress is the sum of `--metric`'s series.
    #[arg(long)]
    metrics_url: String,
    /// The counter read from `--metrics-url`.
    #[arg(long)]
    metric: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    label: String,
    kind: &'static str,
    target: u64,
    /// Items counted at the end (at least `target` unless timed out).
    items: u64,
    /// Items between the first poll that saw progress and the last one.
    items_measured: u64,
    seconds: f64,
    items_per_s: f64,
    cpu_s: f64,
    cpu_cores: f64,
    items_per_cpu_s: Option<f64>,
    vm_hwm_mb: f64,
    timed_out: bool,
}

async fn progress(args: &Args) -> anyhow::Result<u64> {
    let count = http::metric_sum(&http::fetch(&args.metrics_url, None).await?, &args.metric);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(count as u64)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ticks = procfs::clock_ticks_per_second() as f64;
    let cpu = || procfs::cpu_ticks(Some(args.pid)).context("cannot read the consumer's /proc stat");
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout_s);
    // (time, count, CPU ticks) at the first poll that saw progress.
    let mut first: Option<(Instant, u64, u64)> = None;
    let mut last = (Instant::now(), 0, cpu()?);
    let mut timed_out = false;
    loop {
        // Transient errors (the service still starting) are retried.
        let count = progress(&args).await.unwrap_or(last.1);
        let now = (Instant::now(), count, cpu()?);
        if first.is_none() && count > 0 {
            first = Some(last);
        }
        last = now;
        if count >= args.target {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (t0, n0, c0) = first.unwrap_or(last);
    let (t1, n1, c1) = last;
    let seconds = (t1 - t0).as_secs_f64();
    let cpu_s = (c1 - c0) as f64 / ticks;
    let items_measured = n1 - n0;
    let report = Report {
        label: args.label.clone(),
        kind: "drain",
        target: args.target,
        items: n1,
        items_measured,
        seconds,
        items_per_s: if seconds > 0.0 {
            items_measured as f64 / seconds
        } else {
            0.0
        },
        cpu_s,
        cpu_cores: if seconds > 0.0 { cpu_s / seconds } else { 0.0 },
        items_per_cpu_s: (cpu_s > 0.0).then(|| items_measured as f64 / cpu_s),
        vm_hwm_mb: procfs::memory(args.pid)
            .map_or(0.0, |m| m.peak_rss_bytes as f64 / (1024.0 * 1024.0)),
        timed_out,
    };
    eprintln!(
        "{:<28} {:>9} items in {:>6.2} s: {:>9.0} /s, {:>9.0} per CPU-s, CPU {:.2} cores{}",
        report.label,
        report.items_measured,
        report.seconds,
        report.items_per_s,
        report.items_per_cpu_s.unwrap_or(0.0),
        report.cpu_cores,
        if timed_out { " (TIMED OUT)" } else { "" }
    );
    println!("{}", serde_json::to_string(&report)?);
    if timed_out {
        bail!(
            "{}: {} of {} items after {} s",
            args.label,
            n1,
            args.target,
            args.timeout_s
        );
    }
    Ok(())
}
