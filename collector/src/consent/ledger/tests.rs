//! The ledger's rules, one case each.

use super::*;

/// A record received at `server_ts_ms`; its client time is a forgery
/// far in the future, which must never matter.
fn record(action: ConsentAction, granted: &[Purpose], server_ts_ms: i64) -> ConsentRecord {
    ConsentRecord {
        client_ts_ms: i64::MAX,
        ..crate::consent::testing::record("v1", action, granted, server_ts_ms)
    }
}

const M: Purpose = Purpose::Measurement;
const P: Purpose = Purpose::Personalization;

#[test]
fn a_withdrawal_is_remembered_with_its_time_until_a_grant_received_later() {
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

    // A grant received before the withdrawal, applied late (a replay,
    // another collector's record) changes nothing.
    ledger.apply(&record(ConsentAction::Grant, &[M, P], 150));
    assert_eq!(ledger.get("demo", "v1").unwrap().withdrawn_at(P), Some(200));

    ledger.apply(&record(ConsentAction::Grant, &[M, P], 300));
    assert_eq!(ledger.get("demo", "v1").unwrap().withdrawn_at(P), None);
}

#[test]
fn a_forged_client_time_cannot_hide_a_later_withdrawal() {
    let ledger = Ledger::default();
    let mut forged = record(ConsentAction::Grant, &[M, P], 100);
    forged.client_ts_ms = i64::MAX;
    ledger.apply(&forged);
    let mut withdrawal = record(ConsentAction::Withdraw, &[], 200);
    withdrawal.client_ts_ms = 1;
    ledger.apply(&withdrawal);
    let entry = ledger.get("demo", "v1").unwrap();
    assert!(entry.granted.is_empty());
    assert_eq!(entry.withdrawn_at(M), Some(200));
    assert_eq!(entry.withdrawn_at(P), Some(200));
}

#[test]
fn records_received_in_the_same_millisecond_merge_towards_denial() {
    for order in [[0, 1], [1, 0]] {
        let ledger = Ledger::default();
        ledger.apply(&record(ConsentAction::Grant, &[M, P], 100));
        let pair = [
            record(ConsentAction::Grant, &[M, P], 200),
            record(ConsentAction::Withdraw, &[M], 200),
        ];
        for i in order {
            ledger.apply(&pair[i]);
        }
        let entry = ledger.get("demo", "v1").unwrap();
        assert_eq!(entry.granted, PurposeSet::of(&[M]), "{order:?}");
        assert_eq!(entry.withdrawn_at(P), Some(200), "{order:?}");
    }
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
fn granted_since_is_the_record_that_last_turned_a_purpose_on() {
    let ledger = Ledger::default();
    ledger.apply(&record(ConsentAction::Grant, &[M, P], 100));
    ledger.apply(&record(ConsentAction::Update, &[M, P], 150));
    assert_eq!(
        ledger.get("demo", "v1").unwrap().granted_since(P),
        Some(100)
    );
    ledger.apply(&record(ConsentAction::Withdraw, &[M], 200));
    let entry = ledger.get("demo", "v1").unwrap();
    assert_eq!(entry.granted_since(P), None);
    // Exact for personalization; for another purpose an entry that was
    // held packed reads back its latest record's time, never earlier.
    assert!(
        entry
            .granted_since(M)
            .is_some_and(|since| (100..=150).contains(&since))
    );
    ledger.apply(&record(ConsentAction::Grant, &[M, P], 300));
    assert_eq!(
        ledger.get("demo", "v1").unwrap().granted_since(P),
        Some(300)
    );
    // Same millisecond as a withdrawal: denied, so not granted since.
    ledger.apply(&record(ConsentAction::Withdraw, &[M], 300));
    assert_eq!(ledger.get("demo", "v1").unwrap().granted_since(P), None);
    ledger.apply(&record(ConsentAction::Erase, &[], 400));
    assert_eq!(ledger.get("demo", "v1").unwrap().granted_since(M), None);
}

#[test]
fn the_observer_sees_every_applied_entry() {
    let ledger = Ledger::default();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    ledger
        .observe(Arc::new(move |site: &str, subject: &str, entry: &Entry| {
            log.lock()
                .unwrap()
                .push((site.to_owned(), subject.to_owned(), entry.granted));
        }))
        .map_err(|_| ())
        .unwrap();
    ledger.apply(&record(ConsentAction::Grant, &[M, P], 100));
    ledger.apply(&record(ConsentAction::Withdraw, &[M], 200));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1], ("demo".into(), "v1".into(), PurposeSet::of(&[M])));
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
fn only_a_grant_through_the_sites_api_lifts_an_objection() {
    let ledger = Ledger::default();
    let mut grant = record(ConsentAction::Grant, &[M, P], 100);
    grant.state.as_mut().unwrap().gpc = true;
    ledger.apply(&grant);
    assert!(ledger.get("demo", "v1").unwrap().explicit_under_objection);
    for (source, at) in [("tcf:300", 200), ("tag:tcf", 300), ("tag:gcm", 400)] {
        let mut other = grant.clone();
        other.source = source.into();
        other.server_ts_ms = at;
        ledger.apply(&other);
        assert!(
            !ledger.get("demo", "v1").unwrap().explicit_under_objection,
            "{source}"
        );
    }
}

