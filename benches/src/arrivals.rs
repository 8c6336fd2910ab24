//! When each event sent by the load generator arrives in ClickHouse, for
//! the tag → ClickHouse latency scenario. ClickHouse 18.16 keeps no insert
//! time per row, so arrival is observed: every poll interval, one query
//! asks for the ids of the events whose (send-stamped) `event_time` is no
//! older than the oldest event still awaited, and each awaited id found is
//! given the time that poll started. That overstates a latency by at most
//! one poll interval plus the query's own time, never understates it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Length of the send-time windows whose p99 [`Summary::p99_by_window_ms`]
/// lists: a long run shows whether its tail latency stays where it started.
pub const WINDOW_MS: i64 = 300_000;

/// Events awaited (id → send time, Unix ms) and the latencies of those seen,
/// over the whole run and per [`WINDOW_MS`] of send time.
#[derive(Debug)]
pub struct Tracker {
    pending: HashMap<String, i64>,
    latency_ms: Histogram<u64>,
    by_window: BTreeMap<i64, Histogram<u64>>,
    sent: u64,
}

impl Tracker {
    /// An empty tracker.
    ///
    /// # Errors
    /// Never in practice (the histogram's bounds are fixed and valid).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            pending: HashMap::new(),
            latency_ms: Histogram::new_with_bounds(1, 3_600_000, 3)?,
            by_window: BTreeMap::new(),
            sent: 0,
        })
    }

    /// `ids` were sent at `sent_ms`.
    pub fn sent(&mut self, ids: Vec<String>, sent_ms: i64) {
        self.sent += ids.len() as u64;
        self.pending.extend(ids.into_iter().map(|id| (id, sent_ms)));
    }

    /// `ids` will not arrive (their request failed or they were dropped).
    pub fn forget(&mut self, ids: &[String]) {
        for id in ids {
            if self.pending.remove(id).is_some() {
                self.sent -= 1;
            }
        }
    }

    /// `id` was seen in ClickHouse at `seen_ms`; ignored unless awaited.
    pub fn seen(&mut self, id: &str, seen_ms: i64) {
        if let Some(sent_ms) = self.pending.remove(id) {
            let ms = u64::try_from(seen_ms - sent_ms).unwrap_or(0).max(1);
            self.latency_ms.saturating_record(ms);
            let window = self
                .by_window
                .entry(sent_ms.div_euclid(WINDOW_MS))
                .or_insert_with(|| Histogram::new_from(&self.latency_ms));
            window.saturating_record(ms);
        }
    }

    /// Send time of the oldest event still awaited.
    #[must_use]
    pub fn oldest_ms(&self) -> Option<i64> {
        self.pending.values().min().copied()
    }

    /// What was measured.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let h = &self.latency_ms;
        let q = |quantile| (!h.is_empty()).then(|| h.value_at_quantile(quantile));
        Summary {
            events_tracked: self.sent,
            events_seen: h.len(),
            events_not_seen: self.pending.len() as u64,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            max_ms: (!h.is_empty()).then(|| h.max()),
            p99_by_window_ms: self
                .by_window
                .values()
                .map(|w| w.value_at_quantile(0.99))
                .collect(),
        }
    }
}

/// Tag → ClickHouse latencies of the events tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Events sent in the measured window and accepted (2xx, none dropped).
    pub events_tracked: u64,
    /// Of those, seen in ClickHouse.
    pub events_seen: u64,
    /// Of those, not seen before the wait ended.
    pub events_not_seen: u64,
    /// Latency percentiles and maximum, milliseconds.
    pub p50_ms: Option<u64>,
    /// 90th percentile.
    pub p90_ms: Option<u64>,
    /// 99th percentile.
    pub p99_ms: Option<u64>,
    /// Highest latency seen.
    pub max_ms: Option<u64>,
    /// The 99th percentile of the events sent in each [`WINDOW_MS`] of the
    /// run (by send time; the first and last windows are partial).
    pub p99_by_window_ms: Vec<u64>,
}

/// Where and how often to look.
#[derive(Debug, Clone)]
pub struct Poller {
    /// ClickHouse's HTTP interface, `http://host:port/`.
    pub clickhouse_url: String,
    /// `database.events`.
    pub table: String,
    /// Time between two polls.
    pub interval: Duration,
    /// How long to keep waiting for events once sending is done.
    pub wait_after: Duration,
}

impl Poller {
    /// Polls until `sending_done` is set and then every awaited event is
    /// seen or `wait_after` has passed.
    ///
    /// # Errors
    /// When ClickHouse cannot be queried.
    pub async fn run(
        self,
        tracker: Arc<Mutex<Tracker>>,
        sending_done: Arc<AtomicBool>,
    ) -> anyhow::Result<()> {
        let lock = || tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let mut deadline = None;
        loop {
            let started = Instant::now();
            let oldest = lock().oldest_ms();
            if let Some(oldest) = oldest {
                let poll_ms = now_ms();
                // event_time is whole seconds, corrected for clock skew: a
                // second of margin either way.
                let since_s = oldest / 1_000 - 1;
                let sql = format!(
                    "SELECT event_id FROM {} WHERE event_time >= toDateTime({since_s}) FORMAT TabSeparated",
                    self.table
                );
                let ids = crate::http::fetch(&self.clickhouse_url, Some(sql)).await?;
                let mut tracker = lock();
                for id in ids.lines() {
                    tracker.seen(id, poll_ms);
                }
            }
            if sending_done.load(Ordering::Acquire) {
                let deadline = *deadline.get_or_insert(started + self.wait_after);
                if lock().oldest_ms().is_none() || Instant::now() >= deadline {
                    return Ok(());
                }
            }
            tokio::time::sleep(self.interval.saturating_sub(started.elapsed())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_runs_from_send_to_first_sight_and_only_awaited_ids_count() {
        let mut t = Tracker::new().unwrap();
        t.sent(vec!["a".into(), "b".into()], 1_000);
        t.sent(vec!["c".into()], 1_500);
        t.forget(&["c".into()]);
        assert_eq!(t.oldest_ms(), Some(1_000));
        t.seen("a", 1_250);
        t.seen("a", 9_000);
        t.seen("zzz", 9_000);
        let s = t.summary();
        assert_eq!(
            (s.events_tracked, s.events_seen, s.events_not_seen),
            (2, 1, 1)
        );
        assert_eq!(s.max_ms, Some(250));
    }

    #[test]
    fn each_window_of_send_time_has_its_own_p99() {
        let mut t = Tracker::new().unwrap();
        let second_window = WINDOW_MS * 7;
        for i in 0..100 {
            let id = format!("early-{i}");
            t.sent(vec![id.clone()], second_window - WINDOW_MS);
            t.seen(&id, second_window - WINDOW_MS + 10);
            let id = format!("late-{i}");
            t.sent(vec![id.clone()], second_window + i);
            t.seen(&id, second_window + i + 2_000);
        }
        let s = t.summary();
        assert_eq!(s.p99_by_window_ms.len(), 2);
        assert_eq!(s.p99_by_window_ms[0], 10);
        assert!((1_990..=2_010).contains(&s.p99_by_window_ms[1]), "{s:?}");
    }
}
