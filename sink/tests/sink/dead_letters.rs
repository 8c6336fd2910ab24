//! Garbage is dead-lettered, and does not block what follows it.

use std::time::Duration;

use fiducia_proto::headers;
use fiducia_proto::v1::{DeadLetter, DeadLetterReason};
use fiducia_runtime::kafka::consume::{self, ConsumerSettings};
use fiducia_testkit::{unique, wait_status};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::Headers as _;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dead_lettered_and_does_not_block_the_rest() {
    let setup = Setup::new().await;
    let producer = setup.producer();
    let (a, b) = (event(Uuid::now_v7(), 1), event(Uuid::now_v7(), 2));
    let garbage = b"\x08\x96\x01 this is not an EnrichedEvent \xff\xff".to_vec();
    // One key, so one partition: the garbage sits between the good ones.
    produce(
        &producer,
        &setup.topics.enriched,
        "demo:v1",
        &a.encode_to_vec(),
        None,
    )
    .await;
    let (partition, offset) =
        produce(&producer, &setup.topics.enriched, "demo:v1", &garbage, None).await;
    produce(
        &producer,
        &setup.topics.enriched,
        "demo:v1",
        &b.encode_to_vec(),
        None,
    )
    .await;

    let sink = RunningSink::start(setup.config()).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events FINAL", 2)
        .await;

    let reader = consume::consumer(
        &ConsumerSettings {
            brokers: setup.infra.brokers.clone(),
            group_id: unique("dl-reader"),
            topic: setup.topics.deadletter.clone(),
            batch_max_messages: 1,
            batch_max_bytes: 1 << 20,
            batch_max_wait: Duration::from_millis(100),
            session_timeout: Duration::from_secs(10),
            partitions: 1,
            rejoin_when_unassigned: None,
            read_ahead: false,
        },
        "sink-test-dl",
    )
    .unwrap();
    let message = tokio::time::timeout(WAIT, reader.recv())
        .await
        .expect("a dead letter within the wait")
        .unwrap();
    let letter = DeadLetter::decode(message.payload().unwrap()).unwrap();
    assert_eq!(letter.reason(), DeadLetterReason::Undecodable);
    assert_eq!(letter.stage, "sink");
    assert_eq!(
        (letter.topic.as_str(), letter.partition, letter.offset),
        (setup.topics.enriched.as_str(), partition, offset)
    );
    assert_eq!(letter.payload, garbage);
    assert_eq!(letter.key, b"demo:v1");
    let header = |name: &str| {
        message.headers().and_then(|h| {
            h.iter()
                .find(|x| x.key == name)
                .and_then(|x| x.value.map(<[u8]>::to_vec))
        })
    };
    assert_eq!(
        header(headers::SCHEMA).as_deref(),
        Some(headers::schema::DEAD_LETTER.as_bytes())
    );
    assert_eq!(header(headers::SITE).as_deref(), Some(&b"demo"[..]));

    let (_, metrics) = sink.get("/metrics").await;
    assert!(
        metrics.contains(r#"fiducia_sink_dead_letters_total{table="events",reason="undecodable"}"#),
        "{metrics}"
    );
    // The sink also stores the dead letter for analysts, without its payload.
    setup
        .wait_for_count(
            &format!(
                "SELECT count() FROM {{db}}.dead_letters WHERE stage = 'sink' AND reason = 'undecodable' \
                 AND site_id = 'demo' AND partition = {partition} AND offset = {offset} \
                 AND payload_bytes = {}",
                garbage.len()
            ),
            1,
        )
        .await;
    let readyz = format!("http://{}/readyz", sink.admin);
    wait_status(&readyz, 200, WAIT).await;
    assert_eq!(sink.get("/healthz").await.0, 200);
    sink.stop().await;
    setup.drop_database().await;
}
