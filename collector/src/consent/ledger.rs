//! The server-side consent ledger: per site and subject, what the latest
//! consent record said, which purposes were withdrawn (and when, on the
//! visitor's clock), and whether the subject was erased. The strongest
//! consent source: a withdrawal or an erasure wins over anything the tag or
//! a TC string says, unless the visitor made a newer choice.
//!
//! Built from `fiducia.consent.v1` on every collector (the follower in
//! [`super::follow`]), and updated at once by the collector that records a
//! change, so a withdrawal holds on that instance before the request that
//! carried it is even answered. Applying a record twice changes nothing.

use std::collections::HashMap;
use std::sync::RwLock;

use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord};

/// One subject's standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    /// Purposes granted by the latest record applied (never `necessary`:
    /// it is not a consent question).
    pub granted: PurposeSet,
    /// The latest record applied: a `consent` event sent again (a retry, a
    /// page-exit beacon) is recognised and not recorded twice.
    pub last_record_id: [u8; 16],
    /// When the visitor made the latest choice applied (client clock).
    pub client_ts_ms: i64,
    withdrawn_at: [Option<i64>; Purpose::ALL.len()],
    /// Erased: every purpose denied for good (a returning visitor gets a new id).
    pub erased: bool,
    /// Personalization was granted by an explicit act while GPC or DNT was
    /// on: the objection no longer stands.
    pub explicit_under_objection: bool,
}

impl Entry {
    /// When `purpose` was withdrawn (client clock), if it still is.
    #[must_use]
    pub fn withdrawn_at(&self, purpose: Purpose) -> Option<i64> {
        self.withdrawn_at[purpose as usize]
    }

    fn apply(&mut self, record: &ConsentRecord) {
        if self.erased {
            return;
        }
        let record_id = record.record_id.as_slice().try_into().unwrap_or_default();
        if record.action == ConsentAction::Erase as i32 {
            *self = Self {
                erased: true,
                client_ts_ms: record.client_ts_ms,
                last_record_id: record_id,
                ..Self::default()
            };
            return;
        }
        // An older choice arriving late (a retried request, a replay) is
        // already superseded.
        if record.client_ts_ms < self.client_ts_ms {
            return;
        }
        let state = record.state.clone().unwrap_or_default();
        let after = PurposeSet::granted_by(&state).without(Purpose::Necessary);
        let withdrawal = record.action == ConsentAction::Withdraw as i32
            || record.action == ConsentAction::Object as i32;
        for purpose in Purpose::CONSENTABLE {
            let slot = &mut self.withdrawn_at[purpose as usize];
            if after.contains(purpose) {
                *slot = None;
            } else if self.granted.contains(purpose) || withdrawal {
                *slot = Some(slot.map_or(record.client_ts_ms, |t| t.max(record.client_ts_ms)));
            }
        }
        self.explicit_under_objection = after.contains(Purpose::Personalization)
            && (state.gpc || state.dnt)
            && record.source.starts_with("tag:");
        self.granted = after;
        self.client_ts_ms = record.client_ts_ms;
        self.last_record_id = record_id;
    }
}

/// Every subject's standing, by site then subject.
#[derive(Debug, Default)]
pub struct Ledger {
    sites: RwLock<HashMap<String, HashMap<String, Entry>>>,
}

impl Ledger {
    /// The subject's standing, if any record names it.
    #[must_use]
    pub fn get(&self, site: &str, subject: &str) -> Option<Entry> {
        if subject.is_empty() {
            return None;
        }
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites.get(site)?.get(subject).copied()
    }

    /// Applies a record; records without a subject prove consent but have
    /// nobody to apply to.
    pub fn apply(&self, record: &ConsentRecord) {
        if record.subject.is_empty() || record.site_id.is_empty() {
            return;
        }
        let mut sites = self
            .sites
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let subjects = sites.entry(record.site_id.clone()).or_default();
        match subjects.get_mut(&record.subject) {
            Some(entry) => entry.apply(record),
            None => {
                let mut entry = Entry::default();
                entry.apply(record);
                subjects.insert(record.subject.clone(), entry);
            }
        }
    }

