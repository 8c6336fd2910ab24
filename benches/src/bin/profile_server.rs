//! `fiducia-profile-server`: the `GET /v1/profile` scenario's two servers in
//! one process, each with one worker: the collector's public API over
//! in-memory stores holding N profiles (and N ledger entries granting
//! personalization), and a bare actix-web handler answering `204` to the
//! same route, and under `/fixed` a personal answer's JSON body made once
//! (the bare handler plus what sending that body costs: with the
//! collector's cheapest refusal, the floor a profile answer is measured
//! against, `benches/README.md`). Prints the memory each profile costs (RSS
//! before and after the store is filled, over N) and writes visitor tokens
//! for the load generator (`--get-tokens`); runs until killed.
//!
//! Usage: `fiducia-profile-server <collector addr> <bare addr> <profiles> <tokens file>`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use fiducia_benches::{procfs, profiles};
use fiducia_collector::config::{Config, Connections, Limits, Privacy};
use fiducia_collector::consent::ledger::Ledger;
use fiducia_collector::privacy::keys::Keys;
use fiducia_collector::privacy::token;
use fiducia_collector::profile::{Stores, answer};
use fiducia_collector::publish::memory::MemoryPublisher;
use fiducia_collector::sites::Sites;
use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, Profile};
use fiducia_runtime::service::config::KafkaConfig;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

/// A bench-only signing key (`<kid>:<base64url seed>`).
const KEY: &str = "bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// Tokens written for the load generator.
const TOKENS: usize = 20_000;
fn rss_bytes() -> u64 {
    procfs::memory(std::process::id()).map_or(0, |m| m.rss_bytes)
}

fn grant(visitor: &str, at: i64) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    for p in [Purpose::Measurement, Purpose::Personalization] {
        p.set_in(&mut state, true);
    }
    ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: visitor.into(),
        action: ConsentAction::Grant.into(),
        state: Some(state),
        source: "tag:api".into(),
        client_ts_ms: at,
        server_ts_ms: at,
        ..ConsentRecord::default()
    }
}

async fn bare() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// A personal answer's body, as the collector serialises it for the bench's
/// visitors, made once.
fn fixed_body(stores: &Stores, sites: &Sites, now: i64) -> anyhow::Result<web::Bytes> {
    let site = sites
        .get("demo")
        .ok_or_else(|| anyhow::anyhow!("no site demo"))?;
    let basis = profiles::basis(now);
    let lists = stores.items.site("demo");
    let profile = profiles::profile(7, now);
    let body = answer::personal("demo", site, &basis, &profile, &lists, 6, now);
    Ok(serde_json::to_vec(&body)?.into())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, collector_addr, bare_addr, count, tokens_file] = &args[..] else {
        anyhow::bail!(
            "usage: fiducia-profile-server <collector addr> <bare addr> <profiles> <tokens file>"
        );
    };
    let count: usize = count.parse()?;
    let now = fiducia_proto::time::now_ms();
    let keys = Keys::parse(Some(KEY), None)?;

    let stores = Stores::default();
    profiles::item_lists(&stores);
    let sample = Profile {
        site_id: "demo".into(),
        visitor_id: "v-00000000".into(),
        ..profiles::profile(0, now)
    };
    let before = rss_bytes();
    for i in 0..count {
        let visitor = format!("v-{i:08}");
        stores
            .profiles
            .insert(&format!("demo/{visitor}"), profiles::profile(i, now));
    }
    let after_profiles = rss_bytes();
    let ledger = Arc::new(Ledger::default());
    for i in 0..count {
        ledger.apply(&grant(&format!("v-{i:08}"), now - 2 * 86_400_000));
    }
    let after_ledger = rss_bytes();
    #[allow(clippy::cast_precision_loss)]
    let per = |bytes: u64| bytes as f64 / count.max(1) as f64;
    println!(
        "profiles={count} encoded_profile_bytes={} store_rss_bytes_per_profile={:.0} ledger_rss_bytes_per_subject={:.0}",
        prost::Message::encoded_len(&sample),
        per(after_profiles.saturating_sub(before)),
        per(after_ledger.saturating_sub(after_profiles)),
    );

    let mut out = std::io::BufWriter::new(std::fs::File::create(tokens_file)?);
    for i in (0..count).step_by((count / TOKENS).max(1)).take(TOKENS) {
        let token = token::issue(&keys, "demo", &format!("v-{i:08}"), now, 86_400_000)
            .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        writeln!(out, "{token}")?;
    }
    out.flush()?;

    let sites = Sites::from_toml(profiles::SITES_TOML)?;
    let fixed = fixed_body(&stores, &sites, now)?;
    let config = Config {
        listen_addr: collector_addr.parse()?,
        admin_addr: "127.0.0.1:0".parse()?,
        workers: 1,
        kafka: KafkaConfig::new("127.0.0.1:9", fiducia_proto::topics::Topics::default()),
        sites,
        trusted_proxies: Vec::new(),
        limits: Limits {
            rate_per_ip_per_second: 10_000_000,
            rate_burst: 10_000_000,
            ..Limits::default()
        },
        connections: Connections::default(),
        kafka_linger: Duration::from_millis(5),
        kafka_message_timeout: Duration::from_secs(5),
        downstream_group: None,
        metrics_linger: Duration::ZERO,
        retry_after_seconds: 1,
        shutdown_timeout: Duration::from_secs(1),
        privacy: Privacy {
            keys,
            ..Privacy::default()
        },
        warehouse: None,
        admin_secret: None,
        ledger_snapshot: None,
    };
    let shutdown = CancellationToken::new();
    let (collector, _) = fiducia_collector::startup::public_server(
        &config,
        Arc::new(MemoryPublisher::default()),
        ledger,
        Arc::new(|| true),
        stores,
        &shutdown,
    )?;
    println!("fixed_body_bytes={}", fixed.len());
    let bare = HttpServer::new(move || {
        let fixed = fixed.clone();
        App::new()
            .route("/v1/profile/{site}", web::get().to(bare))
            .route(
                "/fixed/v1/profile/{site}",
                web::get().to(move || {
                    let fixed = fixed.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(fixed)
                    }
                }),
            )
    })
    .workers(1)
    .bind(bare_addr.as_str())?
    .run();
    println!("ready");
    let (a, b) = tokio::join!(collector, bare);
    a?;
    b?;
    Ok(())
}
