//! Item lists on the real ClickHouse and broker: k distinct consenting
//! visitors or nothing, each visitor counted once, withdrawn and erased
//! visitors never counted, tombstones for lists that are gone (also from a
//! restarted sink), popular items per category, and the running sink
//! publishing them on its own.

use std::collections::BTreeMap;
use std::time::Duration;

use fiducia_proto::privacy::user_key;
use fiducia_proto::time::now_ms;
use fiducia_proto::v1::{EnrichedEvent, ItemList};
use fiducia_runtime::kafka::ProducerSettings;
use fiducia_runtime::kafka::admin::ensure_compacted_topics;
use fiducia_runtime::kafka::health::BrokerHealth;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::service::sites::personalization::Personalization;
use fiducia_sink::jobs::items::topic::ItemListTopic;
use fiducia_sink::jobs::items::{ItemListsConfig, ItemListsJob, Refreshed};
use fiducia_sink::schema::{migrate, render};
use fiducia_sink::tables::events::EventRow;
use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter};
use fiducia_testkit::read_topic;
use prost::Message as _;
use uuid::Uuid;

use crate::helpers::{PARTITIONS, RunningSink, Setup, WAIT, event, insert, produce_events};

/// A view of `item` by `visitor` with personalization consent, `days_ago`
/// days before now, on a page of `categories`.
fn view(visitor: &str, item: &str, categories: &[&str], days_ago: i64) -> EnrichedEvent {
    let at = now_ms() - days_ago * 86_400_000 - 60_000;
    EnrichedEvent {
        visitor_id: visitor.into(),
        item_id: item.into(),
        is_bot: false,
        consent_personalization: true,
        event_type: "page_view".into(),
        event_time_ms: at,
        received_at_ms: at,
        page_categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        ..event(Uuid::now_v7(), 1)
    }
}

/// Views of every item in `items` by every visitor in `visitors`, today.
fn views(visitors: &[&str], items: &[&str]) -> Vec<EnrichedEvent> {
    visitors
        .iter()
        .flat_map(|v| items.iter().map(move |i| view(v, i, &[], 0)))
        .collect()
}

/// The test's database migrated, its items topic, and a writer into it.
struct Items {
    setup: Setup,
    writer: ClickHouseWriter,
}

impl Items {
    async fn new() -> Self {
        let setup = Setup::new().await;
        migrate(&setup.clickhouse(), &setup.database).await.unwrap();
        ensure_compacted_topics(&setup.infra.brokers, &[&setup.topics.items], PARTITIONS)
            .await
            .unwrap();
        let writer = ClickHouseWriter::new(
            &setup.config().clickhouse,
            ClickHouseHealth::new(Duration::from_secs(5)),
        );
        Self { setup, writer }
    }

    /// A job as a freshly started sink has it: site `demo` with `k`.
    fn job(&self, k: u32) -> ItemListsJob {
        self.job_on(&self.setup.database, &self.setup.topics.items, k)
    }

    /// A job reading `database` and writing `topic`.
    fn job_on(&self, database: &str, topic: &str, k: u32) -> ItemListsJob {
        let brokers = &self.setup.infra.brokers;
        let producer = ResilientProducer::new(
            brokers,
            "items-test",
            ProducerSettings::default(),
            BrokerHealth::default(),
            &fiducia_sink::metrics::PRODUCER,
        )
        .unwrap();
        ItemListsJob::new(
            self.setup.clickhouse(),
            database,
            sites(k),
            ItemListTopic::new(brokers, topic, producer),
        )
    }

    async fn store(&self, events: Vec<EnrichedEvent>) {
        let expected =
            self.setup.count("SELECT count() FROM {db}.events").await + events.len() as u64;
        insert(
            &self.writer,
            events.into_iter().map(|e| EventRow::try_from(e).unwrap()),
        )
        .await;
        self.setup
            .wait_for_count("SELECT count() FROM {db}.events", expected)
            .await;
    }

    async fn sql(&self, sql: &str) {
        self.setup
            .clickhouse()
            .query_raw(&render(sql, &self.setup.database))
            .execute()
            .await
            .unwrap();
    }

