//! Building and running the enricher: topics, site rules, geo database,
//! producer, group consumer, the admin endpoints, all stopped by one token.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use fiducia_runtime::erased::{self, Erased};
use fiducia_runtime::kafka::ProducerSettings;
use fiducia_runtime::kafka::admin::ensure_compacted_topics;
use fiducia_runtime::kafka::consume::{self, ConsumerSettings};
use fiducia_runtime::kafka::follow::FollowState;
use fiducia_runtime::kafka::group_lag::{self, GroupLag};
use fiducia_runtime::kafka::health::BrokerHealth;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::service::admin;
use fiducia_runtime::service::config::ConfigError;
use rdkafka::consumer::StreamConsumer;
use tokio_util::sync::CancellationToken;

use crate::batch::Processor;
use crate::config::Config;
use crate::enrich::Engine;
use crate::enrich::geo::GeoDb;
use crate::metrics;
use crate::pipeline::Enricher;
use crate::publish::kafka::KafkaPublisher;
use crate::restore::{Restorer, check_partitions};
use crate::sessions::store::SessionStore;
use crate::withdrawals::{self, Withdrawals};

/// A built enricher, connected, not yet consuming.
pub struct Application {
    admin: Server,
    admin_addr: SocketAddr,
    consumer: StreamConsumer,
    settings: ConsumerSettings,
    producer: Arc<ResilientProducer>,
    enricher: Enricher<KafkaPublisher>,
    erasures: Arc<FollowState>,
    shutdown: CancellationToken,
    /// How long `/metrics` answers after the work ended.
    metrics_linger: Duration,
}

