//! Erasure on the real broker and ClickHouse 18.16: the privacy-request
//! workflow's rows tell the story (received, enforced, deleted, verified,
//! with rows per table), nothing of the erased subject is left in any
//! table or view and everyone else is untouched, consent records stay as
//! pseudonymised proof, events still in Kafka never reach ClickHouse, a
//! `kill -9` mid-erasure does not stop it, and a request by user key
//! erases every visitor that carried the user id.

use std::collections::HashMap;
use std::time::Duration;

use fiducia_proto::consent::Purpose;
use fiducia_proto::headers;
use fiducia_proto::privacy::{channel, user_key, user_partition_key};
use fiducia_proto::time::{midnight_days_ago_ms, now_ms};
use fiducia_proto::v1::{
    ConsentAction, ConsentRecord, ConsentSnapshot, EnrichedEvent, IpPrefix, PrivacyRequest,
    PrivacyRequestKind,
};
use fiducia_runtime::service::config::topic_vars;
use fiducia_sink::deny::pseudonym;
use fiducia_testkit::Service;
use fiducia_testkit::{eventually, free_port};
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use uuid::Uuid;

use crate::helpers::{
    PARTITIONS, RunningSink, Setup, WAIT, event, produce_events, routing_headers,
};

/// Events of `visitor` (personalization consent, so profile signals too).
pub(crate) fn events_of(visitor: &str, user: &str, count: u32) -> Vec<EnrichedEvent> {
    (0..count)
        .map(|i| EnrichedEvent {
            visitor_id: visitor.into(),
            user_id: user.into(),
            session_id: format!("s-{visitor}"),
            is_bot: false,
            consent_personalization: true,
            page_categories: vec!["shoes".into()],
            ..event(Uuid::now_v7(), i)
        })
        .collect()
}

pub(crate) fn consent(
    visitor: &str,
    action: ConsentAction,
    retention_months: u32,
    at_ms: i64,
) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    Purpose::Measurement.set_in(&mut state, true);
    Purpose::Personalization.set_in(&mut state, action != ConsentAction::Erase);
    ConsentRecord {
        record_id: Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: visitor.into(),
        action: action.into(),
        state: Some(state),
        source: "tag:api".into(),
        client_ts_ms: at_ms,
        server_ts_ms: at_ms,
        ip: Some(IpPrefix {
            network: vec![203, 0, 113, 0],
            prefix_len: 24,
        }),
        browser_family: "Firefox".into(),
        retention_months,
        ..ConsentRecord::default()
    }
}

async fn send(producer: &FutureProducer, topic: &str, key: &str, schema: &str, payload: &[u8]) {
    let headers = routing_headers(schema);
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(payload)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}

pub(crate) async fn send_consent(setup: &Setup, producer: &FutureProducer, record: &ConsentRecord) {
    let key = format!("demo/{}", record.subject);
    send(
        producer,
        &setup.topics.consent,
        &key,
        headers::schema::CONSENT_RECORD,
        &record.encode_to_vec(),
    )
    .await;
}

/// Publishes an erasure of `visitor` (or of `user_key`) as the collector does.
pub(crate) async fn erase(
    setup: &Setup,
    producer: &FutureProducer,
    visitor: &str,
    user_key: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    let request = PrivacyRequest {
        request_id: id.as_bytes().to_vec(),
        site_id: "demo".into(),
        subject: visitor.into(),
        user_key: user_key.into(),
        kind: PrivacyRequestKind::Erasure.into(),
        requested_at_ms: now_ms(),
        channel: if user_key.is_empty() {
            channel::CENTER
        } else {
            channel::ADMIN
        }
        .into(),
    };
    let key = if user_key.is_empty() {
        format!("demo/{visitor}")
    } else {
        user_partition_key("demo", user_key)
    };
    send(
        producer,
        &setup.topics.privacy,
        &key,
        headers::schema::PRIVACY_REQUEST,
        &request.encode_to_vec(),
    )
    .await;
    id
}

/// The request's states, in the order they were reached.
async fn states(setup: &Setup, id: Uuid) -> Vec<String> {
    setup
        .clickhouse()
        .query_raw(&fiducia_sink::schema::render(
            &format!(
                "SELECT status FROM {{db}}.privacy_requests FINAL WHERE request_id = toUUID('{id}') \
                 ORDER BY updated_at, updated_ms"
            ),
            &setup.database,
        ))
        .fetch_all()
        .await
        .unwrap_or_default()
}