    /// What the topic holds per key once `done` holds for it (or after
    /// the wait): the latest list, `None` for a tombstone.
    async fn topic(
        &self,
        done: impl Fn(&BTreeMap<String, Option<ItemList>>) -> bool,
    ) -> BTreeMap<String, Option<ItemList>> {
        let fold = |messages: &[rdkafka::message::OwnedMessage]| {
            use rdkafka::Message as _;
            let mut lists = BTreeMap::new();
            for message in messages {
                let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
                let list = message
                    .payload()
                    .filter(|p| !p.is_empty())
                    .map(|p| ItemList::decode(p).unwrap());
                lists.insert(key, list);
            }
            lists
        };
        let messages = read_topic(
            &self.setup.infra.brokers,
            &self.setup.topics.items,
            WAIT,
            |messages| done(&fold(messages)),
        )
        .await;
        let lists = fold(&messages);
        assert!(done(&lists), "{lists:#?}");
        lists
    }
}

fn sites(k: u32) -> ItemListsConfig {
    ItemListsConfig {
        interval: Duration::from_secs(1),
        sites: BTreeMap::from([(
            "demo".to_owned(),
            Personalization {
                min_visitors: k,
                ..Personalization::default()
            },
        )]),
    }
}

/// The items of a list with their counts.
fn counts(list: &ItemList) -> Vec<(&str, u32)> {
    list.items
        .iter()
        .map(|c| (c.item.as_str(), c.visitors))
        .collect()
}

