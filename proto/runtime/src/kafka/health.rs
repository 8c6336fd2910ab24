//! Broker reachability, probed in the background so `/readyz` and the
//! collector's fast `503` path read a flag instead of calling the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use tokio_util::sync::CancellationToken;

use super::client_config;

/// Whether `error` only says the broker cannot be reached right now: what
/// the health watch logs once per change, so a client that sees it on every
/// retry logs it at debug level.
#[must_use]
pub fn is_unreachable(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::BrokerNotAvailable
        )
    )
}

/// Consecutive failed probes that mark a healthy broker down.
const FAILURES_BEFORE_DOWN: u32 = 2;

/// Shared "the broker answers" flag: up after one answered probe, down after
/// [`FAILURES_BEFORE_DOWN`] unanswered ones in a row.
#[derive(Debug, Clone, Default)]
pub struct BrokerHealth(Arc<AtomicBool>);

impl BrokerHealth {
    /// Whether the last probe reached the broker and found the topic.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, up: bool) {
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
            let mut failures = 0_u32;
            loop {
                let probe = Arc::clone(&client);
                let name = topic.clone();
                // A loaded broker answers metadata slowly; give it more than one interval.
                let timeout = (interval * 3).max(Duration::from_secs(3));
                let answered = tokio::task::spawn_blocking(move || {
                    probe
                        .fetch_metadata(Some(&name), timeout)
                        .is_ok_and(|m| m.topics().iter().any(|t| t.error().is_none()))
                })
                .await
                .unwrap_or(false);
                failures = if answered { 0 } else { failures + 1 };
                // One slow answer is not an outage: it takes FAILURES_BEFORE_DOWN in a row.
                let up = answered || (health.is_up() && failures < FAILURES_BEFORE_DOWN);
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
