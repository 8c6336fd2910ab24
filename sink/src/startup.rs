//! Building and running the sink: the ClickHouse schema brought up to date,
//! one group consumer per table (`events` from the enriched topic,
//! `consent_log` from the consent topic, its writer wrapped to erase the
//! profiles of visitors who withdraw personalization
//! ([`crate::jobs::erase_on_withdrawal`]), `dead_letters` from the
//! dead-letter topic unless switched off), the privacy-request workflow
//! (its own group on the privacy topic), the deny-list followed from the
//! privacy topic that the `events` and `consent_log` writers check
//! ([`crate::deny`]) and that `/readyz` and every loop wait for, the
//! retention job, the item lists job ([`crate::jobs::items`]), the
//! dead-letter producer the loops share, the health probes behind `/readyz`
//! and the admin endpoints, all stopped by one token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context as _;
use fiducia_runtime::erased::{self, Erased};
use fiducia_runtime::kafka::ProducerSettings;
use fiducia_runtime::kafka::admin::ensure_compacted_topics;
use fiducia_runtime::kafka::consume::{self, BatchHandler, ConsumerSettings, Stuck};
use fiducia_runtime::kafka::follow::FollowState;
use fiducia_runtime::kafka::health::BrokerHealth;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::service::admin;
use rdkafka::consumer::StreamConsumer;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::Config;
use crate::deadletter::KafkaDeadLetters;
use crate::deny::{Barrier, Deny};
use crate::handler::SinkHandler;
use crate::jobs::erase_on_withdrawal::{ClickHouseEraser, ErasingWriter};
use crate::jobs::items::ItemListsJob;
use crate::jobs::items::topic::ItemListTopic;
use crate::jobs::privacy::PrivacyHandler;
use crate::jobs::privacy::workflow::Workflow;
use crate::jobs::retention::RetentionJob;
use crate::metrics;
use crate::schema::{self, ServerFeatures};
use crate::tables::consent_log::ConsentRow;
use crate::tables::dead_letters::DeadLetterRow;
use crate::tables::events::EventRow;
use crate::writer::clickhouse::{self as ch, ClickHouseHealth, ClickHouseWriter};

/// How long start-up waits for ClickHouse to answer before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often ClickHouse and the broker are probed for `/readyz`.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// `/readyz` fails once ClickHouse has not answered for this long.
const CLICKHOUSE_MAX_SILENCE: Duration = Duration::from_secs(5);
/// How often the deny-list size gauge is set.
const DENY_LIST_GAUGE_INTERVAL: Duration = Duration::from_secs(1);
/// How long shutdown waits for in-flight dead letters.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// One consume loop: a table's, or the privacy workflow's.
struct TableLoop<H> {
    consumer: StreamConsumer,
    settings: ConsumerSettings,
    handler: H,
}

/// The loop of `R`'s table.
type RowLoop<W, R> = TableLoop<SinkHandler<W, Arc<KafkaDeadLetters>, R>>;

impl<H: BatchHandler> TableLoop<H> {
    /// Consumes once the deny-list holds every erasure the privacy topic
    /// held at start-up (`deny_list`), so no event of a subject erased
    /// while the sink was down is ever inserted; until `shutdown`. A stuck
    /// consumer stops every loop (the sink exits non-zero for its
    /// supervisor to start it again).
    async fn run(
        mut self,
        deny_list: Arc<FollowState>,
        shutdown: CancellationToken,
    ) -> Result<(), Stuck> {
        if !deny_list.caught_up(&shutdown).await {
            return Ok(());
        }
        consume::run(
            &self.consumer,
            &self.settings,
            &mut self.handler,
            &metrics::CONSUMER,
            &shutdown,
        )
        .await
        .inspect_err(|_| shutdown.cancel())
    }
}

/// A built sink: schema migrated, consumers subscribed, admin port bound; not yet consuming.
pub struct Application {
    admin: Server,
    admin_addr: SocketAddr,
    events: RowLoop<ClickHouseWriter, EventRow>,
    consent: RowLoop<ErasingWriter<ClickHouseWriter, ClickHouseEraser>, ConsentRow>,
    dead_letter_table: Option<RowLoop<ClickHouseWriter, DeadLetterRow>>,
    privacy: TableLoop<PrivacyHandler>,
    deny_list: Arc<FollowState>,
    erased: Arc<Erased>,
    /// Stops the deny-list follower when the application is dropped
    /// (after running, or without).
    _follower: DropGuard,
    retention: RetentionJob,
    items: ItemListsJob,
    dead_letters: Arc<KafkaDeadLetters>,
    features: ServerFeatures,
    applied_migrations: Vec<u32>,
    shutdown: CancellationToken,
    /// How long `/metrics` answers after the work ended.
    metrics_linger: Duration,
}

