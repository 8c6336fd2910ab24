//! Rows per second the sink stores in ClickHouse: batches of enriched events,
//! as the consume loop hands them over, through the sink's handler into a
//! freshly migrated database on the local ClickHouse, at 10k and 100k rows
//! per batch. Three figures: the handler's `prepare` alone (protobuf decode,
//! row conversion, `Native` encoding), its insert alone (batches prepared
//! beforehand), and both as the consume loop runs them (the next batch
//! prepared on a blocking thread while this one is inserted). The writer
//! is the production one, behind the deny filter with an erasure in its
//! list; a fourth figure is `prepare` without the filter, for its cost.
//!
//! Kafka is left out: the broker's cost, not the sink's. ClickHouse is the
//! one `deploy/local/up --infra` runs (started here through the testkit when
//! it is not running).
//!
//! `cargo bench -p fiducia-sink --bench insert [-- <rows per batch size>]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use fiducia_proto::headers;
use fiducia_proto::privacy::user_key;
use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::v1::{Decision, EnrichedEvent, PrivacyRequest, PrivacyRequestKind};
use fiducia_runtime::erased::Erased;
use fiducia_runtime::kafka::consume::{BatchHandler, offset_ranges};
use fiducia_sink::config::ClickHouseConfig;
use fiducia_sink::deadletter::MemoryDeadLetters;
use fiducia_sink::deny::{Barrier, DenyingWriter};
use fiducia_sink::handler::SinkHandler;
use fiducia_sink::schema::{migrate, render};
use fiducia_sink::tables::events::EventRow;
use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter, client};
use fiducia_testkit::unique;
use prost::Message as _;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::{Message as _, Timestamp};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: fiducia_runtime::service::Allocator = fiducia_runtime::service::ALLOCATOR;

const BATCH_SIZES: [usize; 2] = [10_000, 100_000];

