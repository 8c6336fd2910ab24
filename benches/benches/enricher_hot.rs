//! Micro-benchmarks of two per-event functions of the enricher, on the load
//! generator's corpus (seed 7): user-agent parsing without the cache (the
//! service caches answers; this is the cost of a miss) over the corpus's
//! mix of browsers and bots, and URL scrubbing over its page URLs (30% with
//! UTM parameters) plus URLs with an e-mail address, a token and click ids.
//!
//! `cargo bench -p fiducia-benches --bench enricher_hot`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fiducia_benches::corpus;
use fiducia_enricher::enrich::scrub::Scrubber;
use fiducia_enricher::enrich::{url, user_agent};
use fiducia_proto::time::midnight_days_ago_ms;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

/// URLs with something to remove, as pages sometimes carry.
const DIRTY: &[&str] = &[
    "https://shop.example/account/reset?email=ada%40example.org&token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "https://shop.example/p/red-leather-sneakers-42?gclid=EAIaIQobChMI8x2&fbclid=IwAR0abc&utm_source=google",
    "https://shop.example/checkout/done?order=10293&session_id=9f8e7d6c5b4a39281706f5e4d3c2b1a0",
];

fn bench(c: &mut Criterion) {
    // Only the corpus's times depend on the instant; nothing here reads them.
    let (requests, _) = corpus::generate(7, 512, 1, midnight_days_ago_ms(0));
    let agents: Vec<&str> = requests.iter().map(|r| r.user_agent).collect();
    let mut urls: Vec<String> = requests
        .iter()
        .map(|r| {
            let envelope: serde_json::Value =
                serde_json::from_slice(&r.body).expect("the corpus is JSON");
            envelope["context"]["url"]
                .as_str()
                .expect("every envelope has a URL")
                .to_owned()
        })
        .collect();
    urls.extend(DIRTY.iter().map(|u| (*u).to_owned()));
    let scrubber = Scrubber::default();

    let mut group = c.benchmark_group("enricher");
    group.throughput(Throughput::Elements(agents.len() as u64));
    group.bench_function("user_agent_parse_uncached", |b| {
        b.iter(|| {
            agents
                .iter()
                .map(|ua| user_agent::parse(black_box(ua)).signals.len())
                .sum::<usize>()
        });
    });
    group.throughput(Throughput::Elements(urls.len() as u64));
    group.bench_function("url_scrub", |b| {
        b.iter(|| {
            urls.iter()
                .map(|u| url::scrub(black_box(u), &scrubber).url.len())
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