impl Application {
    /// Opens the geo databases, creates topics (if configured), checks the
    /// sessions topic, and creates the producer, the consumer and the admin
    /// server.
    ///
    /// # Errors
    /// When a geo database cannot be used, the sessions topic has fewer
    /// partitions than the raw topic, Kafka clients cannot be created, or
    /// the admin port cannot be bound.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        // The recorder first: descriptions given before it are lost.
        admin::install(metrics::BUCKETS);
        metrics::describe();
        // Before any connection: a wrong file is a configuration error.
        let geo = open_geo(&config.geoip_dbs, config.geo_cache_entries)?;
        let topics = config.kafka.topics.clone();
        let brokers = config.kafka.brokers.clone();
        config.kafka.ensure_topics().await?;
        if config.kafka.create_topics {
            ensure_compacted_topics(
                &brokers,
                &[&topics.sessions, &topics.profiles],
                config.kafka.partitions,
            )
            .await?;
        }
        {
            let (brokers, raw, kept) = (
                brokers.clone(),
                topics.raw.clone(),
                [topics.sessions.clone(), topics.profiles.clone()],
            );
            tokio::task::spawn_blocking(move || {
                let kept = kept.each_ref().map(String::as_str);
                check_partitions(&brokers, &raw, &kept, Duration::from_secs(10))
            })
            .await??;
        }
        tracing::info!(sites = config.sites.len(), unknown_sites = ?config.sites.unknown_sites, "site rules loaded");
        let settings = config.kafka.consumer_settings(
            &config.group_id,
            &topics.raw,
            config.batch_max_messages,
            16 * 1024 * 1024,
            config.batch_max_wait,
        );
        let consumer = consume::consumer(&settings, "fiducia-enricher")?;
        let health = BrokerHealth::default();
        health.spawn_probe(
            &brokers,
            topics.raw.clone(),
            Duration::from_secs(2),
            shutdown.clone(),
        )?;
        let producer = Arc::new(ResilientProducer::new(
            &brokers,
            "fiducia-enricher",
            ProducerSettings::default(),
            health.clone(),
            &metrics::PRODUCER,
        )?);
        // The deny-list of erased subjects, read whole from the privacy
        // topic: nothing is consumed before it holds every erasure.
        let erased = Arc::new(Erased::default());
        let erasures = erased::spawn(
            Arc::clone(&erased),
            &brokers,
            &topics.privacy,
            "fiducia-enricher-erasures",
            metrics::ERASURES_LAG,
            shutdown.clone(),
        );
        let ready = Arc::clone(&erasures);
        let (admin, admin_addr) = admin::serve(
            config.admin_addr,
            Arc::new(move || health.is_up() && ready.is_caught_up()),
            metrics::READY,
            metrics::BUCKETS,
        )?;
        tracing::info!(%admin_addr, from = %topics.raw, to = %topics.enriched, sessions = %topics.sessions, group = %config.group_id, "enricher started");
        // Withdrawals of personalization from now on: profiles are forgotten
        // at the next batch, not at the visitor's next event.
        let withdrawals = Arc::new(Withdrawals::default());
        let _followed = withdrawals::spawn(
            Arc::clone(&withdrawals),
            &brokers,
            &topics.consent,
            metrics::WITHDRAWALS_LAG,
            shutdown.clone(),
        );
        // The sink's lag, seen from here: it shows while the sink is down.
        if let Some(group) = &config.downstream_group {
            let _watched = group_lag::spawn(
                GroupLag {
                    brokers: brokers.clone(),
                    group: group.clone(),
                    topic: topics.enriched.clone(),
                },
                metrics::DOWNSTREAM_LAG,
                shutdown.clone(),
            );
        }
        let processor = Processor::new(
            Engine::new(config.sites, config.agent_cache_entries, geo),
            SessionStore::new(config.session_max_entries),
            erased,
        )
        .with_withdrawals(withdrawals);
        let restorer = Restorer::new(&brokers, &topics.sessions, config.session_restore_timeout);
        let profiles = Restorer::new(&brokers, &topics.profiles, config.session_restore_timeout);
        let publisher = KafkaPublisher::new(Arc::clone(&producer), topics);
        let enricher = Enricher::new(processor, restorer, profiles, publisher);
        Ok(Self {
            admin,
            admin_addr,
            consumer,
            settings,
            producer,
            enricher,
            erasures,
            shutdown,
            metrics_linger: config.metrics_linger,
        })
    }

    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    #[must_use]
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Consumes until the shutdown token is cancelled, then finishes the batch
    /// in hand, commits offsets and flushes the producer.
    ///
    /// # Errors
    /// When the admin server fails, or the consumer got stuck
    /// ([`consume::Stuck`]).
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let admin = self.admin.handle();
        let admin_task = tokio::spawn(self.admin);
        let started = std::time::Instant::now();
        if self.erasures.caught_up(&self.shutdown).await {
            tracing::info!(
                waited_ms = started.elapsed().as_millis(),
                "erasure deny-list caught up"
            );
        }
        let consumed = consume::run(
            &self.consumer,
            &self.settings,
            &mut self.enricher,
            &metrics::CONSUMER,
            &self.shutdown,
        )
        .await;
        self.producer.flush(Duration::from_secs(10));
        admin::stop(&admin, self.metrics_linger).await;
        admin_task.await.map_err(std::io::Error::other)??;
        tracing::info!("enricher stopped");
        // A stuck consumer: exit non-zero, for the supervisor to start a fresh one.
        consumed.map_err(std::io::Error::other)
    }
}

/// The geo databases of `FIDUCIA_ENRICHER_GEOIP_DB`, `None` when it names
/// none.
///
/// # Errors
/// When a file cannot be read, is not a MaxMind DB or holds no locations,
/// as an error about the variable.
pub fn open_geo(
    paths: &[PathBuf],
    cache_entries: NonZeroUsize,
) -> Result<Option<GeoDb>, ConfigError> {
    if paths.is_empty() {
        tracing::info!(
            "no geo database configured (FIDUCIA_ENRICHER_GEOIP_DB): country, region and city stay empty"
        );
        return Ok(None);
    }
    let db = GeoDb::open_all(paths, cache_entries).map_err(|error| {
        let value = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        ConfigError::new("FIDUCIA_ENRICHER_GEOIP_DB", value, error)
    })?;
    tracing::info!(files = ?paths, database_types = ?db.database_types(), "geo databases loaded");
    Ok(Some(db))
}
