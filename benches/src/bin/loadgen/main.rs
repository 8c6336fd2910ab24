//! `fiducia-loadgen`: sends the seeded corpus ([`fiducia_benches::corpus`])
//! to `POST /v1/events` over HTTP/1.1 keep-alive connections, one task per
//! connection on one thread (pin it to a core with `taskset`).
//!
//! * closed loop (`--mode closed`): each connection sends its next request
//!   as soon as the previous one is answered;
//! * open loop (`--mode open --rate R`): requests are due at a fixed rate,
//!   spread over the connections; latency counts from when a request was
//!   due, not when it went out, so a server that falls behind is seen to
//!   (no coordinated omission).
//!
//! After a warm-up, it measures requests/s, events/s, latency percentiles
//! (hdrhistogram, microseconds), errors by kind, events the server said it
//! dropped (`Fiducia-Dropped`), and, for `--pid`, that process's CPU
//! seconds and peak RSS from `/proc`, plus its own CPU use (a load
//! generator at 100% of its core is the limit, not the server). Prints one
//! JSON object on stdout and a summary line on stderr.
//!
//! With `--arrivals-url` it also measures tag → ClickHouse latency: each
//! request is re-stamped when sent ([`fiducia_benches::stamp`]) and its
//! events' arrival polled for ([`fiducia_benches::arrivals`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, ValueEnum};
use fiducia_benches::arrivals::{self, Poller, Tracker};
use fiducia_benches::corpus::{self, Request, Rng};
use fiducia_benches::http::Target;
use fiducia_benches::intake::{Sender, connect, get, send};
use fiducia_benches::{procfs, stamp};
use hdrhistogram::Histogram;
use serde::Serialize;

mod report;

use report::{Latency, Report, Server, mb, ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Closed,
    Open,
}

/// Load generator for `POST /v1/events`.
#[derive(Debug, Parser)]
struct Args {
    /// Target, `http://host:port/path`.
    #[arg(long)]
    url: String,
    /// Closed loop (as fast as answered) or open loop (`--rate`).
    #[arg(long, value_enum, default_value = "closed")]
    mode: Mode,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Open loop: requests per second, over all connections.
    #[arg(long)]
    rate: Option<f64>,
    /// Events per request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    /// Corpus seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Distinct requests in the corpus (sent round-robin).
    #[arg(long, default_value_t = 2_000)]
    corpus: usize,
    /// Process to measure (CPU seconds, RSS): the server under test.
    #[arg(long)]
    pid: Option<u32>,
    /// Another process whose CPU use to report (the Kafka broker): it
    /// shares the machine's two cores with the server and the load generator.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Name of this run in the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Tag → ClickHouse latency: send only consented, non-bot requests,
    /// each re-stamped when sent (fresh event ids, `ts` and `sent_at` =
    /// now), and poll this ClickHouse HTTP URL for their arrival.
    #[arg(long)]
    arrivals_url: Option<String>,
    /// The table polled for arrivals, `database.events`.
    #[arg(long, default_value = "fiducia.events")]
    arrivals_table: String,
    /// Milliseconds between two arrival polls.
    #[arg(long, default_value_t = 100)]
    arrivals_poll_ms: u64,
    /// Seconds to keep waiting for arrivals once sending is done.
    #[arg(long, default_value_t = 30.0)]
    arrivals_wait_s: f64,
    /// Re-stamp every request when sent (fresh event ids, `ts` and
    /// `sent_at` = now), as `--arrivals-url` does, without polling: for
    /// filling topics with events that are all distinct, like real traffic.
    #[arg(long)]
    fresh_ids: bool,
    /// `GET` the URL instead of posting the corpus, with one visitor token
    /// per line of this file as `Authorization: Bearer` (round-robin; an
    /// empty line sends none): the `GET /v1/profile` scenario.
    #[arg(long)]
    get_tokens: Option<std::path::PathBuf>,
}

/// One worker's tally over the measured window.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    events: u64,
    dropped_events: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            ok: 0,
            events: 0,
            dropped_events: 0,
            errors: BTreeMap::new(),
        })
    }

    fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.latency_us.add(other.latency_us)?;
        self.ok += other.ok;
        self.events += other.events;
        self.dropped_events += other.dropped_events;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        Ok(())
    }
}