fn count(refreshed: &BTreeMap<&'static str, usize>, kind: &str) -> usize {
    refreshed.get(kind).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_seen_by_k_minus_one_visitors_never_appears_and_one_seen_by_k_does() {
    let items = Items::new().await;
    let mut job = items.job(3);
    // Two visitors share the pair, one of them many times: still two.
    let mut events = views(&["v1", "v2"], &["shoe-a", "shoe-b"]);
    for _ in 0..5 {
        events.extend(views(&["v1"], &["shoe-a", "shoe-b"]));
    }
    items.store(events).await;
    let computed = job.compute(now_ms()).await.unwrap();
    assert!(
        computed.keys().all(|key| !key.starts_with("demo/related/")),
        "{computed:#?}"
    );
    assert_eq!(
        job.refresh(now_ms())
            .await
            .unwrap()
            .published
            .get("related"),
        None
    );

    items.store(views(&["v3"], &["shoe-a", "shoe-b"])).await;
    let refreshed = job.refresh(now_ms()).await.unwrap();
    assert_eq!(count(&refreshed.published, "related"), 2, "{refreshed:?}");
    let lists = items
        .topic(|lists| {
            ["shoe-a", "shoe-b"]
                .iter()
                .all(|i| lists.contains_key(&format!("demo/related/{i}")))
                && lists.contains_key("demo/popular/")
        })
        .await;
    let a = lists["demo/related/shoe-a"].as_ref().unwrap();
    assert_eq!(counts(a), [("shoe-b", 3)]);
    assert_eq!(
        (a.site_id.as_str(), a.subject.as_str(), a.min_visitors),
        ("demo", "shoe-a", 3)
    );
    assert_eq!(
        counts(lists["demo/related/shoe-b"].as_ref().unwrap()),
        [("shoe-a", 3)]
    );
    assert_eq!(
        counts(lists["demo/popular/"].as_ref().unwrap()),
        [("shoe-a", 3), ("shoe-b", 3)]
    );
    // Nothing changed: nothing is published again.
    assert_eq!(
        job.refresh(now_ms()).await.unwrap().published,
        BTreeMap::new()
    );
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_counts_once_however_often_they_viewed_a_pair() {
    let items = Items::new().await;
    let mut events = Vec::new();
    for _ in 0..20 {
        events.extend(views(&["v1"], &["x", "y", "z"]));
    }
    events.extend(views(&["v2"], &["x", "y"]));
    items.store(events).await;
    let computed = items.job(2).compute(now_ms()).await.unwrap();
    assert_eq!(counts(&computed["demo/related/x"]), [("y", 2)]);
    assert_eq!(counts(&computed["demo/related/y"]), [("x", 2)]);
    assert!(
        !computed.contains_key("demo/related/z"),
        "z is shared by one visitor"
    );
    assert_eq!(counts(&computed["demo/popular/"]), [("x", 2), ("y", 2)]);
    // The same counts with k = 1 would list z: the threshold, not the data, hides it.
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_and_erased_visitors_are_not_counted() {
    let items = Items::new().await;
    let visitors = ["v1", "v2", "v3", "v4", "v5"];
    let mut events = views(&visitors, &["a", "b"]);
    // v3 is also a known user, erased later by user id.
    events.push(EnrichedEvent {
        user_id: "u3".into(),
        ..view("v3", "", &[], 0)
    });
    items.store(events).await;
    let job = items.job(2);
    assert_eq!(
        counts(&job.compute(now_ms()).await.unwrap()["demo/related/a"]),
        [("b", 5)]
    );

    // v1 withdraws personalization; v2 is erased by visitor id, v3 by user
    // id. Their rows are still there (nothing deleted them in this test).
    items
        .sql(
            "INSERT INTO {db}.consent_log (record_id, site_id, subject, action, measurement, personalization, server_time, server_ms) \
             SELECT generateUUIDv4(), 'demo', 'v1', 'withdraw', 1, 0, now(), 0",
        )
        .await;
    items
        .sql(&format!(
            "INSERT INTO {{db}}.privacy_requests (request_id, site_id, subject, user_key, kind, channel, status, requested_at, updated_at) \
             SELECT generateUUIDv4(), 'demo', 'v2', '', 'erasure', 'center', 'received', now(), now() \
             UNION ALL SELECT generateUUIDv4(), 'demo', '', '{}', 'erasure', 'admin', 'enforced', now(), now()",
            user_key("demo", "u3")
        ))
        .await;
    assert_eq!(
        items
            .setup
            .count("SELECT count() FROM {db}.profile_events WHERE visitor_id IN ('v1', 'v2', 'v3') AND item_id != ''")
            .await,
        6
    );
    let computed = job.compute(now_ms()).await.unwrap();
    assert_eq!(counts(&computed["demo/related/a"]), [("b", 2)]);
    assert_eq!(counts(&computed["demo/popular/"]), [("a", 2), ("b", 2)]);
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_drops_below_k_is_tombstoned_also_by_a_restarted_sink() {
    let items = Items::new().await;
    items.store(views(&["v1", "v2"], &["a", "b"])).await;
    items.store(views(&["v1", "v2", "v3"], &["c"])).await;
    let mut first = items.job(2);
    let refreshed = first.refresh(now_ms()).await.unwrap();
    assert_eq!(count(&refreshed.published, "related"), 3, "{refreshed:?}");
    assert_eq!(count(&refreshed.published, "popular"), 1, "{refreshed:?}");
    items
        .topic(|lists| lists.get("demo/related/a").is_some_and(Option::is_some))
        .await;

    // v2 withdraws: every pair falls to one visitor; c stays popular with
    // two (v1, v3). A sink started now (the first one is gone) knows the
    // lists only from the topic.
    drop(first);
    items
        .sql(
            "INSERT INTO {db}.consent_log (record_id, site_id, subject, action, measurement, personalization, server_time, server_ms) \
             SELECT generateUUIDv4(), 'demo', 'v2', 'withdraw', 1, 0, now(), 0",
        )
        .await;
    let mut restarted = items.job(2);
    let refreshed: Refreshed = restarted.refresh(now_ms()).await.unwrap();
    assert_eq!(count(&refreshed.tombstoned, "related"), 3, "{refreshed:?}");
    assert_eq!(count(&refreshed.published, "related"), 0, "{refreshed:?}");
    assert_eq!(count(&refreshed.published, "popular"), 1, "{refreshed:?}");
    let lists = items
        .topic(|lists| {
            lists.get("demo/related/c").is_some_and(Option::is_none)
                && lists
                    .get("demo/popular/")
                    .and_then(Option::as_ref)
                    .is_some_and(|list| list.items.len() == 1)
        })
        .await;
    for gone in ["demo/related/a", "demo/related/b", "demo/related/c"] {
        assert_eq!(lists[gone], None, "{gone}");
    }
    assert_eq!(counts(lists["demo/popular/"].as_ref().unwrap()), [("c", 2)]);
    let again = restarted.refresh(now_ms()).await.unwrap();
    assert_eq!(
        (again.published.len(), again.tombstoned.len()),
        (0, 0),
        "{again:?}"
    );
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popular_lists_per_category_and_for_the_whole_site_count_the_last_seven_days() {
    let items = Items::new().await;
    let mut events = Vec::new();
    for v in ["v1", "v2", "v3"] {
        events.push(view(v, "s1", &["shoes"], 1));
        // Ten days ago: outside the popular lists, inside the window.
        events.push(view(v, "old", &["shoes"], 10));
    }
    for v in ["v1", "v2"] {
        events.push(view(v, "s2", &["shoes", "sale"], 2));
        events.push(view(v, "b1", &["books"], 0));
    }
    events.push(view("v4", "s3", &["shoes"], 0));
    // Without personalization consent, or a bot: never counted.
    events.push(EnrichedEvent {
        consent_personalization: false,
        ..view("v5", "s3", &["shoes"], 0)
    });
    events.push(EnrichedEvent {
        is_bot: true,
        ..view("v6", "s3", &["shoes"], 0)
    });
    items.store(events).await;
    let computed = items.job(2).compute(now_ms()).await.unwrap();
    assert_eq!(
        counts(&computed["demo/popular/shoes"]),
        [("s1", 3), ("s2", 2)]
    );
    assert_eq!(counts(&computed["demo/popular/sale"]), [("s2", 2)]);
    assert_eq!(counts(&computed["demo/popular/books"]), [("b1", 2)]);
    assert_eq!(
        counts(&computed["demo/popular/"]),
        [("s1", 3), ("b1", 2), ("s2", 2)]
    );
    assert_eq!(
        computed
            .keys()
            .filter(|k| k.starts_with("demo/popular/"))
            .count(),
        4,
        "{computed:#?}"
    );
    // "old" still relates to what its viewers viewed since (the window is 90 days).
    assert_eq!(
        counts(&computed["demo/related/old"]),
        [("s1", 3), ("b1", 2), ("s2", 2)]
    );
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_refresh_publishes_nothing_and_says_why() {
    let items = Items::new().await;
    items.store(views(&["v1", "v2"], &["a", "b"])).await;
    // ClickHouse refuses the queries (no such database): nothing published.
    let mut broken = items.job_on("no_such_database", &items.setup.topics.items, 2);
    let error = broken.refresh(now_ms()).await.unwrap_err();
    assert_eq!(error.reason(), "clickhouse", "{error}");
    // The topic does not exist: the lists cannot be read back.
    let missing = format!("{}.missing", items.setup.topics.items);
    let error = items
        .job_on(&items.setup.database, &missing, 2)
        .refresh(now_ms())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), "kafka", "{error}");
    assert_eq!(
        fiducia_testkit::count_messages(&items.setup.infra.brokers, &items.setup.topics.items),
        0
    );
    // With ClickHouse answering, a refresh publishes them.
    let refreshed = items.job(2).refresh(now_ms()).await.unwrap();
    assert_eq!(count(&refreshed.published, "related"), 2, "{refreshed:?}");
    items.setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_sink_creates_the_topic_publishes_the_lists_and_counts_them() {
    let setup = Setup::new().await;
    let mut config = setup.config();
    config.kafka.create_topics = true;
    config.items = sites(2);
    let events = views(&["v1", "v2"], &["a", "b"]);
    produce_events(&setup.producer(), &setup.topics.enriched, &events).await;
    let sink = RunningSink::start(config).await;
    setup
        .wait_for_count("SELECT count() FROM {db}.events", 4)
        .await;
    let items = Items {
        writer: ClickHouseWriter::new(
            &setup.config().clickhouse,
            ClickHouseHealth::new(Duration::from_secs(5)),
        ),
        setup,
    };
    let lists = items
        .topic(|lists| lists.contains_key("demo/related/a") && lists.contains_key("demo/related/b"))
        .await;
    assert_eq!(
        counts(lists["demo/related/a"].as_ref().unwrap()),
        [("b", 2)]
    );
    // The recorder is the process's: other tests' jobs count there too.
    let metrics = sink.get("/metrics").await.1;
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series}\n{metrics}"))
    };
    assert!(value("fiducia_sink_item_lists_published_total{kind=\"related\"} ") >= 2.0);
    assert!(value("fiducia_sink_item_lists_refresh_duration_seconds_count ") >= 1.0);
    assert!(value("fiducia_sink_item_lists_last_success_timestamp_seconds ") > 1.7e9);
    value("fiducia_sink_item_lists_held{kind=\"related\"} ");
    sink.stop().await;
    items.setup.drop_database().await;
}