    /// Subjects held, over all sites.
    #[must_use]
    pub fn subjects(&self) -> usize {
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::ConsentSnapshot;

    use super::*;

    fn record(action: ConsentAction, granted: &[Purpose], client_ts_ms: i64) -> ConsentRecord {
        let mut state = ConsentSnapshot::default();
        for p in Purpose::CONSENTABLE {
            p.set_in(&mut state, granted.contains(&p));
        }
        ConsentRecord {
            site_id: "demo".into(),
            subject: "v1".into(),
            action: action as i32,
            state: Some(state),
            source: "tag:api".into(),
            client_ts_ms,
            ..ConsentRecord::default()
        }
    }

    const M: Purpose = Purpose::Measurement;
    const P: Purpose = Purpose::Personalization;

    #[test]
    fn a_withdrawal_is_remembered_with_its_time_until_a_newer_grant() {
        let ledger = Ledger::default();
        ledger.apply(&record(ConsentAction::Grant, &[M, P], 100));
        let entry = ledger.get("demo", "v1").unwrap();
        assert_eq!(
            entry.granted,
            PurposeSet::of(&[M, P]),
            "necessary is no grant"
        );
        assert_eq!(entry.withdrawn_at(P), None);

        ledger.apply(&record(ConsentAction::Withdraw, &[M], 200));
        let entry = ledger.get("demo", "v1").unwrap();
        assert_eq!(entry.withdrawn_at(P), Some(200));
        assert_eq!(entry.withdrawn_at(M), None);

        // The stale grant arriving late changes nothing.
        ledger.apply(&record(ConsentAction::Grant, &[M, P], 150));
        assert_eq!(ledger.get("demo", "v1").unwrap().withdrawn_at(P), Some(200));

        ledger.apply(&record(ConsentAction::Grant, &[M, P], 300));
        assert_eq!(ledger.get("demo", "v1").unwrap().withdrawn_at(P), None);
    }

    #[test]
    fn applying_a_record_twice_changes_nothing() {
        let ledger = Ledger::default();
        let grant = record(ConsentAction::Grant, &[M], 100);
        let withdraw = record(ConsentAction::Withdraw, &[], 200);
        for r in [&grant, &withdraw] {
            ledger.apply(r);
        }
        let once = ledger.get("demo", "v1");
        for r in [&grant, &withdraw, &withdraw] {
            ledger.apply(r);
        }
        assert_eq!(ledger.get("demo", "v1"), once);
        assert_eq!(ledger.subjects(), 1);
    }

    #[test]
    fn a_first_record_that_withdraws_marks_its_denied_purposes() {
        let ledger = Ledger::default();
        ledger.apply(&record(ConsentAction::Object, &[M], 100));
        let entry = ledger.get("demo", "v1").unwrap();
        assert_eq!(entry.withdrawn_at(P), Some(100));
        assert_eq!(entry.withdrawn_at(M), None);
    }

    #[test]
    fn erasure_wins_for_good() {
        let ledger = Ledger::default();
        ledger.apply(&record(ConsentAction::Grant, &[M, P], 100));
        ledger.apply(&record(ConsentAction::Erase, &[], 200));
        ledger.apply(&record(ConsentAction::Grant, &[M, P], 300));
        let entry = ledger.get("demo", "v1").unwrap();
        assert!(entry.erased);
        assert!(entry.granted.is_empty());
    }

    #[test]
    fn an_explicit_grant_under_gpc_is_remembered() {
        let ledger = Ledger::default();
        let mut grant = record(ConsentAction::Grant, &[M, P], 100);
        grant.state.as_mut().unwrap().gpc = true;
        ledger.apply(&grant);
        assert!(ledger.get("demo", "v1").unwrap().explicit_under_objection);
        let mut derived = grant.clone();
        derived.source = "tcf:300".into();
        derived.client_ts_ms = 200;
        ledger.apply(&derived);
        assert!(!ledger.get("demo", "v1").unwrap().explicit_under_objection);
    }

    #[test]
    fn records_without_a_subject_and_unknown_subjects_are_nobody() {
        let ledger = Ledger::default();
        let mut anonymous = record(ConsentAction::Grant, &[M], 100);
        anonymous.subject.clear();
        ledger.apply(&anonymous);
        assert_eq!(ledger.subjects(), 0);
        assert_eq!(ledger.get("demo", ""), None);
        assert_eq!(ledger.get("demo", "v2"), None);
    }
}
