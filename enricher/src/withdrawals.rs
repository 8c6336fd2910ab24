//! Withdrawals of personalization as they happen: every consent record from
//! now on is read from `fiducia.consent.v1` by a live follower
//! ([`FollowSettings::live`]); one that leaves personalization off for a
//! subject (a withdrawal in the privacy center, a new choice in the banner,
//! an objection, an erasure) is queued here, and the next batch forgets
//! that subject's profile ([`crate::profiles::ProfileStore::withdraw`]) and
//! tombstones it in the profiles topic, without waiting for the visitor's
//! next event.
//!
//! An idle enricher does not wait for a raw event to apply it: queuing
//! wakes its consume loop, which runs an empty batch.
//!
//! No history is read: a withdrawal made while no enricher ran is caught by
//! the visitor's next event instead (it comes without personalization, or
//! says when personalization was turned on again), and the collectors never
//! serve a profile begun before the latest grant meanwhile.

use std::sync::{Arc, Mutex};

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::ConsentRecord;
use fiducia_runtime::kafka::follow::{self, FollowSettings, FollowState};
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A subject whose personalization stood off from `at_ms` (server time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// Site.
    pub site: String,
    /// Visitor id.
    pub visitor: String,
    /// When a collector received the record.
    pub at_ms: i64,
}

/// The withdrawals not yet applied, shared by the follower and the batches.
#[derive(Debug, Default)]
pub struct Withdrawals {
    queued: Mutex<Vec<Withdrawal>>,
    /// Notified for each withdrawal queued: an idle consume loop then runs
    /// an empty batch, so the profile's tombstone does not wait for the
    /// next raw event (`fiducia_runtime::kafka::consume::BatchHandler::wake`).
    wake: Arc<Notify>,
}

impl Withdrawals {
    /// Queues the subject of `record` when it leaves personalization off.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    pub fn apply(&self, record: &ConsentRecord) {
        if record.site_id.is_empty() || record.subject.is_empty() {
            return;
        }
        let state = record.state.clone().unwrap_or_default();
        if Purpose::Personalization.granted_by(&state) && record.action != ERASE {
            return;
        }
        self.queued.lock().expect("not poisoned").push(Withdrawal {
            site: record.site_id.clone(),
            visitor: record.subject.clone(),
            at_ms: record.server_ts_ms,
        });
        self.wake.notify_one();
    }

    /// What [`Self::apply`] notifies when it queues a withdrawal.
    #[must_use]
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Everything queued since the last call.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    pub fn take(&self) -> Vec<Withdrawal> {
        std::mem::take(&mut *self.queued.lock().expect("not poisoned"))
    }
}

const ERASE: i32 = fiducia_proto::v1::ConsentAction::Erase as i32;

/// Starts following what arrives in `topic` (the consent topic) into
/// `withdrawals`.
#[must_use]
pub fn spawn(
    withdrawals: Arc<Withdrawals>,
    brokers: &str,
    topic: &str,
    lag_metric: &'static str,
    shutdown: CancellationToken,
) -> Arc<FollowState> {
    let settings = FollowSettings::live(brokers, topic, "fiducia-enricher-withdrawals", lag_metric);
    let apply = move |payload: &[u8]| match ConsentRecord::decode(payload) {
        Ok(record) => withdrawals.apply(&record),
        Err(error) => tracing::warn!(%error, "undecodable consent record skipped"),
    };
    follow::spawn(settings, apply, shutdown)
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::{ConsentAction, ConsentSnapshot, ConsentState};

    use super::*;

    fn record(
        subject: &str,
        personalization: ConsentState,
        action: ConsentAction,
    ) -> ConsentRecord {
        ConsentRecord {
            site_id: "demo".into(),
            subject: subject.into(),
            action: action.into(),
            state: Some(ConsentSnapshot {
                personalization: personalization.into(),
                ..ConsentSnapshot::default()
            }),
            server_ts_ms: 42,
            ..ConsentRecord::default()
        }
    }

    #[test]
    fn records_leaving_personalization_off_are_queued_once_and_taken() {
        let withdrawals = Withdrawals::default();
        withdrawals.apply(&record("v1", ConsentState::Denied, ConsentAction::Withdraw));
        withdrawals.apply(&record(
            "v2",
            ConsentState::Unspecified,
            ConsentAction::Update,
        ));
        withdrawals.apply(&record("v3", ConsentState::Granted, ConsentAction::Erase));
        // A grant, and a record without a subject: nothing to forget.
        withdrawals.apply(&record("v4", ConsentState::Granted, ConsentAction::Grant));
        withdrawals.apply(&record("", ConsentState::Denied, ConsentAction::Deny));
        let taken: Vec<String> = withdrawals.take().into_iter().map(|w| w.visitor).collect();
        assert_eq!(taken, ["v1", "v2", "v3"]);
        assert!(withdrawals.take().is_empty());
    }
}
