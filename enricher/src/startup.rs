//! Building and running the enricher: topics, producer, group consumer, the
//! admin endpoints, all stopped by one token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use fiducia_proto::kafka::ProducerSettings;
use fiducia_proto::kafka::consume::{self, ConsumerSettings};
use fiducia_proto::kafka::health::BrokerHealth;
use fiducia_proto::kafka::resilient::ResilientProducer;
use fiducia_proto::service::admin;
use rdkafka::consumer::StreamConsumer;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics;
use crate::pipeline::Enricher;

/// A built enricher, connected, not yet consuming.
pub struct Application {
    admin: Server,
    admin_addr: SocketAddr,
    consumer: StreamConsumer,
    settings: ConsumerSettings,
    producer: Arc<ResilientProducer>,
    enricher: Enricher,
    shutdown: CancellationToken,
}

impl Application {
    /// Creates topics (if configured), the producer, the consumer and the admin server.
    ///
    /// # Errors
    /// When Kafka clients cannot be created or the admin port cannot be bound.
    pub async fn build(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        metrics::describe();
        let topics = config.kafka.topics.clone();
        config.kafka.ensure_topics().await?;
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
            &config.kafka.brokers,
            topics.raw.clone(),
            Duration::from_secs(2),
            shutdown.clone(),
        )?;
        let producer = Arc::new(ResilientProducer::new(
            &config.kafka.brokers,
            "fiducia-enricher",
            ProducerSettings::default(),
            health.clone(),
            metrics::PREFIX,
        )?);
        let (admin, admin_addr) =
            admin::serve(config.admin_addr, Arc::new(move || health.is_up()))?;
        tracing::info!(%admin_addr, from = %topics.raw, to = %topics.enriched, group = %config.group_id, "enricher started");
        let enricher = Enricher::new(Arc::clone(&producer), topics);
        Ok(Self {
            admin,
            admin_addr,
            consumer,
            settings,
            producer,
            enricher,
            shutdown,
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
    /// When the admin server fails.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let admin = self.admin.handle();
        let admin_task = tokio::spawn(self.admin);
        consume::run(
            &self.consumer,
            &self.settings,
            &mut self.enricher,
            metrics::PREFIX,
            &self.shutdown,
        )
        .await;
        self.producer.flush(Duration::from_secs(10));
        admin.stop(true).await;
        admin_task.await.map_err(std::io::Error::other)??;
        tracing::info!("enricher stopped");
        Ok(())
    }
}
