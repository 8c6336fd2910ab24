//! Micro-benchmarks of the collector's hot functions, on the corpus the load
//! generator sends (`fiducia_benches::corpus`, seed 7): envelope parse +
//! validation, the consent gate (`gate`: resolving the signals; `accept`:
//! deciding every event and building the `RawEvent`s), TC string decode +
//! validation, and protobuf encoding. `request_path` chains them, as the
//! handler does, without HTTP and Kafka: the collector's own CPU cost per
//! event.
//!
//! `cargo bench -p fiducia-benches --bench collector_hot`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fiducia_benches::corpus;
use fiducia_collector::accept::{RequestMeta, accept, gate};
use fiducia_collector::config::Limits;
use fiducia_collector::consent::ledger::Ledger;
use fiducia_collector::consent::policy::Policy;
use fiducia_collector::consent::resolve::HeaderSignals;
use fiducia_collector::consent::tcf;
use fiducia_collector::envelope::parse;
use prost::Message as _;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

/// The benchmarks' clock, injected (every function measured here takes the
/// time as an argument and none reads the real clock): 2026-06-01T00:00Z,
/// when the fixed TCF test strings (created 2026-01-15) are fresh, so the
/// consent path measured is the same on any date.
const NOW: i64 = 1_780_272_000_000;

/// Publisher purposes 1-11 consented (`collector/reference/consent.md` table B).
const ACCEPT_ALL: &str = "CQeEcwAQeEcwAEsAHBENAHEsAP_gAAAAAAYgAGMUQAAAAAAA.IAGMUQAA.f_wAAAAAAAAA";

fn meta(user_agent: &str) -> RequestMeta {
    RequestMeta {
        ip: Some(fiducia_collector::client_ip::truncate(
            "203.0.113.77".parse().expect("an IP"),
        )),
        user_agent: user_agent.to_owned(),
        received_at_ms: NOW,
        signals: HeaderSignals::default(),
    }
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let policy = Policy::default();
    let ledger = Ledger::default();

    for batch in [1usize, 20] {
        let (requests, _) = corpus::generate(7, 256, batch, NOW);
        // A consented request: the path every kept event takes.
        let request = requests
            .iter()
            .find(|r| r.consented && !r.bot)
            .expect("the corpus has consented requests");
        let body = request.body.clone();
        let meta = meta(request.user_agent);
        let events = batch as u64;

        let mut group = c.benchmark_group(format!("collector/{batch}_event"));
        group.throughput(Throughput::Elements(events));
        group.bench_function("parse_validate", |b| {
            b.iter(|| {
                let envelope = parse(black_box(&body)).expect("valid");
                envelope.validate(&limits).expect("valid")
            });
        });
        let envelope = parse(&body).expect("valid");
        let checked = envelope.validate(&limits).expect("valid");
        group.bench_function("gate", |b| {
            b.iter(|| {
                gate(
                    black_box(&envelope),
                    &checked,
                    &meta,
                    &policy,
                    Some(&ledger),
                )
            });
        });
        let resolution = gate(&envelope, &checked, &meta, &policy, Some(&ledger));
        group.bench_function("accept", |b| {
            b.iter_batched(
                || parse(&body).expect("valid"),
                |envelope| accept(envelope, &checked, &meta, &policy, &resolution),
                BatchSize::SmallInput,
            );
        });
        let accepted = accept(
            parse(&body).expect("valid"),
            &checked,
            &meta,
            &policy,
            &resolution,
        );
        assert_eq!(accepted.events.len(), batch, "every event is kept");
        group.bench_function("protobuf_encode", |b| {
            b.iter(|| {
                accepted
                    .events
                    .iter()
                    .map(|(_, event)| event.encode_to_vec().len())
                    .sum::<usize>()
            });
        });
        group.bench_function("request_path", |b| {
            b.iter(|| {
                let envelope = parse(black_box(&body)).expect("valid");
                let checked = envelope.validate(&limits).expect("valid");
                let resolution = gate(&envelope, &checked, &meta, &policy, Some(&ledger));
                let accepted = accept(envelope, &checked, &meta, &policy, &resolution);
                accepted
                    .events
                    .iter()
                    .map(|(_, event)| event.encode_to_vec().len())
                    .sum::<usize>()
            });
        });
        group.finish();
    }

    let mut group = c.benchmark_group("collector/tcf");
    group.throughput(Throughput::Elements(1));
    let max_age_ms = Policy::default().max_age_ms;
    group.bench_function("from_envelope", |b| {
        b.iter(|| tcf::from_envelope(black_box(ACCEPT_ALL), "", NOW, max_age_ms));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