pub(crate) async fn wait_verified(setup: &Setup, id: Uuid) {
    eventually("the erasure is verified", WAIT * 3, || async {
        let states = states(setup, id).await;
        if states.iter().any(|s| s == "verified") {
            Ok(())
        } else {
            Err(format!("states {states:?}"))
        }
    })
    .await;
}

/// `(tables, rows)` of the request's row in `status`.
async fn counts(setup: &Setup, id: Uuid, status: &str) -> HashMap<String, u64> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Counts {
        tables: Vec<String>,
        rows: Vec<u64>,
    }
    let rows: Vec<Counts> = setup
        .clickhouse()
        .query_raw(&fiducia_sink::schema::render(
            &format!(
                "SELECT tables, rows FROM {{db}}.privacy_requests FINAL \
                 WHERE request_id = toUUID('{id}') AND status = '{status}'"
            ),
            &setup.database,
        ))
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one {status} row");
    let Counts { tables, rows } = rows.into_iter().next().unwrap();
    tables.into_iter().zip(rows).collect()
}

/// The value of `series` (name and labels) in a `/metrics` text; 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Rows of `visitor` in every table and view that can hold a visitor.
async fn rows_of(setup: &Setup, visitor: &str) -> u64 {
    let mut total = 0;
    for (table, column) in [
        ("events", "visitor_id"),
        ("sessions", "visitor_id"),
        ("profile_events", "visitor_id"),
        ("profiles", "visitor_id"),
        ("consent_log", "subject"),
    ] {
        total += setup
            .count(&format!(
                "SELECT count() FROM {{db}}.{table} WHERE {column} = '{visitor}'"
            ))
            .await;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_visitor_is_gone_from_every_table_and_the_requests_rows_tell_the_story() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let sink = RunningSink::start(setup.config()).await;
    let yesterday = midnight_days_ago_ms(1);
    for visitor in ["alice", "bob"] {
        send_consent(
            &setup,
            &producer,
            &consent(visitor, ConsentAction::Grant, 0, yesterday),
        )
        .await;
        send_consent(
            &setup,
            &producer,
            &consent(visitor, ConsentAction::Update, 6, yesterday + 1),
        )
        .await;
    }
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("alice", "", 30),
    )
    .await;
    produce_events(&producer, &setup.topics.enriched, &events_of("bob", "", 20)).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 50)
        .await;
    setup
        .wait_for_count("SELECT count() FROM {db}.consent_log", 4)
        .await;
    let bob_before = rows_of(&setup, "bob").await;

    let id = erase(&setup, &producer, "alice", "").await;
    wait_verified(&setup, id).await;
    // The collector's erase record follows on the consent topic (here after
    // the verification, so that the profile erasure it triggers does not
    // race the counts below).
    send_consent(
        &setup,
        &producer,
        &consent("alice", ConsentAction::Erase, 0, now_ms()),
    )
    .await;

    assert_eq!(
        states(&setup, id).await,
        ["received", "enforced", "deleted", "verified"]
    );
    let enforced = counts(&setup, id, "enforced").await;
    assert_eq!(enforced["events"], 30, "{enforced:?}");
    assert_eq!(enforced["profile_events"], 30, "{enforced:?}");
    assert_eq!(enforced["consent_log"], 2, "the grant and the update");
    assert_eq!(counts(&setup, id, "deleted").await, enforced);
    assert_eq!(rows_of(&setup, "alice").await, 0);
    assert_eq!(rows_of(&setup, "bob").await, bob_before, "bob untouched");

    // Proof of consent kept, under a pseudonym, without network or browser;
    // the erase record stored after the erasure too.
    let alias = pseudonym("demo", "alice");
    setup
        .wait_for_count(
            &format!(
                "SELECT count() FROM {{db}}.consent_log FINAL WHERE subject = '{alias}' \
                 AND ip_prefix = '' AND browser_family = ''"
            ),
            3,
        )
        .await;
    assert_eq!(
        setup
            .count(&format!(
                "SELECT count() FROM {{db}}.consent_log FINAL WHERE subject = '{alias}' AND action = 'erase'"
            ))
            .await,
        1
    );
    // Late events of alice (enriched before the enricher knew) are dropped.
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("alice", "", 5),
    )
    .await;
    produce_events(&producer, &setup.topics.enriched, &events_of("bob", "", 1)).await;
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.events WHERE visitor_id = 'bob'",
            21,
        )
        .await;
    assert_eq!(rows_of(&setup, "alice").await, 0);
    // Tests share the process's recorder: at least this test's share.
    let (_, metrics) = sink.get("/metrics").await;
    for (series, least) in [
        ("fiducia_sink_events_erased_total", 5.0),
        (
            r#"fiducia_sink_privacy_requests_total{kind="erasure",state="verified"}"#,
            1.0,
        ),
        (
            r#"fiducia_sink_erasure_rows_deleted_total{table="events"}"#,
            30.0,
        ),
        (
            r#"fiducia_sink_privacy_request_state_seconds_count{kind="erasure",state="verified"}"#,
            1.0,
        ),
    ] {
        assert!(metric(&metrics, series) >= least, "{series} in\n{metrics}");
    }

    // A redelivered request changes nothing.
    let before = setup
        .count("SELECT count() FROM {db}.privacy_requests")
        .await;
    let again = PrivacyRequest {
        request_id: id.as_bytes().to_vec(),
        site_id: "demo".into(),
        subject: "alice".into(),
        kind: PrivacyRequestKind::Erasure.into(),
        requested_at_ms: now_ms(),
        ..PrivacyRequest::default()
    };
    send(
        &producer,
        &setup.topics.privacy,
        "demo/alice",
        headers::schema::PRIVACY_REQUEST,
        &again.encode_to_vec(),
    )
    .await;
    // An access request after it: recorded as completed, and a sign the
    // redelivery before it was handled.
    let access = Uuid::now_v7();
    let access_request = PrivacyRequest {
        request_id: access.as_bytes().to_vec(),
        kind: PrivacyRequestKind::Access.into(),
        ..again
    };
    send(
        &producer,
        &setup.topics.privacy,
        "demo/alice",
        headers::schema::PRIVACY_REQUEST,
        &access_request.encode_to_vec(),
    )
    .await;
    eventually("the access request is recorded", WAIT, || async {
        match states(&setup, access).await.as_slice() {
            [state] if state == "completed" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.privacy_requests")
            .await,
        before + 1,
        "the redelivered erasure wrote no row"
    );

    // Another sink's insert that checked its batch before its deny-list had
    // alice, ending after the verification: the sweep erases it.
    let straggler = events_of("alice", "", 1).remove(0);
    assert_eq!(
        sweep_after(&setup, straggler).await,
        [("profile_events", 1), ("consent_log", 0), ("events", 1)]
    );
    assert_eq!(rows_of(&setup, "alice").await, 0);
    sink.stop().await;
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_a_subject_erased_while_the_sink_was_down_never_reach_clickhouse() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("alice", "", 40),
    )
    .await;
    produce_events(&producer, &setup.topics.enriched, &events_of("bob", "", 10)).await;
    let id = erase(&setup, &producer, "alice", "").await;
    let sink = RunningSink::start(setup.config()).await;
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.events WHERE visitor_id = 'bob'",
            10,
        )
        .await;
    wait_verified(&setup, id).await;
    assert_eq!(rows_of(&setup, "alice").await, 0);
    // Nothing was there to delete: none of alice's events was ever inserted.
    let enforced = counts(&setup, id, "enforced").await;
    assert_eq!(enforced["events"], 0, "{enforced:?}");
    assert_eq!(enforced["profile_events"], 0, "{enforced:?}");
    let (_, metrics) = sink.get("/metrics").await;
    assert!(
        metric(&metrics, "fiducia_sink_events_erased_total") >= 40.0,
        "{metrics}"
    );
    sink.stop().await;
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_by_user_key_removes_every_visitor_that_carried_the_user_id() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let sink = RunningSink::start(setup.config()).await;
    let mut events = events_of("carl", "u-42", 5);
    events.extend(events_of("carl", "", 5)); // before identify
    events.extend(events_of("dan", "u-42", 4)); // another device
    events.extend(events_of("bob", "u-7", 6));
    produce_events(&producer, &setup.topics.enriched, &events).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 20)
        .await;
    let key = user_key("demo", "u-42");
    let id = erase(&setup, &producer, "", &key).await;
    wait_verified(&setup, id).await;
    assert_eq!(rows_of(&setup, "carl").await, 0);
    assert_eq!(rows_of(&setup, "dan").await, 0);
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.events WHERE user_id = 'u-42'")
            .await,
        0
    );
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.events WHERE visitor_id = 'bob'")
            .await,
        6
    );
    let enforced = counts(&setup, id, "enforced").await;
    assert_eq!(enforced["events"], 14, "{enforced:?}");
    let detail: String = setup
        .clickhouse()
        .query_raw(&fiducia_sink::schema::render(
            &format!("SELECT detail FROM {{db}}.privacy_requests FINAL WHERE request_id = toUUID('{id}') AND status = 'enforced'"),
            &setup.database,
        ))
        .fetch_one()
        .await
        .unwrap();
    assert!(detail.ends_with(": 2"), "{detail}");
    // New events carrying the user id, under a new visitor id, are dropped.
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("erin", "u-42", 3),
    )
    .await;
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("bob", "u-7", 1),
    )
    .await;
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.events WHERE visitor_id = 'bob'",
            7,
        )
        .await;
    assert_eq!(rows_of(&setup, "erin").await, 0);
    let straggler = events_of("fay", "u-42", 1).remove(0);
    assert_eq!(sweep_after(&setup, straggler).await[2], ("events", 1));
    assert_eq!(rows_of(&setup, "fay").await, 0);
    sink.stop().await;
    setup.drop_database().await;
}

