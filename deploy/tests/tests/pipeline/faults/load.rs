//! Steady load for the fault cases: batches of consented clicks from a few
//! visitors (so every partition gets some) at a fixed rate, keeping the id
//! of every event the collector acknowledged with a `2xx`. Refusals (`503`
//! while a part is down, connection errors while the collector is) are
//! counted, never retried: the tag would resend them, but an event that was
//! never acknowledged is not owed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fiducia_testkit::envelopes::{ORIGIN, clicks_from};

/// Events per request.
const BATCH: usize = 10;
/// Visitors the batches come from, in turn.
const VISITORS: usize = 8;

/// A running load; [`Self::stop`] ends it.
pub struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// What a load achieved.
pub struct Sent {
    /// The ids of every event answered `2xx`.
    pub acknowledged: Vec<String>,
    /// Requests refused or failed.
    pub refused: u64,
}

impl Load {
    /// Posts to `collector` (`http://host:port`) `per_second` requests a second.
    pub fn start(collector: &str, per_second: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicU64::new(0));
        let url = format!("{collector}/v1/events");
        let task = tokio::spawn({
            let (stop, acknowledged, refused) =
                (stop.clone(), acknowledged.clone(), refused.clone());
            async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("http client");
                let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for n in 0_usize.. {
                    tick.tick().await;
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let visitor = format!("load-visitor-{}", n % VISITORS);
                    let (body, ids) = clicks_from(&visitor, "granted", BATCH);
                    let answer = client
                        .post(&url)
                        .header("content-type", "text/plain")
                        .header("origin", ORIGIN)
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(answer) if answer.status().is_success() => acknowledged
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .extend(ids),
                        _ => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Self {
            stop,
            acknowledged,
            refused,
            task,
        }
    }

    /// Events acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops it once the request in flight is answered.
    pub async fn stop(self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the load task");
        Sent {
            acknowledged: std::mem::take(
                &mut self
                    .acknowledged
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            ),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}
