//! Enricher throughput on one core: batches of 2,000 realistic raw events
//! (400 visitors, 30 user agents with some bots, campaigns, click ids,
//! e-mail addresses and tokens to scrub, properties, IPv4 and IPv6 prefixes
//! looked up in a geo database) through exactly what the service runs per
//! batch ([`Processor::prepare`]: validation, enrichment, sessions, encoding,
//! Kafka headers), against a baseline measured in the same run: protobuf
//! decode of the raw event and encode of an enriched one, nothing else.
//!
//! `cargo bench -p fiducia-enricher --bench enrich`; the figures and their
//! ratio are in `benches/README.md`.

use std::cell::Cell;
use std::hint::black_box;
use std::num::NonZeroUsize;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fiducia_enricher::batch::Processor;
use fiducia_enricher::enrich::Engine;
use fiducia_enricher::enrich::geo::GeoDb;
use fiducia_enricher::sessions::store::SessionStore;
use fiducia_enricher::sites::Sites;
use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::v1::{
    ConsentSnapshot, ConsentState, Decision, EnrichedEvent, IpPrefix, PageContext, RawEvent,
};
use prost::Message as _;
use rdkafka::Timestamp;
use rdkafka::message::OwnedMessage;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

const BATCH: usize = 2000;
const VISITORS: u64 = 400;
/// 16:00 UTC yesterday: recent, and hours from any midnight.
fn t0() -> i64 {
    midnight_days_ago_ms(1) + 16 * 3_600_000
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36 EdgA/120.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 11; Redmi Note 9 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    // Bots and automation, about one event in fifteen.
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

const PAGES: &[&str] = &[
    "https://shop.example/",
    "https://shop.example/p/red-running-shoes-42",
    "https://shop.example/p/blue-hat?size=m",
    "https://shop.example/c/shoes/",
    "https://shop.example/blog/2026/spring-collection",
    "https://shop.example/cart",
    "https://shop.example/checkout;jsessionid=0AAB6C8DE415",
    "https://shop.example/search?q=red+shoes&page=2",
    "https://shop.example/p/green-socks?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid=Cj0KCQiA",
    "https://shop.example/p/42?fbclid=IwAR2x&utm_source=facebook&utm_medium=social",
    "https://shop.example/account/reset?token=d41d8cd98f00b204e9800998ecf8427e",
    "https://shop.example/login?email=ada%40example.com&next=%2Fcart",
    "https://shop.example/#/app/orders?tab=open",
];

const REFERRERS: &[&str] = &[
    "",
    "",
    "https://www.google.com/",
    "https://www.bing.com/search?q=shoes",
    "https://m.facebook.com/",
    "https://t.co/abc",
    "https://shop.example/",
    "https://shop.example/c/shoes",
    "https://mail.google.com/mail/u/0/",
    "https://blog.example/best-shoes-2026",
];

const PROPS: &[&str] = &[
    "{}",
    "{}",
    "{}",
    r#"{"depth":75}"#,
    r#"{"href":"https://partner.example/deal?ref=shop","text":"Deal"}"#,
    r#"{"sku":"RS-42","price":89.9,"currency":"EUR"}"#,
    r#"{"form":"newsletter","email":"ada@example.com"}"#,
];

const TYPES: &[&str] = &["page_view", "page_view", "click", "scroll", "engagement"];

/// A deterministic pseudo-random sequence (no dependency needed for a bench).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap_or(0) % items.len()]
    }
}

