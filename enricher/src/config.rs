//! The enricher's configuration, from environment variables, validated at
//! start-up with errors that name the variable.

use std::net::SocketAddr;
use std::time::Duration;

use fiducia_proto::service::config::{ConfigError, KafkaConfig, env_ms, env_or, env_positive};

/// Everything the enricher needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `FIDUCIA_ENRICHER_ADMIN_ADDR`: `/metrics`, `/healthz`, `/readyz`.
    pub admin_addr: SocketAddr,
    /// Broker and topics.
    pub kafka: KafkaConfig,
    /// `FIDUCIA_ENRICHER_GROUP_ID`: consumer group shared by all enrichers.
    pub group_id: String,
    /// `FIDUCIA_ENRICHER_BATCH_MAX_MESSAGES`: messages per batch at most.
    pub batch_max_messages: usize,
    /// `FIDUCIA_ENRICHER_BATCH_MAX_WAIT_MS`: how long a batch may wait to fill.
    pub batch_max_wait: Duration,
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// On any unusable value, naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let batch_max_messages = env_positive("FIDUCIA_ENRICHER_BATCH_MAX_MESSAGES", 2000_usize)?;
        Ok(Self {
            admin_addr: env_or(
                "FIDUCIA_ENRICHER_ADMIN_ADDR",
                ([127, 0, 0, 1], 18082).into(),
            )?,
            kafka: KafkaConfig::from_env()?,
            group_id: env_or("FIDUCIA_ENRICHER_GROUP_ID", "fiducia-enricher".to_owned())?,
            batch_max_messages,
            batch_max_wait: env_ms(
                "FIDUCIA_ENRICHER_BATCH_MAX_WAIT_MS",
                Duration::from_millis(50),
            )?,
        })
    }
}