/// When each phase starts and ends, shared by the workers.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    mode: Mode,
    /// Open loop: time between two requests due on one connection.
    interval: Duration,
    connections: usize,
    /// Re-stamp every request when sent (`--fresh-ids`).
    fresh_ids: bool,
}

async fn worker(
    index: usize,
    plan: Plan,
    target: Arc<Target>,
    requests: Arc<Vec<Request>>,
    tracker: Option<Arc<Mutex<Tracker>>>,
    tokens: Option<Arc<Vec<String>>>,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut ids_random = Rng::new(index as u64);
    let mut sender: Option<Sender> = None;
    let mut next = index;
    let mut due = plan.start
        + plan
            .interval
            .mul_f64(index as f64 / plan.connections as f64);
    // Closed loops start together too, so `--warmup-s 0` counts every request.
    tokio::time::sleep_until(plan.start.into()).await;
    loop {
        if plan.mode == Mode::Open {
            tokio::time::sleep_until(due.into()).await;
        } else {
            due = Instant::now();
        }
        if due >= plan.end {
            break;
        }
        let measured = due >= plan.measure_from;
        let request = &requests[next % requests.len()];
        next += plan.connections;
        let sent = match sender.as_mut() {
            Some(s) => Ok(s),
            None => connect(&target).await.map(|s| sender.insert(s)),
        };
        // Latency runs re-stamp the request now and await its events;
        // `--fresh-ids` runs only re-stamp it.
        let (body, ids) = if tracker.is_some() || plan.fresh_ids {
            let sent_ms = arrivals::now_ms();
            let (body, ids) = stamp::restamp(&request.body, sent_ms, &mut ids_random)?;
            if let Some(tracker) = &tracker
                && measured
            {
                let mut t = tracker.lock().unwrap_or_else(PoisonError::into_inner);
                t.sent(ids.clone(), sent_ms);
            }
            (body, ids)
        } else {
            (request.body.clone(), Vec::new())
        };
        let outcome = match (sent, &tokens) {
            (Ok(s), Some(tokens)) => get(s, &target, &tokens[next % tokens.len()]).await,
            (Ok(s), None) => send(s, &target, request, body).await,
            (Err(_), _) => Err("connect".to_owned()),
        };
        if let Some(tracker) = &tracker
            && measured
            && !matches!(outcome, Ok(0))
        {
            let mut t = tracker.lock().unwrap_or_else(PoisonError::into_inner);
            t.forget(&ids);
        }
        let broken = matches!(&outcome, Err(kind) if kind == "connection" || kind == "connect");
        if measured {
            match outcome {
                Ok(dropped) => {
                    let micros = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tally.latency_us.saturating_record(micros.max(1));
                    tally.ok += 1;
                    tally.events += request.events as u64;
                    tally.dropped_events += dropped;
                }
                Err(kind) => tally.error(kind),
            }
        }
        if broken {
            sender = None;
            if plan.mode == Mode::Closed {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        due += plan.interval;
    }
    Ok(tally)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.batch == 0 || args.corpus == 0 {
        bail!("--connections, --batch and --corpus must be positive");
    }
    let interval = match (args.mode, args.rate) {
        (Mode::Open, Some(rate)) if rate > 0.0 => {
            Duration::from_secs_f64(args.connections as f64 / rate)
        }
        (Mode::Open, _) => bail!("--mode open needs a positive --rate"),
        (Mode::Closed, _) => Duration::ZERO,
    };
    let target = Arc::new(Target::parse(&args.url)?);
    let now_ms = arrivals::now_ms();
    let (mut requests, stats) = corpus::generate(args.seed, args.corpus, args.batch, now_ms);
    let tracker = match &args.arrivals_url {
        Some(_) => {
            requests.retain(|r| r.consented && !r.bot);
            Some(Arc::new(Mutex::new(Tracker::new()?)))
        }
        None => None,
    };
    let requests = Arc::new(requests);
    let tokens = match &args.get_tokens {
        Some(path) => Some(Arc::new(
            std::fs::read_to_string(path)?
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )),
        None => None,
    };
    let ticks = procfs::clock_ticks_per_second() as f64;

    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(args.warmup_s);
    let end = measure_from + Duration::from_secs_f64(args.duration_s);
    let plan = Plan {
        start,
        measure_from,
        end,
        mode: args.mode,
        interval,
        connections: args.connections,
        fresh_ids: args.fresh_ids,
    };
    let workers: Vec<_> = (0..args.connections)
        .map(|i| {
            let tracker = tracker.clone();
            let tokens = tokens.clone();
            tokio::spawn(worker(
                i,
                plan,
                target.clone(),
                requests.clone(),
                tracker,
                tokens,
            ))
        })
        .collect();
    let sending_done = Arc::new(AtomicBool::new(false));
    let poller = match (&args.arrivals_url, &tracker) {
        (Some(url), Some(tracker)) => Some(tokio::spawn(
            Poller {
                clickhouse_url: url.clone(),
                table: args.arrivals_table.clone(),
                interval: Duration::from_millis(args.arrivals_poll_ms),
                wait_after: Duration::from_secs_f64(args.arrivals_wait_s),
            }
            .run(tracker.clone(), sending_done.clone()),
        )),
        _ => None,
    };

    tokio::time::sleep_until(measure_from.into()).await;
    let server_cpu_0 = args.pid.and_then(|p| procfs::cpu_ticks(Some(p)));
    let self_cpu_0 = procfs::cpu_ticks(None);
    let broker_cpu_0 = args.broker_pid.and_then(|p| procfs::cpu_ticks(Some(p)));
    let mut peak_rss = 0u64;
    while Instant::now() < end {
        if let Some(memory) = args.pid.and_then(procfs::memory) {
            peak_rss = peak_rss.max(memory.rss_bytes);
        }
        tokio::time::sleep(Duration::from_millis(50).min(end - Instant::now())).await;
    }
    let wall = (Instant::now() - measure_from).as_secs_f64();
    let server_cpu_1 = args.pid.and_then(|p| procfs::cpu_ticks(Some(p)));
    let self_cpu_1 = procfs::cpu_ticks(None);
    let broker_cpu_1 = args.broker_pid.and_then(|p| procfs::cpu_ticks(Some(p)));
    let hwm = args.pid.and_then(procfs::memory).map(|m| m.peak_rss_bytes);

    let mut total = Tally::new()?;
    for handle in workers {
        total.merge(handle.await??)?;
    }
    sending_done.store(true, Ordering::Release);
    if let Some(poller) = poller {
        poller.await??;
    }
    let arrival = tracker.map(|t| t.lock().unwrap_or_else(PoisonError::into_inner).summary());
    let h = &total.latency_us;
    let events_per_s = total.events as f64 / args.duration_s;
    let server = match (args.pid, server_cpu_0, server_cpu_1) {
        (Some(pid), Some(a), Some(b)) => {
            let cpu_s = (b - a) as f64 / ticks;
            Some(Server {
                pid,
                cpu_s,
                cpu_cores: cpu_s / wall,
                events_per_cpu_s: (cpu_s > 0.0).then(|| total.events as f64 / cpu_s),
                peak_rss_mb: mb(peak_rss),
                vm_hwm_mb: hwm.map_or(0.0, mb),
            })
        }
        (Some(pid), ..) => bail!("cannot read /proc/{pid}/stat"),
        _ => None,
    };
    let loadgen_cpu_cores = match (self_cpu_0, self_cpu_1) {
        (Some(a), Some(b)) => (b - a) as f64 / ticks / wall,
        _ => 0.0,
    };
    let report = Report {
        label: args.label,
        mode: args.mode,
        connections: args.connections,
        target_rate_rps: args.rate,
        batch: args.batch,
        duration_s: args.duration_s,
        requests_ok: total.ok,
        requests_per_s: total.ok as f64 / args.duration_s,
        events_per_s,
        events_dropped: total.dropped_events,
        events_accepted: total.events - total.dropped_events,
        error_total: total.errors.values().sum(),
        errors: total.errors,
        latency: Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1_000.0,
        },
        server,
        loadgen_cpu_cores,
        broker_cpu_cores: broker_cpu_0
            .zip(broker_cpu_1)
            .map(|(a, b)| (b - a) as f64 / ticks / wall),
        corpus: stats,
        arrival,
    };
    eprintln!(
        "{:<28} {:>9.0} req/s {:>9.0} ev/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  errors {}  dropped {}",
        report.label,
        report.requests_per_s,
        report.events_per_s,
        report.latency.p50_ms,
        report.latency.p99_ms,
        report.latency.p999_ms,
        report.error_total,
        report.events_dropped
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
