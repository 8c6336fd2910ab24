//! The admin listener every service runs beside its work: `/metrics`
//! (Prometheus text), `/healthz` (the process is alive) and `/readyz` (its
//! dependencies answer). Kept off the public port so metrics and probes are
//! never exposed with the collector's API.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets for every `*_seconds` histogram a service does not give its own
/// ([`HistogramBuckets`]): 100 µs to 10 s.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets for every `*_bytes` histogram a service does not give its own:
/// 64 B to 1 MiB, powers of 4.
pub const BYTES_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
];

/// A histogram whose buckets are not its unit's default: its full name (a
/// constant of the service's metrics module) and its upper bounds.
pub type HistogramBuckets = (&'static str, &'static [f64]);

/// `FIDUCIA_METRICS_LINGER_MS`: how long a stopping service keeps
/// answering `/metrics` after its work ended (default 0). Prometheus pulls,
/// so without it what a service counted after its last scrape (the batch it
/// finished on SIGTERM) is never seen, and the loss ledger of a stopped and
/// restarted stage is short by it. Set it above the scrape interval where
/// the ledger must balance exactly (the local runner does), and keep the
/// orchestrator's grace period above flush plus linger.
///
/// # Errors
/// A value that is not a number of milliseconds.
pub fn linger_from_env() -> Result<Duration, crate::service::config::ConfigError> {
    Ok(
        crate::service::config::env_opt::<u64>("FIDUCIA_METRICS_LINGER_MS")?
            .map_or(Duration::ZERO, Duration::from_millis),
    )
}

/// Stops the admin server once its final counts could be scraped: after
/// `linger` ([`linger_from_env`]).
pub async fn stop(admin: &ServerHandle, linger: Duration) {
    if !linger.is_zero() {
        tracing::info!(
            linger_ms = linger.as_millis(),
            "work stopped; /metrics answers a last time"
        );
        tokio::time::sleep(linger).await;
    }
    admin.stop(true).await;
}

/// Answers whether the service's dependencies are reachable.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// The process-wide Prometheus recorder, installed on first use with the
/// default buckets. Every `Application` in one process (tests start
/// several) shares it.
pub fn prometheus() -> PrometheusHandle {
    install(&[])
}

/// The process-wide Prometheus recorder, installed on first use: histograms
/// named in `buckets` get theirs, other `*_seconds` ones
/// [`SECONDS_BUCKETS`], `*_bytes` ones [`BYTES_BUCKETS`]. Only the first
/// call's `buckets` count (one service per process in production).
///
/// # Panics
/// When a bucket list is empty: the lists are constants, so a test of the
/// service's metrics module catches it.
pub fn install(buckets: &[HistogramBuckets]) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS)
                })
                .expect("static, non-empty buckets");
            // A full name is matched before a suffix.
            for (name, bounds) in buckets {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_owned()), bounds)
                    .expect("non-empty buckets");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests): ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// Binds the admin endpoints on `addr` (port 0 picks a free port), with the
/// service's own histogram `buckets` ([`install`]). `ready_gauge` (a
/// constant of the service's metrics module) is set at every scrape of
/// `/metrics` to what `/readyz` would answer then (1 ready, 0 not), so
/// Prometheus sees readiness without a prober. Returns the server to run
/// and the address it listens on.
///
/// # Errors
/// When the address cannot be bound.
pub fn serve(
    addr: SocketAddr,
    ready: Readiness,
    ready_gauge: &'static str,
    buckets: &[HistogramBuckets],
) -> std::io::Result<(Server, SocketAddr)> {
    let handle = install(buckets);
    metrics::describe_gauge!(
        ready_gauge,
        "1 when /readyz answers 200 (dependencies reachable, followers caught up), 0 when not; set at each scrape."
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(handle.clone()))
            .app_data(web::Data::new(Arc::clone(&ready)))
            .app_data(web::Data::new(ReadyGauge(ready_gauge)))
            .route("/metrics", web::get().to(metrics_text))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs()[0];
    Ok((server.run(), bound))
}

/// The name of the readiness gauge ([`serve`]).
struct ReadyGauge(&'static str);

async fn metrics_text(
    handle: web::Data<PrometheusHandle>,
    ready: web::Data<Readiness>,
    gauge: web::Data<ReadyGauge>,
) -> HttpResponse {
    metrics::gauge!(gauge.0).set(if (ready.get_ref())() { 1.0 } else { 0.0 });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(ready: web::Data<Readiness>) -> HttpResponse {
    if (ready.get_ref())() {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready\n")
    }
}
