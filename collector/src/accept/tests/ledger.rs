//! The ledger's history against what a request claims: withdrawals, forged
//! times, erasure, and a consent event sent twice.

use super::*;

#[test]
fn a_ledger_withdrawal_wins_until_a_new_choice_is_recorded() {
    let case = Case::new(&tag(&["measurement"], 2), &["page_view"]);
    case.ledger.apply(&ledger_record(
        ConsentAction::Grant,
        &[Purpose::Measurement],
        NOW - 3 * DAY,
    ));
    case.ledger
        .apply(&ledger_record(ConsentAction::Withdraw, &[], NOW - DAY));
    let (accepted, resolution) = case.run();
    assert!(accepted.events.is_empty());
    assert_eq!(accepted.dropped[0].0.reason.as_str(), "withdrawn");
    assert!(resolution.grants.objected);
    // A tag state stamped after the withdrawal, with no consent event, is no
    // recorded choice: the client clock does not decide.
    let mut newer = Case::new(&tag(&["measurement"], 0), &["page_view"]);
    newer.ledger = case.ledger;
    assert!(newer.run().0.events.is_empty());
    // A new choice in this envelope (a consent event) is recorded after the
    // withdrawal, and counts.
    let mut regrant = Case::new(&tag(&["measurement"], 0), &["consent", "page_view"]);
    regrant.ledger = newer.ledger;
    let (accepted, _) = regrant.run();
    assert_eq!(accepted.events.len(), 1);
    assert_eq!(accepted.records[0].1.action(), ConsentAction::Grant);
}

#[test]
fn a_forged_client_time_neither_hides_a_withdrawal_nor_reaches_a_record() {
    // A CMP accept whose consent event claims to come from the end of time.
    let accept_all = format!(r#"{{"source":"tcf","tcf":"{ACCEPT_ALL}"}}"#);
    let mut case = Case::new(&accept_all, &["consent"]);
    case.body = case
        .body
        .replace(&format!(r#""ts":{NOW}"#), r#""ts":9223372036854775807"#);
    let (accepted, _) = case.run();
    let record = &accepted.records[0].1;
    assert_eq!(record.action(), ConsentAction::Grant);
    assert_eq!(record.server_ts_ms, NOW);
    // The TC string decided: its own LastUpdated is when the visitor chose.
    assert_eq!(
        record.client_ts_ms, 1_768_435_200_000,
        "2026-01-15, never the forged time"
    );
    case.ledger.apply(record);
    // The visitor withdraws a minute later, from a tab with a slow clock.
    let mut withdraw = Case::new(&tag(&[], 300), &["consent"]);
    withdraw.meta.received_at_ms = NOW + 60_000;
    withdraw.ledger = case.ledger;
    let (accepted, _) = withdraw.run();
    assert_eq!(accepted.records[0].1.action(), ConsentAction::Withdraw);
    withdraw.ledger.apply(&accepted.records[0].1);
    // The CMP's string, sent again without a new choice, grants nothing now.
    let mut stale = Case::new(&accept_all, &["page_view"]);
    stale.meta.received_at_ms = NOW + 120_000;
    stale.ledger = withdraw.ledger;
    assert_eq!(
        stale.run().0.dropped,
        vec![(
            DropReason {
                purpose: Purpose::Measurement,
                reason: crate::consent::DenyReason::Withdrawn
            },
            1
        )]
    );
}

#[test]
fn an_erased_subject_gets_nothing_through() {
    let case = Case::new(
        &tag(&["measurement", "personalization"], 0),
        &["page_view", "consent"],
    );
    case.ledger
        .apply(&ledger_record(ConsentAction::Erase, &[], NOW - DAY));
    let (accepted, _) = case.run();
    assert!(accepted.events.is_empty());
    assert_eq!(accepted.dropped[0].0.reason.as_str(), "erased");
}

#[test]
fn a_consent_event_sent_twice_is_recorded_once_and_a_repeat_choice_is_an_update() {
    let case = Case::new(&tag(&["measurement"], 0), &["consent", "page_view"]);
    let (first, _) = case.run();
    assert_eq!(first.records[0].1.action(), ConsentAction::Grant);
    case.ledger.apply(&first.records[0].1);
    // The same request again (a page-exit beacon and a retry both carry it).
    let (again, _) = case.run();
    assert!(again.records.is_empty());
    assert_eq!(
        again.events.len(),
        1,
        "its events still count (they dedup downstream)"
    );
    // A new event with the same choice confirms it: an update, not a withdrawal.
    let mut repeat = Case::new(&tag(&["measurement"], 0), &["consent"]);
    repeat.ledger = case.ledger;
    assert_eq!(repeat.run().0.records[0].1.action(), ConsentAction::Update);
}

#[test]
fn events_carry_since_when_the_ledger_has_personalization_on() {
    let both = [Purpose::Measurement, Purpose::Personalization];
    let case = Case::new(&tag(&["measurement", "personalization"], 2), &["page_view"]);
    // No record of personalization: nothing to say.
    let (accepted, _) = case.run();
    assert_eq!(accepted.events[0].1.personalization_since_ms, 0);
    case.ledger
        .apply(&ledger_record(ConsentAction::Grant, &both, NOW - 3 * DAY));
    case.ledger.apply(&ledger_record(
        ConsentAction::Withdraw,
        &[Purpose::Measurement],
        NOW - 2 * DAY,
    ));
    case.ledger
        .apply(&ledger_record(ConsentAction::Grant, &both, NOW - DAY));
    let (accepted, _) = case.run();
    // Turned on again a day ago: what the enricher must not go back before.
    assert_eq!(accepted.events[0].1.personalization_since_ms, NOW - DAY);
}