/// Inserts `straggler` behind the deny filter's back (as another sink
/// would), runs the erasure sweep and waits until its deletes are done;
/// returns what the sweep found.
async fn sweep_after(setup: &Setup, straggler: EnrichedEvent) -> Vec<(&'static str, u64)> {
    use fiducia_sink::jobs::privacy::{statements::Statements, sweep::sweep};
    use fiducia_sink::schema::ServerFeatures;
    use fiducia_sink::tables::events::EventRow;
    use fiducia_sink::writer::RowWriter as _;
    use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter};

    let config = setup.config();
    let writer = ClickHouseWriter::new(&config.clickhouse, ClickHouseHealth::new(WAIT));
    let visitor = straggler.visitor_id.clone();
    let rows = ClickHouseWriter::prepare(std::iter::once(EventRow::try_from(straggler).unwrap()));
    writer.write(&rows, "straggler").await.unwrap();
    let client = setup.clickhouse();
    let features = ServerFeatures::probe(&client).await.unwrap();
    let found = sweep(&Statements::new(client, &setup.database, features))
        .await
        .unwrap();
    setup
        .wait_for_count(
            &format!("SELECT count() FROM {{db}}.events WHERE visitor_id = '{visitor}'"),
            0,
        )
        .await;
    setup
        .wait_for_count(
            &format!("SELECT count() FROM {{db}}.profile_events WHERE visitor_id = '{visitor}'"),
            0,
        )
        .await;
    found
}

