//! `fiducia-ledger`: what the collector's consent ledger costs at scale.
//! Builds `--subjects` synthetic subjects' consent records (a realistic
//! mix, seeded: mostly single grants, some withdrawals, erasures,
//! retention choices, GPC objections and explicit grants under them),
//! encodes them as on `fiducia.consent.v1`, then decodes and applies them
//! as the follower does, and reports the resident memory the ledger grew
//! by (bytes per subject, from `/proc/self/status` under the services'
//! allocator) and the records applied per second (one thread). Prints one
//! JSON object on stdout.
//!
//! `--part ledger` measures the whole `Ledger` as the collector holds it
//! (decisions and the privacy center's history); `--part history` the
//! history alone, so the decision entries are the difference.
//!
//! `--produce BROKERS --topic T` writes the same records to a consent
//! topic instead (keyed `site/subject`), for the end-to-end catch-up of a
//! real collector (`benches/README.md`, "Consent ledger").

use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use fiducia_benches::procfs;
use fiducia_collector::consent::history::History;
use fiducia_collector::consent::ledger::Ledger;
use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, IpPrefix};
use prost::Message;
use serde::Serialize;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

/// Measures the consent ledger's memory and apply rate.
#[derive(Debug, Parser)]
struct Args {
    /// Subjects (visitors with at least one consent record).
    #[arg(long, default_value_t = 1_000_000)]
    subjects: u64,
    /// Sites the subjects are spread over.
    #[arg(long, default_value_t = 20)]
    sites: u64,
    /// What to apply the records to: `ledger` (the collector's) or `history`.
    #[arg(long, default_value = "ledger")]
    part: String,
    /// Seed of the mix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Kafka bootstrap servers: produce the records to `--topic` instead.
    #[arg(long)]
    produce: Option<String>,
    /// The consent topic to produce to.
    #[arg(long, default_value = "bench.ledger.consent.v1")]
    topic: String,
}

