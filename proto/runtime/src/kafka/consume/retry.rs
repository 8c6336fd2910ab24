//! Handling a batch until it is acknowledged: a failed batch is handed to
//! the handler again, the same batch, after a backoff that doubles from
//! 100 ms up to 10 s, until it succeeds or the service shuts down. The loop
//! stores the batch's offsets only after a success, so nothing is lost and
//! a batch is never skipped; public so a handler can test how it behaves
//! under retries (with `tokio::time::pause()`) without a broker.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::BatchHandler;
use super::names::ConsumerMetrics;

/// The first wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Retries batches, counting them in [`ConsumerMetrics::batch_retries`] and
/// timing them in [`ConsumerMetrics::batch_seconds`].
#[derive(Debug, Clone)]
pub struct Retry {
    retries: metrics::Counter,
    seconds: metrics::Histogram,
}

impl Retry {
    /// Registers the metrics under the service's `names`.
    #[must_use]
    pub fn new(names: &ConsumerMetrics) -> Self {
        Self {
            retries: metrics::counter!(names.batch_retries),
            seconds: metrics::histogram!(names.batch_seconds),
        }
    }

    /// Hands `prepared` (a batch of `messages`) to `handler` until it
    /// succeeds (`true`; the time it took, retries included, is recorded),
    /// retrying with backoff, or until shutdown (`false`: nothing of the
    /// batch may be stored).
    pub async fn until_handled<H: BatchHandler>(
        &self,
        handler: &mut H,
        prepared: &H::Prepared,
        messages: usize,
        shutdown: &CancellationToken,
    ) -> bool {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            match handler.handle(prepared).await {
                Ok(()) => {
                    self.seconds.record(started.elapsed().as_secs_f64());
                    return true;
                }
                Err(error) => {
                    self.retries.increment(1);
                    tracing::warn!(%error, messages, retry_in_ms = backoff.as_millis(), "batch failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
