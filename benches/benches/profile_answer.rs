//! Micro-benchmarks of the two answers of `GET /v1/profile`, built and
//! serialised as the route does, without HTTP: `personal` (the visitor's
//! interests, segments and related items, each explained) and
//! `contextual` (the page's category and item, the popular lists). The
//! data is the `benches/profile` scenario's ([`fiducia_benches::profiles`]).
//!
//! `cargo bench -p fiducia-benches --bench profile_answer`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fiducia_benches::profiles;
use fiducia_collector::profile::consent::Contextual;
use fiducia_collector::profile::page::{self, Request};
use fiducia_collector::profile::{Stores, answer};
use fiducia_collector::sites::Sites;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

/// 2026-12-07T14:20Z.
const NOW: i64 = 1_796_653_200_000;

fn bench(c: &mut Criterion) {
    let stores = Stores::default();
    profiles::item_lists(&stores);
    let sites = Sites::from_toml(profiles::SITES_TOML).expect("the bench site");
    let site = sites.get("demo").expect("site demo");
    let profile = profiles::profile(42, NOW);
    let basis = profiles::basis(NOW);
    let mut group = c.benchmark_group("profile_answer");
    group.bench_function("personal", |b| {
        b.iter(|| {
            let lists = stores.items.site("demo");
            let body = answer::personal("demo", site, &basis, &profile, &lists, 6, NOW);
            black_box(serde_json::to_vec(&body).expect("JSON"))
        });
    });
    group.bench_function("contextual", |b| {
        b.iter(|| {
            let lists = stores.items.site("demo");
            let context = page::context(
                &site.page,
                &Request {
                    path: "/p/shoes/item-7",
                    referrer: "https://www.google.com/",
                    page_host: Some("127.0.0.1"),
                    user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                    now_ms: NOW,
                },
            );
            let body = answer::contextual("demo", &context, &lists, 6, Contextual::NoToken);
            black_box(serde_json::to_vec(&body).expect("JSON"))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