/// The sink binary's environment for `setup`.
fn env(setup: &Setup, admin_port: u16) -> HashMap<String, String> {
    let config = setup.config();
    let sites = std::env::temp_dir().join(format!("{}-sites.toml", config.group_id));
    std::fs::write(&sites, "[sites.demo.collect]\nallowed_origins = []\n").unwrap();
    [
        ("FIDUCIA_KAFKA_BROKERS", setup.infra.brokers.clone()),
        ("FIDUCIA_KAFKA_CREATE_TOPICS", "false".into()),
        ("FIDUCIA_KAFKA_PARTITIONS", PARTITIONS.to_string()),
        ("FIDUCIA_KAFKA_SESSION_TIMEOUT_MS", "6000".into()),
        ("FIDUCIA_KAFKA_REJOIN_UNASSIGNED_MS", "15000".into()),
        ("FIDUCIA_SINK_GROUP_ID", config.group_id.clone()),
        ("FIDUCIA_SINK_ADMIN_ADDR", format!("127.0.0.1:{admin_port}")),
        ("FIDUCIA_SINK_BATCH_MAX_WAIT_MS", "100".into()),
        ("FIDUCIA_CLICKHOUSE_URL", setup.infra.clickhouse_url.clone()),
        ("FIDUCIA_CLICKHOUSE_DATABASE", setup.database.clone()),
        ("FIDUCIA_SITES_FILE", sites.display().to_string()),
    ]
    .into_iter()
    .chain(topic_vars(&setup.topics))
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_killed_mid_erasure_completes_it_after_the_restart() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let mut sink = Service::start(
        env!("CARGO_BIN_EXE_fiducia-sink"),
        &env(&setup, free_port()),
    );
    produce_events(
        &producer,
        &setup.topics.enriched,
        &events_of("alice", "", 500),
    )
    .await;
    produce_events(&producer, &setup.topics.enriched, &events_of("bob", "", 50)).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 550)
        .await;
    // Mutations run in the merge pool: with merges stopped on `events` its
    // delete cannot finish, so the sink is killed with the erasure between
    // `deleted` and `verified`.
    let merges = |verb: &str| {
        let sql = format!("SYSTEM {verb} MERGES {{db}}.events");
        let client = setup.clickhouse();
        let database = setup.database.clone();
        async move {
            client
                .query_raw(&fiducia_sink::schema::render(&sql, &database))
                .execute()
                .await
                .unwrap();
        }
    };
    merges("STOP").await;
    let id = erase(&setup, &producer, "alice", "").await;
    eventually("the erasure waits for its deletes", WAIT, || async {
        let states = states(&setup, id).await;
        if states.iter().any(|s| s == "deleted") {
            Ok(())
        } else {
            Err(format!("states {states:?}"))
        }
    })
    .await;
    sink.kill_9();
    assert_eq!(
        states(&setup, id).await,
        ["received", "enforced", "deleted"]
    );
    merges("START").await;
    sink.restart();
    wait_verified(&setup, id).await;
    assert_eq!(rows_of(&setup, "alice").await, 0);
    // Events redelivered after the kill (offsets not yet committed): bob's
    // collapse, alice's are dropped.
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.events FINAL WHERE visitor_id = 'bob'")
            .await,
        50
    );
    let all = states(&setup, id).await;
    assert_eq!(
        all,
        ["received", "enforced", "deleted", "verified"],
        "one row per state"
    );
    assert_eq!(counts(&setup, id, "deleted").await["events"], 500);
    sink.terminate();
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_choice_deletes_older_identified_data_of_that_visitor_only() {
    use fiducia_sink::jobs::retention::{RetentionConfig, RetentionJob};
    use fiducia_sink::schema::ServerFeatures;

    let setup = Setup::new().await;
    let producer = setup.producer();
    let sink = RunningSink::start(setup.config()).await;
    let now = now_ms();
    let day = 86_400_000;
    let at = |visitor: &str, user: &str, days: i64| EnrichedEvent {
        event_time_ms: now - days * day,
        received_at_ms: now - days * day,
        ..events_of(visitor, user, 1).remove(0)
    };
    let events = [
        at("alice", "", 70), // older than her 1 month: deleted
        at("alice", "", 10), // kept
        at("bob", "", 70),   // bob chose nothing: kept
        at("carol", "", 70), // carol chose 1 month, then went back to the default: kept
        at("", "", 70),      // anonymous: kept
    ];
    produce_events(&producer, &setup.topics.enriched, &events).await;
    // Alice chose 1 month (her latest record carries it); carol chose it and
    // changed her mind.
    send_consent(
        &setup,
        &producer,
        &consent("alice", ConsentAction::Grant, 0, now - 3 * day),
    )
    .await;
    send_consent(
        &setup,
        &producer,
        &consent("alice", ConsentAction::Update, 1, now - 2 * day),
    )
    .await;
    send_consent(
        &setup,
        &producer,
        &consent("alice", ConsentAction::Update, 1, now - day),
    )
    .await;
    send_consent(
        &setup,
        &producer,
        &consent("carol", ConsentAction::Update, 1, now - 2 * day),
    )
    .await;
    send_consent(
        &setup,
        &producer,
        &consent("carol", ConsentAction::Update, 0, now - day),
    )
    .await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 5)
        .await;
    setup
        .wait_for_count("SELECT count() FROM {db}.consent_log", 5)
        .await;
    assert_eq!(
        setup
            .count("SELECT sum(retention_months) FROM {db}.consent_log")
            .await,
        3
    );
    let client = setup.clickhouse();
    let features = ServerFeatures::probe(&client).await.unwrap();
    let job = RetentionJob::new(
        client,
        &setup.database,
        features,
        RetentionConfig::default(),
    );
    let seconds = u32::try_from(now / 1000).unwrap();
    let deleted = job.run_once(seconds).await.unwrap();
    assert_eq!(
        deleted.values().sum::<u64>(),
        2,
        "{deleted:?}: alice's old event and its profile signal"
    );
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 4)
        .await;
    setup
        .wait_for_count(
            "SELECT count() FROM {db}.profile_events WHERE visitor_id = 'alice'",
            1,
        )
        .await;
    for (visitor, want) in [("alice", 1), ("bob", 1), ("carol", 1), ("", 1)] {
        assert_eq!(
            setup
                .count(&format!(
                    "SELECT count() FROM {{db}}.events WHERE visitor_id = '{visitor}'"
                ))
                .await,
            want,
            "{visitor:?}"
        );
    }
    sink.stop().await;
    setup.drop_database().await;
}

