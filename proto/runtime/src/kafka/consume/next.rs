//! Reading the next batch: bounded by count, bytes and time, and noticing
//! a consumer the group left without partitions while it waits.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ConsumerSettings;
use super::names::ConsumerMetrics;
use crate::kafka::health::is_unreachable;

/// How often a consumer waiting for its first message looks at its
/// assignment.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Waits for a first message (`None` when `reading` is cancelled: shutdown,
/// or a stuck consumer), then fills the batch until a bound is hit. While
/// it waits for the first, `wake` being notified ends the wait with an
/// empty batch ([`super::BatchHandler::wake`]). The timer and the shutdown
/// signal are made once per batch, not once per message: a batch can hold
/// 100,000 messages.
pub(super) async fn next_batch(
    consumer: &StreamConsumer,
    settings: &ConsumerSettings,
    reading: &CancellationToken,
    assignment: &mut AssignmentWatch,
    wake: Option<&Notify>,
) -> Option<Vec<OwnedMessage>> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut started = false;
    let cancelled = reading.cancelled();
    let timer = tokio::time::sleep(IDLE_CHECK);
    let woken = async {
        match wake {
            Some(wake) => wake.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cancelled, timer, woken);
    while batch.len() < settings.batch_max_messages && bytes < settings.batch_max_bytes {
        let received = tokio::select! {
            biased;
            () = &mut cancelled => return None,
            received = consumer.recv() => received,
            () = &mut woken, if !started => return Some(batch),
            () = &mut timer => {
                if started {
                    break;
                }
                assignment.check(consumer, &settings.topic);
                timer.as_mut().reset(Instant::now() + IDLE_CHECK);
                continue;
            }
        };
        match received {
            Ok(message) => {
                bytes += message.payload_len();
                batch.push(message.detach());
                if !started {
                    started = true;
                    timer
                        .as_mut()
                        .reset(Instant::now() + settings.batch_max_wait);
                }
            }
            // Unreachable brokers: logged once per change by the health watch.
            Err(error) if is_unreachable(&error) => tracing::debug!(%error, "consumer error"),
            Err(error) => tracing::warn!(%error, "consumer error"),
        }
    }
    Some(batch)
}

/// Notices a consumer left without partitions and makes it rejoin
/// (see [`ConsumerSettings::rejoin_when_unassigned`]). Checked while idle only:
/// a consumer that receives messages has partitions.
pub(super) struct AssignmentWatch {
    limit: Option<Duration>,
    unassigned_since: Option<Instant>,
    rejoins: metrics::Counter,
}

impl AssignmentWatch {
    pub(super) fn new(settings: &ConsumerSettings, names: &ConsumerMetrics) -> Self {
        Self {
            limit: settings.rejoin_when_unassigned,
            unassigned_since: None,
            rejoins: metrics::counter!(names.group_rejoins),
        }
    }

    pub(super) fn check(&mut self, consumer: &StreamConsumer, topic: &str) {
        let Some(limit) = self.limit else { return };
        let unassigned = consumer.assignment().is_ok_and(|a| a.count() == 0);
        if !unassigned {
            self.unassigned_since = None;
            return;
        }
        let since = *self.unassigned_since.get_or_insert_with(Instant::now);
        if since.elapsed() < limit {
            return;
        }
        tracing::warn!(%topic, unassigned_for_s = since.elapsed().as_secs(), "no partitions assigned; rejoining the group");
        self.rejoins.increment(1);
        consumer.unsubscribe();
        if let Err(error) = consumer.subscribe(&[topic]) {
            tracing::error!(%error, %topic, "resubscribe failed");
        }
        self.unassigned_since = None;
    }
}
