//! Building and running the collector: the public API, the admin endpoints,
//! the producer, the broker health probe and the consent ledger's follower,
//! all stopped by one token. Ready only once the broker answers and the
//! ledger holds every consent record the topic had at start-up; until the
//! ledger has, `/v1/events` answers `503` (nothing is decided on a partial
//! ledger). The profile and item followers do not hold readiness back:
//! until the profiles store has read its topic, `GET /v1/profile` answers
//! contextual (`fiducia_collector_profile_followers_caught_up` says when).
//! With a ledger snapshot configured, the ledger starts from it when it
//! still matches the topic and only the tail is replayed before ready.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use fiducia_runtime::kafka::ProducerSettings;
use fiducia_runtime::kafka::admin::ensure_compacted_topics;
use fiducia_runtime::kafka::group_lag::{self, GroupLag};
use fiducia_runtime::kafka::health::BrokerHealth;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::service::admin;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::consent::ledger::Ledger;
use crate::consent::{follow, snapshot};
use crate::profile::{self, Stores};
use crate::publish::EventPublisher;
use crate::publish::kafka::KafkaPublisher;
use crate::rate_limit::IpRateLimiter;
use crate::routes::{self, AppState};

/// A built collector, bound to its ports, not yet serving.
pub struct Application {
    public: Server,
    admin: Server,
    public_addr: SocketAddr,
    admin_addr: SocketAddr,
    publisher: Arc<KafkaPublisher>,
    /// The ledger snapshot's writer, which takes a last one at shutdown.
    snapshots: Option<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
    /// How long `/metrics` answers after the work ended.
    metrics_linger: Duration,
}

impl Application {
    /// Connects to Kafka (creating topics if configured), binds both ports.
    ///
    /// # Errors
    /// When the producer cannot be created, topics cannot be created, or a port cannot be bound.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        // The recorder first: descriptions given before it are lost.
        admin::install(crate::metrics::BUCKETS);
        crate::metrics::describe();
        config.kafka.ensure_topics().await?;
        if config.kafka.create_topics {
            // Compacted: one profile per visitor, one list per subject.
            let topics = &config.kafka.topics;
            ensure_compacted_topics(
                &config.kafka.brokers,
                &[&topics.profiles, &topics.items],
                config.kafka.partitions,
            )
            .await?;
        }
        follow::check_retention(&config.kafka.brokers, &config.kafka.topics.consent).await?;
        let settings = ProducerSettings {
            linger: config.kafka_linger,
            message_timeout: config.kafka_message_timeout,
            ..ProducerSettings::default()
        };
        let health = BrokerHealth::default();
        health.spawn_probe(
            &config.kafka.brokers,
            config.kafka.topics.raw.clone(),
            Duration::from_secs(1),
            shutdown.clone(),
        )?;
        let producer = ResilientProducer::new(
            &config.kafka.brokers,
            "fiducia-collector",
            settings,
            health.clone(),
            &crate::metrics::PRODUCER,
        )?;
        let publisher = Arc::new(KafkaPublisher::new(producer, &config.kafka.topics, health));
        // The enrichers' lag, seen from here: it shows while they are down.
        if let Some(group) = &config.downstream_group {
            let _watched = group_lag::spawn(
                GroupLag {
                    brokers: config.kafka.brokers.clone(),
                    group: group.clone(),
                    topic: config.kafka.topics.raw.clone(),
                },
                crate::metrics::DOWNSTREAM_LAG,
                shutdown.clone(),
            );
        }
        let consent = &config.kafka.topics.consent;
        let start = snapshot::start(
            config.ledger_snapshot.as_ref(),
            &config.kafka.brokers,
            consent,
        )
        .await;
        let ledger = Arc::new(start.ledger);
        let following = follow::spawn(
            Arc::clone(&ledger),
            (Arc::clone(&start.covered), start.resume),
            &config.kafka.brokers,
            consent,
            shutdown.clone(),
        );
        let snapshots = config.ledger_snapshot.clone().and_then(|settings| {
            snapshot::write::spawn(
                settings,
                &config.kafka.brokers,
                Arc::clone(&ledger),
                start.covered,
                Arc::clone(&following),
                shutdown.clone(),
            )
        });
        let mut stores = Stores::default();
        let (profiles_state, _items_state) = profile::follow::spawn(
            &stores,
            Arc::clone(&ledger),
            &config.kafka.brokers,
            &config.kafka.topics,
            &shutdown,
        );
        stores.profiles_caught_up = Arc::new(move || profiles_state.is_caught_up());
        let ready_publisher = Arc::clone(&publisher);
        let caught_up = Arc::clone(&following);
        let (admin, admin_addr) = admin::serve(
            config.admin_addr,
            Arc::new(move || ready_publisher.is_ready() && caught_up.is_caught_up()),
            crate::metrics::READY,
            crate::metrics::BUCKETS,
        )?;
        let (public, public_addr) = public_server(
            &config,
            Arc::clone(&publisher),
            ledger,
            Arc::new(move || following.is_caught_up()),
            stores,
            &shutdown,
        )?;
        tracing::info!(%public_addr, %admin_addr, topic = %config.kafka.topics.raw, "collector listening");
        Ok(Self {
            public,
            admin,
            public_addr,
            admin_addr,
            publisher,
            snapshots,
            shutdown,
            metrics_linger: config.metrics_linger,
        })
    }

    /// Where the public API listens.
    #[must_use]
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    #[must_use]
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves until the shutdown token is cancelled, then stops accepting,
    /// lets in-flight requests finish and flushes the producer.
    ///
    /// # Errors
    /// When a server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let public = self.public.handle();
        let admin = self.admin.handle();
        let shutdown = self.shutdown.clone();
        let linger = self.metrics_linger;
        tokio::spawn(async move {
            shutdown.cancelled().await;
            public.stop(true).await;
            admin::stop(&admin, linger).await;
        });
        let (public, admin) = tokio::join!(self.public, self.admin);
        self.publisher.flush(Duration::from_secs(10));
        if let Some(snapshots) = self.snapshots {
            // The last snapshot, so the next start replays nothing.
            let _ = snapshots.await;
        }
        tracing::info!("collector stopped");
        public.and(admin)
    }
}