/// Writes `records` (with their keys) to `topic`, waiting for every ack.
fn produce(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let started = Instant::now();
    for (key, payload) in records {
        let mut record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    producer.poll(std::time::Duration::from_millis(50));
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
    producer.flush(std::time::Duration::from_secs(300))?;
    eprintln!(
        "{} records produced to {topic} in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct Report {
    part: String,
    subjects: u64,
    records: u64,
    /// Subjects the ledger holds afterwards.
    ledger_subjects: usize,
    /// Of which held in full (what wins over the tag); the rest packed.
    held_in_full: usize,
    /// The ledger's own estimate of its entries' bytes (its gauge).
    ledger_bytes_estimate: usize,
    rss_grown_bytes: u64,
    bytes_per_subject: f64,
    apply_seconds: f64,
    records_per_second: f64,
}

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number below 100.
    fn percent(&mut self) -> u64 {
        self.next() % 100
    }
}

const M: Purpose = Purpose::Measurement;
const P: Purpose = Purpose::Personalization;
const F: Purpose = Purpose::Functional;
const C: Purpose = Purpose::Contextual;

/// The records of one subject, in receipt order. The mix, per subject:
/// 62% one grant of everything, 20% one grant of measurement only, 8% a
/// grant then a withdrawal, 3% a grant then a retention choice, 3% a
/// grant under GPC (the objection recorded), 2% an explicit grant under
/// GPC, 2% a grant then an erasure: 1.15 records per subject.
fn subject_records(rng: &mut Rng, site: &str, subject: &str, at: &mut i64) -> Vec<ConsentRecord> {
    let roll = rng.percent();
    let mut make = |action: ConsentAction, granted: &[Purpose], gpc: bool, source: &str| {
        *at += 1 + i64::try_from(rng.next() % 3).unwrap_or(0);
        let mut state = ConsentSnapshot {
            source: "api".into(),
            notice_version: "2026-01".into(),
            updated_at_ms: *at,
            gpc,
            ..ConsentSnapshot::default()
        };
        for p in Purpose::CONSENTABLE {
            p.set_in(&mut state, granted.contains(&p));
        }
        ConsentRecord {
            record_id: uuid::Uuid::from_u64_pair(rng.next(), rng.next())
                .as_bytes()
                .to_vec(),
            site_id: site.into(),
            subject: subject.into(),
            action: action.into(),
            state: Some(state),
            source: source.into(),
            notice_version: "2026-01".into(),
            notice_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            client_ts_ms: *at,
            server_ts_ms: *at,
            expires_at_ms: *at + 34_128_000_000,
            browser_family: "Chrome".into(),
            ip: Some(IpPrefix {
                network: vec![198, 51, 100, 0],
                prefix_len: 24,
            }),
            ..ConsentRecord::default()
        }
    };
    let all = [M, P, F, C];
    match roll {
        0..62 => vec![make(ConsentAction::Grant, &all, false, "tag:api")],
        62..82 => vec![make(ConsentAction::Grant, &[M], false, "tag:api")],
        82..90 => vec![
            make(ConsentAction::Grant, &all, false, "tag:api"),
            make(ConsentAction::Withdraw, &[M], false, "tag:api"),
        ],
        90..93 => {
            let grant = make(ConsentAction::Grant, &all, false, "tag:api");
            let mut choice = make(ConsentAction::Update, &all, false, "privacy-center");
            choice.retention_months = 3;
            vec![grant, choice]
        }
        93..96 => vec![make(ConsentAction::Object, &[M, F, C], true, "gpc")],
        96..98 => vec![make(ConsentAction::Grant, &all, true, "tag:api")],
        _ => vec![
            make(ConsentAction::Grant, &all, false, "tag:api"),
            make(ConsentAction::Erase, &[], false, "privacy-center"),
        ],
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.part != "ledger" && args.part != "history" {
        bail!("--part is ledger or history, not {}", args.part);
    }
    let mut rng = Rng(args.seed | 1);
    let sites: Vec<String> = (0..args.sites).map(|i| format!("site-{i}")).collect();
    let mut at = 1_764_000_000_000_i64;
    let mut encoded: Vec<(String, Vec<u8>)> = Vec::new();
    for n in 0..args.subjects {
        let site = &sites[usize::try_from(rng.next() % args.sites)?];
        // A visitor id as the collector issues them: 32 hex digits.
        let subject = format!("{:016x}{n:016x}", rng.next());
        for record in subject_records(&mut rng, site, &subject, &mut at) {
            encoded.push((format!("{site}/{subject}"), record.encode_to_vec()));
        }
    }
    // Records of different subjects interleave on the topic.
    for i in (1..encoded.len()).rev() {
        let j = usize::try_from(rng.next() % (i as u64 + 1))?;
        encoded.swap(i, j);
    }
    let records = encoded.len() as u64;
    if let Some(brokers) = &args.produce {
        return produce(brokers, &args.topic, &encoded);
    }
    let ledger = Ledger::default();
    let history = History::default();
    let before = procfs::memory(std::process::id()).map_or(0, |m| m.rss_bytes);
    let started = Instant::now();
    for (_, payload) in &encoded {
        let record = ConsentRecord::decode(payload.as_slice())?;
        if args.part == "ledger" {
            ledger.apply(&record);
        } else {
            history.add(&record);
        }
    }
    let apply_seconds = started.elapsed().as_secs_f64();
    let after = procfs::memory(std::process::id()).map_or(0, |m| m.rss_bytes);
    let grown = after.saturating_sub(before);
    let size = ledger.size();
    #[allow(clippy::cast_precision_loss)] // a report
    let report = Report {
        part: args.part,
        subjects: args.subjects,
        records,
        ledger_subjects: size.subjects,
        held_in_full: size.held,
        ledger_bytes_estimate: size.bytes,
        rss_grown_bytes: grown,
        bytes_per_subject: grown as f64 / args.subjects as f64,
        apply_seconds,
        records_per_second: records as f64 / apply_seconds,
    };
    println!("{}", serde_json::to_string(&report)?);
    drop(encoded);
    Ok(())
}
