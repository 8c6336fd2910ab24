//! Writing the snapshot: every interval, once the follower has caught up
//! and applied records since the last snapshot, and once more at
//! shutdown. The state is encoded while the follower is held at the
//! cover's lock, then written outside it, on a blocking thread.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fiducia_runtime::kafka::follow::FollowState;
use fiducia_runtime::kafka::scan::{self, partition_ids};
use rdkafka::consumer::BaseConsumer;
use tokio_util::sync::CancellationToken;

use super::{Covered, Settings, format};
use crate::consent::ledger::Ledger;
use crate::metrics;

/// What one write took and made.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// The file's size.
    pub bytes: usize,
    /// Encoding, writing, fsync and rename.
    pub duration: Duration,
}

/// Encodes the ledger with its cover (every partition of `partitions`
/// included, those the follower has not read from at offset 0) and writes
/// the file atomically.
///
/// # Errors
/// When the file cannot be written.
pub fn once(
    path: &Path,
    ledger: &Ledger,
    covered: &Covered,
    partitions: &[i32],
) -> std::io::Result<Written> {
    let began = Instant::now();
    let bytes = {
        let mut cover = covered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for &p in partitions {
            cover.partitions.entry(p).or_default();
        }
        format::encode(&cover, ledger, fiducia_proto::time::now_ms())
    };
    format::write_atomically(path, &bytes)?;
    Ok(Written {
        bytes: bytes.len(),
        duration: began.elapsed(),
    })
}

/// Writes snapshots until `shutdown`, then one last one (module docs);
/// the task ends after that one.
#[must_use]
pub fn spawn(
    settings: Settings,
    brokers: &str,
    ledger: Arc<Ledger>,
    covered: Covered,
    following: Arc<FollowState>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let consumer: Option<Arc<BaseConsumer>> = match scan::consumer(
        brokers,
        "fiducia-collector-ledger-snapshot",
    ) {
        Ok(consumer) => Some(Arc::new(consumer)),
        Err(error) => {
            tracing::warn!(%error, "cannot create the snapshot's metadata client; no ledger snapshots");
            None
        }
    };
    let consumer = consumer?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut written_at_applied = None;
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                () = shutdown.cancelled() => true,
            };
            let applied = covered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .applied;
            if following.is_caught_up() && written_at_applied != Some(applied) {
                let (path, ledger, covered, consumer) = (
                    settings.path.clone(),
                    Arc::clone(&ledger),
                    Arc::clone(&covered),
                    Arc::clone(&consumer),
                );
                let result = tokio::task::spawn_blocking(move || {
                    let topic = covered
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .topic
                        .clone();
                    let partitions = partition_ids(&*consumer, &topic, Duration::from_secs(5))
                        .map_err(std::io::Error::other)?;
                    if partitions.is_empty() {
                        return Err(std::io::Error::other("the consent topic has no partitions"));
                    }
                    once(&path, &ledger, &covered, &partitions)
                })
                .await
                .unwrap_or_else(|error| Err(std::io::Error::other(error)));
                record(&settings.path, result);
                written_at_applied = Some(applied);
            }
            if stopping {
                return;
            }
        }
    }))
}

fn record(path: &Path, result: std::io::Result<Written>) {
    match result {
        Ok(written) => {
            ::metrics::counter!(metrics::LEDGER_SNAPSHOT_WRITES, "outcome" => "ok").increment(1);
            #[allow(clippy::cast_precision_loss)] // gauges
            {
                ::metrics::gauge!(metrics::LEDGER_SNAPSHOT_BYTES).set(written.bytes as f64);
                ::metrics::gauge!(metrics::LEDGER_SNAPSHOT_TIMESTAMP)
                    .set(fiducia_proto::time::now_ms() as f64 / 1000.0);
            }
            ::metrics::histogram!(metrics::LEDGER_SNAPSHOT_WRITE_DURATION)
                .record(written.duration.as_secs_f64());
            tracing::info!(path = %path.display(), bytes = written.bytes, seconds = written.duration.as_secs_f64(), "consent ledger snapshot written");
        }
        Err(error) => {
            ::metrics::counter!(metrics::LEDGER_SNAPSHOT_WRITES, "outcome" => "error").increment(1);
            tracing::warn!(path = %path.display(), %error, "consent ledger snapshot not written");
        }
    }
}