impl Application {
    /// Waits for ClickHouse, applies pending migrations, creates topics if
    /// configured, subscribes the consumer and binds the admin port.
    ///
    /// # Errors
    /// When ClickHouse does not answer in time, a migration fails, Kafka
    /// rejects the configuration or the admin port cannot be bound.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        // The recorder first: descriptions given before it are lost.
        admin::install(metrics::BUCKETS);
        metrics::describe();
        let database = config.clickhouse.database.as_str();
        let client = ch::client(&config.clickhouse);
        let cluster = (config.clickhouse.cluster.as_deref())
            .map(|name| schema::cluster::Cluster::new(name, database));
        let features = connect(&client, &shutdown)
            .await?
            .in_cluster(cluster.clone());
        tracing::info!(server = %features, url = %config.clickhouse.url, database, cluster = config.clickhouse.cluster.as_deref().unwrap_or(""), "clickhouse connected");
        // A stop asked for while migrating ends the wait: an `ON CLUSTER`
        // statement can wait minutes for a stalled server, and the
        // migrations are idempotent, so the next start resumes them.
        let applied_migrations = tokio::select! {
            applied = schema::migrate_in(&client, database, cluster.as_ref()) => applied
                .with_context(|| format!("migrating clickhouse database {database}"))?,
            () = shutdown.cancelled() => anyhow::bail!("stopped while migrating clickhouse database {database}"),
        };
        ::metrics::counter!(metrics::MIGRATIONS_APPLIED).increment(applied_migrations.len() as u64);

        let topics = &config.kafka.topics;
        config.kafka.ensure_topics().await?;
        if config.kafka.create_topics {
            // The sink writes the item lists: it creates their topic.
            ensure_compacted_topics(
                &config.kafka.brokers,
                &[&topics.items],
                config.kafka.partitions,
            )
            .await?;
        }
        // Reading ahead overlaps the next batch's fetch, decoding and
        // encoding with this batch's insert; rows a revoked partition's
        // batch inserts twice collapse.
        let settings = |group: &str, topic: &str| ConsumerSettings {
            read_ahead: true,
            ..config.kafka.consumer_settings(
                group,
                topic,
                config.batch.max_rows,
                config.batch.max_bytes,
                config.batch.max_wait,
            )
        };
        let events_settings = settings(&config.group_id, &topics.enriched);
        let consent_settings = settings(&format!("{}-consent", config.group_id), &topics.consent);
        let privacy_settings = ConsumerSettings {
            // A request can take a while (a verified deletion); reading the
            // next one ahead gains nothing.
            read_ahead: false,
            ..settings(&format!("{}-privacy", config.group_id), &topics.privacy)
        };
        let dead_letter_settings = settings(
            &format!("{}-dead-letters", config.group_id),
            &topics.deadletter,
        );

        let broker = BrokerHealth::default();
        broker.spawn_probe(
            &config.kafka.brokers,
            topics.enriched.clone(),
            PROBE_INTERVAL,
            shutdown.clone(),
        )?;
        let producer = ResilientProducer::new(
            &config.kafka.brokers,
            "fiducia-sink",
            ProducerSettings::default(),
            broker.clone(),
            &metrics::PRODUCER,
        )?;
        let items_producer = ResilientProducer::new(
            &config.kafka.brokers,
            "fiducia-sink-item-lists",
            ProducerSettings::default(),
            broker.clone(),
            &metrics::PRODUCER,
        )?;
        let items = ItemListsJob::new(
            client.clone(),
            database,
            config.items.clone(),
            ItemListTopic::new(&config.kafka.brokers, &topics.items, items_producer),
        );
        let clickhouse = ClickHouseHealth::new(CLICKHOUSE_MAX_SILENCE);
        clickhouse.record_ok(); // it just answered the migrations
        clickhouse.spawn_probe(client.clone(), PROBE_INTERVAL, shutdown.clone());
        let eraser = ClickHouseEraser::new(
            client.clone(),
            database,
            features.clone(),
            config.clickhouse.insert_timeout,
        );
        let retention = RetentionJob::new(
            client.clone(),
            database,
            features.clone(),
            config.retention.clone(),
        );

