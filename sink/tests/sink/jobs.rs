//! Profiles follow personalization consent, and retention deletes what
//! expired and nothing else, on the real ClickHouse.

use std::collections::BTreeMap;
use std::time::Duration;

use fiducia_proto::consent::Purpose;
use fiducia_proto::headers;
use fiducia_proto::time::{midnight_days_ago_ms, now_ms};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, EnrichedEvent};
use fiducia_sink::jobs::profile_sweep::sweep;
use fiducia_sink::jobs::retention::{DataType, Periods, RetentionConfig, RetentionJob};
use fiducia_sink::schema::{ServerFeatures, migrate};
use fiducia_sink::tables::dead_letters::DeadLetterRow;
use fiducia_sink::tables::events::EventRow;
use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter};
use prost::Message as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use uuid::Uuid;

use crate::helpers::{RunningSink, Setup, event, insert, produce_events};

fn personal(i: u32, visitor: &str, categories: &[&str]) -> EnrichedEvent {
    EnrichedEvent {
        visitor_id: visitor.into(),
        is_bot: false,
        consent_personalization: true,
        page_categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        ..event(Uuid::now_v7(), i)
    }
}

fn withdrawal(visitor: &str) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    Purpose::Measurement.set_in(&mut state, true);
    Purpose::Personalization.set_in(&mut state, false);
    ConsentRecord {
        record_id: Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: visitor.into(),
        action: ConsentAction::Withdraw.into(),
        state: Some(state),
        source: "tag:api".into(),
        // After the events (yesterday), as a real withdrawal would be.
        client_ts_ms: midnight_days_ago_ms(0),
        server_ts_ms: midnight_days_ago_ms(0),
        ..ConsentRecord::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_hold_consenting_visitors_only_and_a_withdrawal_removes_one() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let mut events = vec![
        personal(1, "alice", &["shoes", "sale"]),
        personal(2, "alice", &["shoes"]),
        personal(3, "bob", &["books"]),
        // No personalization consent: no profile.
        EnrichedEvent {
            visitor_id: "carol".into(),
            is_bot: false,
            page_categories: vec!["shoes".into()],
            ..event(Uuid::now_v7(), 5)
        },
    ];
    events.push(events[0].clone()); // redelivered: counted once
    produce_events(&producer, &setup.topics.enriched, &events).await;
    let sink = RunningSink::start(setup.config()).await;
    // The events may arrive in more than one insert; the materialized view
    // has seen them all once every distinct event is stored.
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", 4)
        .await;
    assert_eq!(setup.count("SELECT count() FROM {db}.profiles").await, 2);
    assert_eq!(
        setup
            .count("SELECT frequency FROM {db}.profiles WHERE visitor_id = 'alice'")
            .await,
        2
    );
    let top: String = setup
        .clickhouse()
        .query_raw(&fiducia_sink::schema::render(
            "SELECT tupleElement(interests[1], 1) FROM {db}.profiles WHERE visitor_id = 'alice'",
            &setup.database,
        ))
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(top, "shoes");

    let payload = withdrawal("alice").encode_to_vec();
    let headers = OwnedHeaders::new().insert(Header {
        key: headers::SCHEMA,
        value: Some(headers::schema::CONSENT_RECORD),
    });
    producer
        .send(
            FutureRecord::to(&setup.topics.consent)
                .key("demo:alice")
                .payload(&payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.profile_events WHERE visitor_id = 'alice'",
            0,
        )
        .await;
    setup
        .wait_for_count("SELECT count() FROM {db}.profiles", 1)
        .await;
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.profiles WHERE visitor_id = 'bob'")
            .await,
        1
    );
    let (_, metrics) = sink.get("/metrics").await;
    assert!(
        metrics.contains("fiducia_sink_profiles_erased_total 1"),
        "{metrics}"
    );

    // An event enriched with consent just before the withdrawal, stored
    // after it: the view does not bring the profile back, the sweep
    // deletes its rows. The start-up retention run (which sweeps too) must
    // be over first, or it may sweep the straggler before it is counted.
    let started = std::time::Instant::now();
    while !sink
        .get("/metrics")
        .await
        .1
        .contains("fiducia_sink_retention_last_success_timestamp_seconds ")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no retention run at start-up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let straggler = personal(6, "alice", &["shoes"]);
    produce_events(&producer, &setup.topics.enriched, &[straggler]).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", 5)
        .await;
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.profile_events WHERE visitor_id = 'alice'")
            .await,
        1
    );
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.profiles WHERE visitor_id = 'alice'")
            .await,
        0
    );
    let client = setup.clickhouse();
    let features = ServerFeatures::probe(&client).await.unwrap();
    assert_eq!(sweep(&client, &setup.database, &features).await.unwrap(), 1);
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.profile_events WHERE visitor_id = 'alice'",
            0,
        )
        .await;
    assert_eq!(sweep(&client, &setup.database, &features).await.unwrap(), 0);
    assert_eq!(setup.count("SELECT count() FROM {db}.profiles").await, 1);
    sink.stop().await;
    setup.drop_database().await;
}

