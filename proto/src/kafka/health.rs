//! Broker reachability, probed in the background so `/readyz` and the
//! collector's fast `503` path read a flag instead of calling the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use tokio_util::sync::CancellationToken;

use super::client_config;

/// Shared "the broker answered the last probe" flag.
#[derive(Debug, Clone, Default)]
pub struct BrokerHealth(Arc<AtomicBool>);

impl BrokerHealth {
    /// Whether the last probe reached the broker and found the topic.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Records an outcome seen elsewhere (e.g. a failed delivery).
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }

    /// Probes now, then every `interval` until `shutdown`, by fetching
    /// `topic`'s metadata with a dedicated metadata-only client.
    ///
    /// # Errors
    /// When the client cannot be created (bad configuration).
    pub fn spawn_probe(
        &self,
        brokers: &str,
        topic: String,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> KafkaResult<()> {
        let client: Arc<BaseConsumer> =
            Arc::new(client_config(brokers, "fiducia-health").create()?);
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                let probe = Arc::clone(&client);
                let name = topic.clone();
                let timeout = interval.max(Duration::from_secs(1));
                let up = tokio::task::spawn_blocking(move || {
                    probe
                        .fetch_metadata(Some(&name), timeout)
                        .is_ok_and(|m| m.topics().iter().any(|t| t.error().is_none()))
                })
                .await
                .unwrap_or(false);
                if up != health.is_up() {
                    tracing::info!(up, %topic, "broker health changed");
                }
                health.set(up);
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
        Ok(())
    }
}