        let erased = Arc::new(Erased::default());
        let barrier = Arc::new(Barrier::default());
        // The follower starts now (readiness needs it); an application
        // dropped without running stops it through `_follower`.
        let follower = shutdown.child_token();
        let deny_list = erased::spawn(
            Arc::clone(&erased),
            &config.kafka.brokers,
            &topics.privacy,
            "fiducia-sink-deny-list",
            metrics::DENY_LIST_LAG,
            follower.clone(),
        );
        let workflow = Workflow::new(
            client.clone(),
            database,
            features.clone(),
            Arc::clone(&erased),
            Arc::clone(&barrier),
            config.erasure,
        );
        let deny = Deny {
            erased: Arc::clone(&erased),
            barrier,
        };
        let ready = {
            let (broker, clickhouse) = (broker.clone(), clickhouse.clone());
            let deny_list = Arc::clone(&deny_list);
            Arc::new(move || broker.is_up() && clickhouse.is_up() && deny_list.is_caught_up())
        };
        let (admin, admin_addr) =
            admin::serve(config.admin_addr, ready, metrics::READY, metrics::BUCKETS)?;
        let writer = ClickHouseWriter::new(&config.clickhouse, clickhouse)
            .with_dedup_tokens(features.insert_dedup_token());
        let dead_letters = Arc::new(KafkaDeadLetters::new(producer, topics.deadletter.clone()));
        let events = TableLoop {
            consumer: consume::consumer(&events_settings, "fiducia-sink")?,
            settings: events_settings,
            handler: SinkHandler::new(writer.clone(), Arc::clone(&dead_letters))
                .with_deny(deny.clone()),
        };
        let dead_letter_table = if config.dead_letters_table {
            Some(TableLoop {
                consumer: consume::consumer(&dead_letter_settings, "fiducia-sink-dead-letters")?,
                settings: dead_letter_settings,
                handler: SinkHandler::new(writer.clone(), Arc::clone(&dead_letters)),
            })
        } else {
            None
        };
        let consent = TableLoop {
            consumer: consume::consumer(&consent_settings, "fiducia-sink-consent")?,
            settings: consent_settings,
            handler: SinkHandler::new(
                ErasingWriter::new(writer, eraser),
                Arc::clone(&dead_letters),
            )
            .with_deny(deny),
        };
        let privacy = TableLoop {
            consumer: consume::consumer(&privacy_settings, "fiducia-sink-privacy")?,
            settings: privacy_settings,
            handler: PrivacyHandler::new(workflow, shutdown.clone()),
        };
        tracing::info!(%admin_addr, events = %topics.enriched, consent = %topics.consent, group = %config.group_id, database, "sink ready to consume");
        Ok(Self {
            admin,
            admin_addr,
            events,
            consent,
            dead_letter_table,
            privacy,
            deny_list,
            erased,
            _follower: follower.drop_guard(),
            retention,
            items,
            dead_letters,
            features,
            applied_migrations,
            shutdown,
            metrics_linger: config.metrics_linger,
        })
    }

    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    #[must_use]
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// What the ClickHouse server reported at start-up.
    #[must_use]
    pub fn server_features(&self) -> &ServerFeatures {
        &self.features
    }

    /// The migration versions this instance applied (empty when another had already).
    #[must_use]
    pub fn applied_migrations(&self) -> &[u32] {
        &self.applied_migrations
    }

    /// Consumes (and runs the retention and item lists jobs) until the shutdown token is cancelled, then finishes the
    /// batch in hand, commits the stored offsets, flushes dead letters and
    /// stops the admin server.
    ///
    /// # Errors
    /// When the admin server fails, or a consumer got stuck
    /// ([`consume::Stuck`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let admin_handle = self.admin.handle();
        let admin = tokio::spawn(self.admin);
        let deny_list = &self.deny_list;
        let (events, consent, dead_letters, privacy, (), (), ()) = tokio::join!(
            self.events
                .run(Arc::clone(deny_list), self.shutdown.clone()),
            self.consent
                .run(Arc::clone(deny_list), self.shutdown.clone()),
            async {
                match self.dead_letter_table {
                    Some(table) => {
                        table
                            .run(Arc::clone(deny_list), self.shutdown.clone())
                            .await
                    }
                    None => Ok(()),
                }
            },
            self.privacy
                .run(Arc::clone(deny_list), self.shutdown.clone()),
            deny_list_gauge(&self.erased, &self.shutdown),
            self.retention.run_until_stopped(self.shutdown.clone()),
            self.items.run_until_stopped(self.shutdown.clone()),
        );
        self.dead_letters.flush(FLUSH_TIMEOUT);
        admin::stop(&admin_handle, self.metrics_linger).await;
        let result = admin
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));
        tracing::info!("sink stopped");
        events
            .and(consent)
            .and(dead_letters)
            .and(privacy)
            .map_err(std::io::Error::other)?;
        result
    }
}

/// Keeps the deny-list size gauge current until `shutdown`.
async fn deny_list_gauge(erased: &Erased, shutdown: &CancellationToken) {
    loop {
        #[allow(clippy::cast_precision_loss)] // erasures: far below 2^52
        ::metrics::gauge!(metrics::DENY_LIST_ERASURES).set(erased.len() as f64);
        tokio::select! {
            () = tokio::time::sleep(DENY_LIST_GAUGE_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Asks the server for its version until it answers, `CONNECT_TIMEOUT` passes or shutdown.
async fn connect(
    client: &clickhouse::Client,
    shutdown: &CancellationToken,
) -> anyhow::Result<ServerFeatures> {
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        match ServerFeatures::probe(client).await {
            Ok(features) => return Ok(features),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "clickhouse not answering yet; retrying");
            }
            Err(error) => return Err(error).context("clickhouse did not answer SELECT version()"),
        }
        tokio::select! {
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
            () = shutdown.cancelled() => anyhow::bail!("shut down while waiting for clickhouse"),
        }
    }
}
