//! What the privacy center shows of a visitor's records: the state of
//! every purpose now (granted or not, since when, by which source and
//! record) and, per record, what it changed. Granted means what the ledger
//! enforces ([`Entry`]: the latest record received, withdrawals and
//! erasure) and not lapsed at the record's expiry; the history says since
//! when and why.

use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord};
use serde::Serialize;

use crate::consent::ledger::Entry;

/// One purpose now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurposeState {
    /// Whether it may be used now.
    pub granted: bool,
    /// `granted`, or why not: `denied` (never granted), `withdrawn`,
    /// `expired`, `erased`, `not_given` (no record says anything).
    pub status: &'static str,
    /// When the record that set it so was received (server clock, Unix
    /// ms); `None` without records.
    pub since: Option<i64>,
    /// That record's source (`tag:api`, `tcf:300`, `gpc`, `privacy:center`, …).
    pub source: Option<String>,
    /// That record's id.
    pub record_id: Option<String>,
    /// When a grant lapses (Unix ms), for a granted purpose.
    pub expires_at: Option<i64>,
}

/// What one record changed, purpose by purpose (`granted` or `withdrawn`;
/// for a first record `granted` or `denied` for every purpose).
#[must_use]
pub fn changes(
    before: Option<&ConsentRecord>,
    record: &ConsentRecord,
) -> Vec<(Purpose, &'static str)> {
    let after = stated(record);
    Purpose::CONSENTABLE
        .into_iter()
        .filter_map(|p| match before.map(|b| stated(b).contains(p)) {
            None => Some((
                p,
                if after.contains(p) {
                    "granted"
                } else {
                    "denied"
                },
            )),
            Some(was) if was == after.contains(p) => None,
            Some(_) if after.contains(p) => Some((p, "granted")),
            Some(_) => Some((p, "withdrawn")),
        })
        .collect()
}

/// The purposes a record states granted (none for an erasure).
#[must_use]
pub fn stated(record: &ConsentRecord) -> PurposeSet {
    if record.action() == ConsentAction::Erase {
        return PurposeSet::EMPTY;
    }
    record
        .state
        .as_ref()
        .map_or(PurposeSet::EMPTY, PurposeSet::granted_by)
        .without(Purpose::Necessary)
}

/// Every consentable purpose now, from the subject's records (oldest
/// first) and ledger entry.
#[must_use]
pub fn current(
    records: &[ConsentRecord],
    entry: Option<&Entry>,
    now_ms: i64,
) -> Vec<(Purpose, PurposeState)> {
    let latest = records.last();
    let erased = entry.is_some_and(|e| e.erased);
    Purpose::CONSENTABLE
        .into_iter()
        .map(|purpose| {
            let value = |r: &ConsentRecord| stated(r).contains(purpose);
            // The first record of the trailing run with the latest value.
            let setter = latest.map(|last| {
                let now_value = value(last);
                let start = records
                    .iter()
                    .rposition(|r| value(r) != now_value)
                    .map_or(0, |i| i + 1);
                &records[start]
            });
            let enforced = entry.is_some_and(|e| e.granted.contains(purpose));
            let lapsed = latest.is_some_and(|r| r.expires_at_ms > 0 && now_ms >= r.expires_at_ms);
            let ever = records.iter().any(value);
            let granted = enforced && !erased && !lapsed;
            let status = match () {
                () if granted => "granted",
                () if erased => "erased",
                () if latest.is_none() => "not_given",
                () if enforced && lapsed => "expired",
                () if ever => "withdrawn",
                () => "denied",
            };
            let state = PurposeState {
                granted,
                status,
                since: setter.map(|r| r.server_ts_ms),
                source: setter.map(|r| r.source.clone()),
                record_id: setter.map(record_id),
                expires_at: latest
                    .filter(|r| granted && r.expires_at_ms > 0)
                    .map(|r| r.expires_at_ms),
            };
            (purpose, state)
        })
        .collect()
}

/// A record's id as a UUID string.
#[must_use]
pub fn record_id(record: &ConsentRecord) -> String {
    super::requests::id_text(&record.record_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ledger::Ledger;

    const M: Purpose = Purpose::Measurement;
    const P: Purpose = Purpose::Personalization;

    fn record(action: ConsentAction, granted: &[Purpose], at: i64, source: &str) -> ConsentRecord {
        ConsentRecord {
            source: source.into(),
            expires_at_ms: if granted.is_empty() { 0 } else { at + 1_000 },
            ..crate::consent::testing::record("v", action, granted, at)
        }
    }

    fn now_of(records: &[ConsentRecord], now: i64) -> Vec<(Purpose, PurposeState)> {
        let ledger = Ledger::default();
        records.iter().for_each(|r| ledger.apply(r));
        current(records, ledger.get("demo", "v").as_ref(), now)
    }

    fn get(states: &[(Purpose, PurposeState)], purpose: Purpose) -> &PurposeState {
        &states.iter().find(|(p, _)| *p == purpose).unwrap().1
    }

    #[test]
    fn a_purpose_is_on_since_the_record_that_turned_it_on() {
        let records = [
            record(ConsentAction::Grant, &[M], 100, "tag:api"),
            record(ConsentAction::Grant, &[M, P], 200, "tag:api"),
            record(ConsentAction::Update, &[M, P], 300, "tcf:300"),
            record(ConsentAction::Withdraw, &[M], 400, "privacy:center"),
        ];
        let states = now_of(&records, 500);
        let m = get(&states, M);
        assert_eq!((m.granted, m.status, m.since), (true, "granted", Some(100)));
        assert_eq!(m.expires_at, Some(1_400));
        let p = get(&states, P);
        assert_eq!(
            (p.granted, p.status, p.since),
            (false, "withdrawn", Some(400))
        );
        assert_eq!(p.source.as_deref(), Some("privacy:center"));
        let f = get(&states, Purpose::Functional);
        assert_eq!((f.granted, f.status, f.since), (false, "denied", Some(100)));
        assert_eq!(get(&now_of(&records, 1_400), M).status, "expired");
        assert_eq!(get(&now_of(&[], 1), M).status, "not_given");
        let mut erased = records.to_vec();
        erased.push(record(ConsentAction::Erase, &[], 600, "privacy"));
        assert_eq!(get(&now_of(&erased, 700), M).status, "erased");
    }

    #[test]
    fn each_record_names_what_it_changed() {
        let first = record(ConsentAction::Grant, &[M], 100, "tag:api");
        let second = record(ConsentAction::Update, &[P], 200, "tag:api");
        assert_eq!(
            changes(None, &first),
            [
                (M, "granted"),
                (P, "denied"),
                (Purpose::Functional, "denied"),
                (Purpose::Contextual, "denied")
            ]
        );
        assert_eq!(
            changes(Some(&first), &second),
            [(M, "withdrawn"), (P, "granted")]
        );
        assert!(changes(Some(&second), &second).is_empty());
    }
}
