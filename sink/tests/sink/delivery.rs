//! Events land once, even when delivered twice, with every field in its
//! column, over plain and LZ4-compressed inserts.

use fiducia_proto::v1::{Decision, EnrichedEvent};
use fiducia_sink::schema::render;
use prost::Message as _;
use uuid::Uuid;

use crate::helpers::*;

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct StoredEvent {
    id: String,
    event_type: String,
    event_time: u32,
    event_ms: u16,
    received_at: u32,
    seq: u32,
    is_bot: u8,
    bot_reasons: Vec<String>,
    decision: String,
    props: String,
    utm_campaign: String,
    title: String,
    session_seq: u32,
    page_categories: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_once_even_when_delivered_twice() {
    const N: u32 = 300;
    let setup = Setup::new().await;
    let producer = setup.producer();
    let events: Vec<EnrichedEvent> = (0..N).map(|i| event(Uuid::now_v7(), i)).collect();
    produce_events(&producer, &setup.topics.enriched, &events).await;

    let sink = RunningSink::start(setup.config()).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", N.into())
        .await;

    // Every field as stored, the event_id read back as text.
    let stored: Vec<StoredEvent> = setup
        .clickhouse()
        .query_raw(&render(
            "SELECT toString(event_id) AS id, event_type, toUInt32(event_time) AS event_time, event_ms, \
             toUInt32(received_at) AS received_at, seq, is_bot, bot_reasons, decision, props, utm_campaign, \
             title, session_seq, page_categories \
             FROM {db}.events FINAL ORDER BY seq",
            &setup.database,
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(stored.len(), N as usize);
    for (sent, row) in events.iter().zip(&stored) {
        let id = Uuid::from_slice(&sent.event_id).unwrap();
        assert_eq!(
            row.id,
            id.hyphenated().to_string(),
            "UUID byte order survives the round trip"
        );
        assert_eq!(
            i64::from(row.event_time) * 1000 + i64::from(row.event_ms),
            sent.event_time_ms
        );
        assert_eq!(i64::from(row.received_at), sent.received_at_ms / 1000);
        assert_eq!(row.seq, sent.seq);
        assert_eq!(row.event_type, sent.event_type);
        assert_eq!(
            (row.is_bot == 1, &row.bot_reasons),
            (sent.is_bot, &sent.bot_reasons)
        );
        let decision = if sent.decision == i32::from(Decision::Strip) {
            "strip"
        } else {
            "keep"
        };
        assert_eq!(row.decision, decision);
        assert_eq!(
            (row.props.as_str(), row.utm_campaign.as_str()),
            (sent.props_json.as_str(), "spring")
        );
        assert_eq!(
            (&row.title, row.session_seq, &row.page_categories),
            (&sent.title, sent.session_seq, &sent.page_categories)
        );
    }
    let by_id = format!(
        "SELECT count() FROM {{db}}.events WHERE event_id = toUUID('{}')",
        Uuid::from_slice(&events[7].event_id).unwrap()
    );
    assert_eq!(setup.count(&by_id).await, 1, "a UUID literal finds the row");

    // The same events again, then one fresh event per partition: once the
    // fresh ones are in, every duplicate before them was inserted too.
    produce_events(&producer, &setup.topics.enriched, &events).await;
    for partition in 0..PARTITIONS {
        let fresh = event(Uuid::now_v7(), N + 1).encode_to_vec();
        produce(
            &producer,
            &setup.topics.enriched,
            "demo:fresh",
            &fresh,
            Some(partition),
        )
        .await;
    }
    let total = u64::from(N) + u64::try_from(PARTITIONS).unwrap();
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", total)
        .await;
    assert_eq!(
        setup
            .count("SELECT uniqExact(event_id) FROM {db}.events")
            .await,
        total
    );
    // Merging collapses the stored duplicates for good.
    setup
        .clickhouse()
        .query_raw(&render("OPTIMIZE TABLE {db}.events FINAL", &setup.database))
        .execute()
        .await
        .unwrap();
    assert_eq!(setup.count("SELECT count() FROM {db}.events").await, total);

    let (status, metrics) = sink.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "fiducia_sink_rows_inserted_total",
        "fiducia_sink_insert_duration_seconds",
        "fiducia_sink_kafka_messages_consumed_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    sink.stop().await;
    setup.drop_database().await;
}

/// `FIDUCIA_CLICKHOUSE_COMPRESSION=lz4`: the same rows arrive through
/// LZ4-compressed `Native` inserts (`decompress=1`, which 18.16 reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_compressed_inserts_store_the_same_rows() {
    const N: u32 = 50;
    let setup = Setup::new().await;
    let events: Vec<EnrichedEvent> = (0..N).map(|i| event(Uuid::now_v7(), i)).collect();
    produce_events(&setup.producer(), &setup.topics.enriched, &events).await;
    let mut config = setup.config();
    config.clickhouse.compress = true;
    let sink = RunningSink::start(config).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", N.into())
        .await;
    let last = &events[usize::try_from(N - 1).unwrap()];
    let same = format!(
        "SELECT count() FROM {{db}}.events WHERE event_id = toUUID('{}') AND seq = {} AND props = '{}'",
        Uuid::from_slice(&last.event_id).unwrap(),
        last.seq,
        last.props_json.replace('\\', "\\\\").replace('\'', "\\'"),
    );
    assert_eq!(setup.count(&same).await, 1);
    sink.stop().await;
    setup.drop_database().await;
}
