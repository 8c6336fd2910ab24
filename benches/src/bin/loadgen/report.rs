//! The load generator's JSON report: what one run measured.

use std::collections::BTreeMap;

use fiducia_benches::{arrivals, corpus};
use serde::Serialize;

use crate::Mode;

/// Latency percentiles of the measured requests.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// What the server process used (`--pid`).
#[derive(Debug, Serialize)]
pub struct Server {
    pub pid: u32,
    pub cpu_s: f64,
    /// CPU seconds per wall second (1.0 = one core busy).
    pub cpu_cores: f64,
    /// Events sent in 2xx-answered requests per CPU second of the server.
    pub events_per_cpu_s: Option<f64>,
    /// Highest `VmRSS` sampled every 50 ms during the measured window.
    pub peak_rss_mb: f64,
    /// `VmHWM` at the end: the peak since the process started.
    pub vm_hwm_mb: f64,
}

/// One run's report, printed as JSON on stdout.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub mode: Mode,
    pub connections: usize,
    pub target_rate_rps: Option<f64>,
    pub batch: usize,
    pub duration_s: f64,
    pub requests_ok: u64,
    pub requests_per_s: f64,
    pub events_per_s: f64,
    pub events_dropped: u64,
    /// Events in 2xx-answered requests less those the server dropped: what
    /// it published (over warm-up too when `--warmup-s 0`).
    pub events_accepted: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_total: u64,
    pub latency: Latency,
    pub server: Option<Server>,
    /// This process's CPU seconds per wall second (its core's share).
    pub loadgen_cpu_cores: f64,
    /// `--broker-pid`'s CPU seconds per wall second.
    pub broker_cpu_cores: Option<f64>,
    pub corpus: corpus::Stats,
    /// `--arrivals-url`: tag → ClickHouse latency of the measured events.
    pub arrival: Option<arrivals::Summary>,
}

/// Microseconds as milliseconds.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

/// Bytes as MiB.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