#[test]
fn an_erasure_by_user_key_covers_that_user_id_on_its_site_only() {
    let ledger = Ledger::default();
    assert!(!ledger.user_erased("demo", "u-42"));
    let mut erase = record(ConsentAction::Erase, &[], 100);
    erase.subject.clear();
    erase.user_key = fiducia_proto::privacy::user_key("demo", "u-42");
    ledger.apply(&erase);
    assert!(ledger.user_erased("demo", "u-42"));
    assert!(ledger.user_key_erased("demo", &erase.user_key));
    assert!(!ledger.user_erased("demo", "u-43"));
    assert!(!ledger.user_erased("demo", ""));
    assert!(!ledger.user_erased("other", "u-42"));
    assert_eq!(ledger.subjects(), 0, "no visitor is named");
    // A grant by user key is no erasure.
    let mut grant = record(ConsentAction::Grant, &[M], 200);
    grant.subject.clear();
    grant.user_key = fiducia_proto::privacy::user_key("demo", "u-44");
    ledger.apply(&grant);
    assert!(!ledger.user_erased("demo", "u-44"));
}

#[test]
fn the_latest_retention_choice_stands_and_the_shorter_wins_a_tie() {
    let ledger = Ledger::default();
    let with = |months, at| ConsentRecord {
        retention_months: months,
        ..record(ConsentAction::Update, &[M], at)
    };
    ledger.apply(&with(6, 100));
    assert_eq!(ledger.get("demo", "v1").unwrap().retention_months, 6);
    ledger.apply(&with(1, 200));
    ledger.apply(&with(13, 200));
    assert_eq!(ledger.get("demo", "v1").unwrap().retention_months, 1);
    ledger.apply(&with(0, 300));
    assert_eq!(ledger.get("demo", "v1").unwrap().retention_months, 0);
    // Superseded: received before the latest.
    ledger.apply(&with(6, 250));
    assert_eq!(ledger.get("demo", "v1").unwrap().retention_months, 0);
}

#[test]
fn only_what_wins_over_the_tag_is_held_in_full() {
    let ledger = Ledger::default();
    let subject = |v: &str, action, granted: &[Purpose], at| ConsentRecord {
        subject: v.into(),
        ..record(action, granted, at)
    };
    ledger.apply(&subject("v1", ConsentAction::Grant, &[M, P], 100));
    ledger.apply(&subject("v2", ConsentAction::Grant, &[M], 100));
    ledger.apply(&subject("v3", ConsentAction::Grant, &[M, P], 100));
    ledger.apply(&subject("v3", ConsentAction::Withdraw, &[M], 200));
    let size = ledger.size();
    assert_eq!((size.subjects, size.held), (3, 1));
    assert!(size.bytes > 0);
    let packed = ledger.get("demo", "v1").unwrap();
    assert_eq!(packed.granted, PurposeSet::of(&[M, P]));
    assert_eq!(packed.granted_since(P), Some(100));
    assert_eq!(ledger.get("demo", "v3").unwrap().withdrawn_at(P), Some(200));
    // Granted again, every purpose the withdrawal denied: nothing wins
    // over the tag any more, packed again, personalization granted
    // since the new grant.
    let all = Purpose::CONSENTABLE;
    ledger.apply(&subject("v3", ConsentAction::Grant, &all[..1], 250));
    assert_eq!(ledger.size().held, 1, "still withdrawn: personalization");
    ledger.apply(&subject("v3", ConsentAction::Grant, &all, 300));
    assert_eq!(ledger.size().held, 0);
    assert_eq!(
        ledger.get("demo", "v3").unwrap().granted_since(P),
        Some(300)
    );
    assert_eq!(ledger.get("other", "v1"), None);
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