/// Seconds in an average month, close enough to place rows clearly inside
/// or outside a period of whole months.
const MONTH: u32 = 30 * 86_400 + 36_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_expired_rows_and_only_them() {
    let setup = Setup::new().await;
    let config = setup.config();
    let client = setup.clickhouse();
    migrate(&client, &setup.database).await.unwrap();
    // The current second: ClickHouse's TTLs (on servers that have them)
    // delete by its own clock, so the ages below must hold against it too.
    let now = u32::try_from(now_ms() / 1000).unwrap();
    // (site, visitor, age in months, expired?)
    let cases = [
        ("demo", "v", 12, false),
        ("demo", "v", 14, true),
        ("demo", "", 24, false),
        ("demo", "", 26, true),
        ("shop", "v", 2, true), // shop keeps identified events 1 month
        ("shop", "", 2, false),
        ("shop", "", 26, true),
    ];
    let rows: Vec<EventRow> = cases
        .iter()
        .enumerate()
        .map(|(i, (site, visitor, months, _))| {
            let at = i64::from(now - months * MONTH) * 1000;
            let event = EnrichedEvent {
                site_id: (*site).into(),
                visitor_id: (*visitor).into(),
                session_id: String::new(),
                event_time_ms: at,
                received_at_ms: at,
                is_bot: false,
                consent_personalization: !visitor.is_empty(),
                page_categories: vec!["shoes".into()],
                ..event(Uuid::now_v7(), u32::try_from(i).unwrap())
            };
            EventRow::try_from(event).unwrap()
        })
        .collect();
    let writer = ClickHouseWriter::new(
        &config.clickhouse,
        ClickHouseHealth::new(Duration::from_secs(5)),
    );
    insert(&writer, rows).await;
    // Dead letters are kept 30 days: one of 29 days (kept), one of 31.
    let dead_letters = [29, 31].map(|days| DeadLetterRow {
        failed_at: now - days * 86_400,
        failed_ms: 0,
        stage: "enricher".into(),
        reason: "invalid".into(),
        field: String::new(),
        detail: format!("{days} days old"),
        site_id: "demo".into(),
        schema: String::new(),
        event_type: String::new(),
        topic: "fiducia.raw.v1".into(),
        partition: 0,
        offset: days.into(),
        payload_bytes: 10,
    });
    insert(&writer, dead_letters).await;
    // Profile signals: demo 12 (kept), demo 14 (expired), shop 2 (kept: shop
    // keeps profiles 13 months like everyone).
    setup
        .wait_for_count("SELECT count() FROM {db}.profile_events", 3)
        .await;

    let retention = RetentionConfig {
        sites: BTreeMap::from([(
            "shop".to_owned(),
            Periods {
                identified_events_months: 1,
                ..Periods::default()
            },
        )]),
        ..RetentionConfig::default()
    };
    let features = ServerFeatures::probe(&client).await.unwrap();
    let job = RetentionJob::new(client, &setup.database, features, retention);
    let deleted = job.run_once(now).await.unwrap();
    assert_eq!(
        deleted,
        BTreeMap::from([
            (DataType::IdentifiedEvents, 2),
            (DataType::AnonymousEvents, 2),
            (DataType::Profiles, 1),
            (DataType::DeadLetters, 1),
        ])
    );
    setup
        .wait_for_count("SELECT count() FROM {db}.dead_letters WHERE offset = 29", 1)
        .await;
    setup
        .wait_for_count("SELECT count() FROM {db}.dead_letters", 1)
        .await;
    let kept = cases.iter().filter(|c| !c.3).count() as u64;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", kept)
        .await;
    for (site, visitor, months, expired) in cases {
        let at = now - months * MONTH;
        let sql = format!(
            "SELECT count() FROM {{db}}.events WHERE site_id = '{site}' AND visitor_id = '{visitor}' AND event_time = toDateTime({at}, 'UTC')"
        );
        assert_eq!(
            setup.count(&sql).await,
            u64::from(!expired),
            "{site} {visitor:?} {months} months"
        );
    }
    setup
        .wait_for_count("SELECT count() FROM {db}.profile_events", 2)
        .await;
    assert_eq!(
        job.run_once(now).await.unwrap().values().sum::<u64>(),
        0,
        "a second run finds nothing left"
    );
    setup.drop_database().await;
}