/// A page view as the enricher publishes it: every common field set, of
/// yesterday (a fixed date would age past the TTLs of modern servers).
fn message(i: usize) -> OwnedMessage {
    let at = midnight_days_ago_ms(1) + i64::try_from(i).unwrap_or(0) * 37;
    let event = EnrichedEvent {
        event_id: Uuid::now_v7().as_bytes().to_vec(),
        site_id: "demo".into(),
        event_type: ["page_view", "scroll", "engagement", "click"][i % 4].into(),
        event_time_ms: at,
        received_at_ms: at + 180,
        seq: u32::try_from(i % 50).unwrap_or(0),
        visitor_id: format!("01936f7e-{:012x}", i % 50_000),
        session_id: format!("s-{:016x}", i % 120_000),
        url: format!(
            "https://shop.example/products/{}?utm_source=newsletter&utm_campaign=spring",
            i % 900
        ),
        path: format!("/products/{}", i % 900),
        referrer: "https://www.google.com/".into(),
        referrer_class: "search".into(),
        search_engine: "google".into(),
        utm_source: "newsletter".into(),
        utm_medium: "email".into(),
        utm_campaign: "spring".into(),
        country: "IT".into(),
        region: "IT-25".into(),
        city: "Milan".into(),
        browser: "Firefox".into(),
        browser_version: "128.0".into(),
        os: "Linux".into(),
        device: "desktop".into(),
        consent_measurement: true,
        consent_personalization: i.is_multiple_of(3),
        decision: Decision::Keep.into(),
        props_json: format!(r#"{{"depth":{},"section":"catalog"}}"#, 25 * (i % 4 + 1)),
        title: "Red running shoes – Shop".into(),
        lang: "it-IT".into(),
        session_seq: u32::try_from(i % 20 + 1).unwrap_or(1),
        landing_page: "/".into(),
        page_categories: vec!["shoes".into(), "running".into()],
        ..EnrichedEvent::default()
    };
    let headers = OwnedHeaders::new().insert(Header {
        key: headers::SCHEMA,
        value: Some(headers::schema::ENRICHED_EVENT),
    });
    OwnedMessage::new(
        Some(event.encode_to_vec()),
        Some(b"demo:v".to_vec()),
        "fiducia.enriched.v1".into(),
        Timestamp::NotAvailable,
        0,
        i64::try_from(i).unwrap_or(0),
        Some(headers),
    )
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

/// The sink's `events` handler: the ClickHouse writer behind the deny filter.
type Handler = SinkHandler<DenyingWriter<ClickHouseWriter>, MemoryDeadLetters, EventRow>;
/// The same without the deny filter, for its cost.
type Plain = SinkHandler<ClickHouseWriter, MemoryDeadLetters, EventRow>;

/// What the consume loop does with a batch before handing it over.
fn prepare_batch(batch: Vec<OwnedMessage>) -> <Handler as BatchHandler>::Prepared {
    let ranges = offset_ranges(&batch);
    Handler::prepare(batch, &ranges)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows_per_size: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let infra = fiducia_testkit::infra();
    let config = ClickHouseConfig {
        url: infra.clickhouse_url.clone(),
        database: unique("fiducia_bench"),
        ..ClickHouseConfig::default()
    };
    let admin = client(&config);
    migrate(&admin, &config.database).await.expect("migrations");
    let plain = ClickHouseWriter::new(&config, ClickHouseHealth::new(Duration::from_secs(5)));
    // A deny-list that is not empty, as in production: every row is checked.
    let erased = Arc::new(Erased::default());
    erased.apply(&PrivacyRequest {
        site_id: "demo".into(),
        subject: "someone-else".into(),
        user_key: user_key("demo", "someone-else"),
        kind: PrivacyRequestKind::Erasure.into(),
        ..PrivacyRequest::default()
    });
    let writer = DenyingWriter::new(plain, erased, Arc::new(Barrier::default()));
    let messages: Vec<OwnedMessage> = (0..rows_per_size).map(message).collect();
    let bytes: usize = messages
        .iter()
        .map(|m| m.payload().map_or(0, <[u8]>::len))
        .sum();
    println!(
        "{rows_per_size} enriched events per run, {} bytes of protobuf each on average",
        bytes / rows_per_size
    );
    println!(
        "| rows per batch | prepare alone, rows/s | insert alone, rows/s | prepare and insert overlapped, rows/s | prepare alone without the deny filter, rows/s |"
    );
    println!("|---:|---:|---:|---:|---:|");
    // `prepare` takes its batch: each phase gets copies made before its clock starts.
    let batches = |size: usize| -> Vec<Vec<OwnedMessage>> {
        messages
            .chunks(size)
            .map(<[OwnedMessage]>::to_vec)
            .collect()
    };
    for batch in BATCH_SIZES {
        let mut handler = Handler::new(writer.clone(), MemoryDeadLetters::default());
        let chunks = batches(batch);
        let started = Instant::now();
        let prepared: Vec<_> = chunks.into_iter().map(prepare_batch).collect();
        let prepare = rate(messages.len(), started.elapsed());
        let unfiltered = batches(batch);
        let started = Instant::now();
        let prepared_plain: Vec<_> = unfiltered
            .into_iter()
            .map(|batch| {
                let ranges = offset_ranges(&batch);
                Plain::prepare(batch, &ranges)
            })
            .collect();
        let prepare_plain = rate(messages.len(), started.elapsed());
        drop(prepared_plain);

        let started = Instant::now();
        for prepared in &prepared {
            handler.handle(prepared).await.expect("batch stored");
        }
        let insert = rate(messages.len(), started.elapsed());
        drop(prepared);

        let mut chunks = batches(batch).into_iter();
        let mut prepare_on_thread = || {
            let chunk = chunks.next().unwrap_or_default();
            tokio::task::spawn_blocking(move || prepare_batch(chunk))
        };
        let started = Instant::now();
        let mut next = prepare_on_thread().await.expect("prepared");
        for _ in 0..messages.len().div_ceil(batch) {
            let (handled, after) = tokio::join!(handler.handle(&next), prepare_on_thread());
            handled.expect("batch stored");
            next = after.expect("prepared");
        }
        let overlapped = rate(messages.len(), started.elapsed());
        println!("| {batch} | {prepare:.0} | {insert:.0} | {overlapped:.0} | {prepare_plain:.0} |");
    }
    let stored: u64 = admin
        .query_raw(&render(
            "SELECT uniqExact(event_id) FROM {db}.events",
            &config.database,
        ))
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(stored, rows_per_size as u64, "every event stored");
    admin
        .query_raw(&render("DROP DATABASE {db}", &config.database))
        .execute()
        .await
        .expect("drop");
}