/// The public API server over any publisher (tests use the in-memory one)
/// and stores (filled by their followers, or by the test). The ledger is
/// told to drop a profile from `stores` when personalization ends.
///
/// # Errors
/// When the listen address cannot be bound or a limit is zero.
pub fn public_server<P: EventPublisher>(
    config: &Config,
    publisher: Arc<P>,
    ledger: Arc<Ledger>,
    ledger_caught_up: Arc<dyn Fn() -> bool + Send + Sync>,
    stores: Stores,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Server, SocketAddr)> {
    profile::follow::drop_on_withdrawal(&ledger, Arc::clone(&stores.profiles));
    let limits = &config.limits;
    let limiter = IpRateLimiter::new(
        NonZeroU32::new(limits.rate_per_ip_per_second)
            .ok_or_else(|| anyhow::anyhow!("rate must be positive"))?,
        NonZeroU32::new(limits.rate_burst)
            .ok_or_else(|| anyhow::anyhow!("burst must be positive"))?,
    );
    limiter.spawn_purge(Duration::from_secs(60), shutdown.clone());
    let state = web::Data::new(AppState {
        publisher,
        ledger,
        ledger_caught_up,
        sites: config.sites.clone(),
        limits: config.limits.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        retry_after_seconds: config.retry_after_seconds,
        limiter,
        privacy: config.privacy.clone(),
        warehouse: config
            .warehouse
            .as_ref()
            .map(crate::warehouse::Warehouse::new),
        admin_secret: config.admin_secret.clone(),
        stores,
    });
    let (server, addr) = crate::server::serve(config, move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(routes::cors::allow_origin::<P>))
            .wrap(from_fn(routes::observe))
            .configure(routes::configure::<P>)
    })?;
    Ok((server, addr))
}