/// The raw events of batch number `round`: times and offsets move on, so
/// sessions continue from one batch to the next as they would live.
fn batch(round: i64) -> Vec<OwnedMessage> {
    let mut rng = Lcg(7);
    (0..BATCH)
        .map(|i| {
            let visitor = rng.next() % VISITORS;
            let index = i64::try_from(i).unwrap_or(0);
            let t = t0() + round * 60_000 + index * 25;
            let mut id = *uuid::Uuid::now_v7().as_bytes();
            id[8..16].copy_from_slice(&(round * 10_000 + index).to_be_bytes());
            id[8] = (id[8] & 0x3f) | 0x80;
            let ip = if visitor.is_multiple_of(5) {
                IpPrefix {
                    network: [
                        0x20,
                        0x01,
                        0x0d,
                        0xb8,
                        0,
                        u8::try_from(visitor % 4).unwrap_or(0),
                    ]
                    .into_iter()
                    .chain([0; 10])
                    .collect(),
                    prefix_len: 48,
                }
            } else {
                IpPrefix {
                    network: vec![198, 51, u8::try_from(visitor % 200).unwrap_or(0), 0],
                    prefix_len: 24,
                }
            };
            let raw = RawEvent {
                event_id: id.to_vec(),
                site_id: "demo".into(),
                event_type: rng.pick(TYPES).into(),
                client_ts_ms: t - 400,
                sent_at_ms: t - 200,
                received_at_ms: t,
                seq: u32::try_from(i % 20).unwrap_or(0),
                props_json: rng.pick(PROPS).into(),
                consent: Some(ConsentSnapshot {
                    measurement: ConsentState::Granted.into(),
                    // Half the visitors agreed to personalization: their
                    // events move a profile too.
                    personalization: if visitor.is_multiple_of(2) {
                        ConsentState::Granted
                    } else {
                        ConsentState::Denied
                    }
                    .into(),
                    ..ConsentSnapshot::default()
                }),
                context: Some(PageContext {
                    url: rng.pick(PAGES).into(),
                    referrer: rng.pick(REFERRERS).into(),
                    title: "Red running shoes | Shop".into(),
                    lang: "it-IT".into(),
                    tz: "Europe/Rome".into(),
                    screen_width: 1920,
                    screen_height: 1080,
                    viewport_width: 1280,
                    viewport_height: 800,
                }),
                visitor_id: if visitor.is_multiple_of(10) {
                    String::new()
                } else {
                    format!("0193a1f0-7c2e-7d3a-9f10-{visitor:012}")
                },
                user_id: String::new(),
                ip: Some(ip),
                // Anonymous (STRIP) events come with a device class, never
                // the user agent (the collector keeps it back).
                user_agent: if visitor.is_multiple_of(10) {
                    String::new()
                } else {
                    AGENTS[usize::try_from(visitor).unwrap_or(0) % AGENTS.len()].into()
                },
                decision: if visitor.is_multiple_of(10) {
                    Decision::Strip
                } else {
                    Decision::Keep
                }
                .into(),
                device_class: if visitor.is_multiple_of(10) {
                    "mobile".into()
                } else {
                    String::new()
                },
                personalization_since_ms: 0,
                retention_months: 0,
            };
            OwnedMessage::new(
                Some(raw.encode_to_vec()),
                Some(format!("demo/{visitor}").into_bytes()),
                "fiducia.raw.v1".into(),
                Timestamp::NotAvailable,
                0,
                round * 10_000 + index,
                None,
            )
        })
        .collect()
}

/// A geo database covering the bench's IPv4 networks.
fn geo_database() -> tempfile::NamedTempFile {
    let rows: Vec<[String; 4]> = (0..200_u32)
        .map(|i| {
            [
                format!("198.51.{i}.0/24"),
                if i % 3 == 0 { "FR" } else { "IT" }.to_owned(),
                format!("{}", i % 20),
                format!("City {i}"),
            ]
        })
        .collect();
    fiducia_testkit::mmdb::write(&rows)
}

fn processor(geo: &tempfile::NamedTempFile) -> Processor {
    let sites = Sites::parse(
        r#"
[sites.demo.collect]
allowed_origins = []
[sites.demo.enrich]
time_zone = "Europe/Rome"
scrub_query_keys = ["ref"]
[[sites.demo.enrich.categories]]
name = "product"
path_prefix = "/p/"
[[sites.demo.enrich.categories]]
name = "editorial"
path_regex = "^/(blog|news)/"
"#,
        "bench",
    )
    .expect("bench sites");
    let entries = NonZeroUsize::new(10_000).expect("non-zero");
    let geo = GeoDb::open(geo.path(), entries).expect("bench geo database");
    let mut processor = Processor::new(
        Engine::new(sites, entries, Some(geo)),
        SessionStore::new(500_000),
        std::sync::Arc::default(),
    );
    processor.install(0, Vec::new(), Vec::new());
    processor
}

/// The baseline: what any stage pays to read one message and write one.
fn decode_encode(batch: &[OwnedMessage]) -> usize {
    use rdkafka::Message as _;
    let mut bytes = 0;
    for message in batch {
        let raw = RawEvent::decode(message.payload().unwrap_or_default()).expect("valid");
        let context = raw.context.unwrap_or_default();
        let event = EnrichedEvent {
            event_id: raw.event_id,
            site_id: raw.site_id,
            event_type: raw.event_type,
            event_time_ms: raw.client_ts_ms,
            received_at_ms: raw.received_at_ms,
            seq: raw.seq,
            visitor_id: raw.visitor_id,
            url: context.url,
            referrer: context.referrer,
            props_json: raw.props_json,
            title: context.title,
            lang: context.lang,
            decision: raw.decision,
            ..EnrichedEvent::default()
        };
        bytes += event.encode_to_vec().len();
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let geo = geo_database();
    let mut group = c.benchmark_group("enricher");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    let fixed = batch(0);
    group.bench_function("baseline_protobuf_decode_encode", |b| {
        b.iter(|| black_box(decode_encode(black_box(&fixed))));
    });
    let mut processor = processor(&geo);
    let round = Cell::new(0_i64);
    group.bench_function("enrich_batch", |b| {
        b.iter_batched(
            || {
                round.set(round.get() + 1);
                batch(round.get())
            },
            |messages| black_box(processor.prepare(&messages, t0())),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