/// The issue's target (`benches/README.md`, Erasure): a subject with 10,000
/// events among `FIDUCIA_BENCH_ROWS` (default 5,000,000) rows, seeded with
/// `INSERT ... SELECT` from `numbers()`, then erased through the privacy
/// topic; prints the time from the request to each state. Run with
/// `cargo test --release -p fiducia-sink --test sink -- --ignored --nocapture erasure_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: minutes of seeding ClickHouse"]
async fn erasure_time_for_10_000_events_among_millions() {
    let rows: u64 = std::env::var("FIDUCIA_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let setup = Setup::new().await;
    let client = setup.clickhouse();
    fiducia_sink::schema::migrate(&client, &setup.database)
        .await
        .unwrap();
    let seed = |sql: String| {
        let client = client.clone();
        let sql = fiducia_sink::schema::render(&sql, &setup.database);
        async move { client.query_raw(&sql).execute().await.unwrap() }
    };
    let started = std::time::Instant::now();
    // Events over the last 12 months, 200,000 visitors; every fourth with
    // personalization consent (profile signals); the subject, `target`, has
    // 10,000 of them, spread like the rest.
    let insert = |visitor: &str, count: u64| {
        format!(
            "INSERT INTO {{db}}.events (event_id, site_id, event_type, event_time, received_at, visitor_id, \
             session_id, url, path, consent_measurement, consent_personalization, decision, page_categories) \
             SELECT generateUUIDv4(), 'demo', 'page_view', \
             toDateTime(toUInt32(now()) - number % 31536000, 'UTC'), toDateTime(toUInt32(now()) - number % 31536000, 'UTC'), \
             {visitor}, concat('s', toString(number % 1000000)), concat('https://shop.example/p/', toString(number % 5000)), \
             concat('/p/', toString(number % 5000)), 1, toUInt8(number % 4 = 0), 'keep', ['shoes'] \
             FROM numbers({count})"
        )
    };
    seed(insert(
        "concat('v', toString(number % 200000))",
        rows - 10_000,
    ))
    .await;
    seed(insert("'target'", 10_000)).await;
    let seeded = started.elapsed();
    let total = setup.count("SELECT count() FROM {db}.events").await;
    assert_eq!(total, rows);
    let config = setup.config();
    let sink = RunningSink::start(config).await;
    let producer = setup.producer();
    let id = erase(&setup, &producer, "target", "").await;
    wait_verified(&setup, id).await;
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Reached {
        status: String,
        seconds: f64,
    }
    let reached: Vec<Reached> = client
        .query_raw(&fiducia_sink::schema::render(
            &format!(
                "SELECT status, ((updated_at - requested_at) * 1000 + toInt64(updated_ms) - toInt64(requested_ms)) / 1000 AS seconds \
                 FROM {{db}}.privacy_requests FINAL WHERE request_id = toUUID('{id}') ORDER BY seconds"
            ),
            &setup.database,
        ))
        .fetch_all()
        .await
        .unwrap();
    let profile_rows = setup.count("SELECT count() FROM {db}.profile_events").await;
    println!("seeded {rows} events ({profile_rows} profile signals) in {seeded:.1?}");
    for Reached { status, seconds } in &reached {
        println!("{status}: {seconds:.3} s after the request");
    }
    assert_eq!(rows_of(&setup, "target").await, 0);
    sink.stop().await;
    setup.drop_database().await;
}
