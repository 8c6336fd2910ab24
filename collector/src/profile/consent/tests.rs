//! The rule against an oracle written from its words (module docs of
//! [`super`]), over arbitrary consent histories, headers and profiles; and
//! the cases that matter most, one by one.

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ConsentAction, ConsentRecord};
use proptest::prelude::*;

use super::*;
use crate::consent::ledger::Ledger;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_796_601_600_000;
const MAX_AGE: i64 = 395 * DAY;
const P: Purpose = Purpose::Personalization;
const M: Purpose = Purpose::Measurement;

/// One generated record: what it grants, how it was made, when received.
#[derive(Debug, Clone)]
struct Step {
    action: ConsentAction,
    personalization: bool,
    objection_in_state: bool,
    source: &'static str,
    at_ms: i64,
}

fn record(step: &Step) -> ConsentRecord {
    let granted: &[Purpose] = if step.personalization { &[M, P] } else { &[M] };
    let mut record = crate::consent::testing::record("v-1", step.action, granted, step.at_ms);
    record.source = step.source.into();
    if let Some(state) = record.state.as_mut() {
        state.gpc = step.objection_in_state;
    }
    record
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (
        prop_oneof![
            6 => Just(ConsentAction::Grant),
            3 => Just(ConsentAction::Withdraw),
            3 => Just(ConsentAction::Update),
            1 => Just(ConsentAction::Object),
            1 => Just(ConsentAction::Erase),
        ],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just("tag:api"),
            Just("tag:tcf"),
            Just("privacy:center"),
            Just("gpc")
        ],
        1..150 * DAY,
    );
    let steps = prop::collection::vec(step, 0..6);
    (steps, 0..450 * DAY).prop_map(|(raw, last_age)| {
        // Received in order, each after the one before, the last
        // `last_age` before now (fresh or not, about half and half).
        let total: i64 = raw.iter().map(|s| s.4).sum();
        let mut at = NOW - last_age - total;
        raw.into_iter()
            .map(
                |(action, personalization, objection_in_state, source, gap)| {
                    at += gap;
                    Step {
                        action,
                        personalization,
                        objection_in_state,
                        source,
                        at_ms: at,
                    }
                },
            )
            .collect()
    })
}

/// When the profile was begun: none, anywhere, or right around one of the
/// records (where the rule's edge is).
#[derive(Debug, Clone, Copy)]
enum Begun {
    None,
    At(i64),
    Near(usize, i64),
}

fn begun() -> impl Strategy<Value = Begun> {
    prop_oneof![
        1 => Just(Begun::None),
        2 => (NOW - 4 * 365 * DAY..NOW).prop_map(Begun::At),
        4 => (0..6usize, -2i64..=2).prop_map(|(i, d)| Begun::Near(i, d)),
    ]
}

fn begun_at(begun: Begun, steps: &[Step]) -> Option<i64> {
    match begun {
        Begun::None => None,
        Begun::At(at) => Some(at),
        Begun::Near(_, d) if steps.is_empty() => Some(NOW + d),
        Begun::Near(i, d) => Some(steps[i % steps.len()].at_ms + d),
    }
}

/// The oracle: the rule in its own words, read off the records themselves.
fn oracle(steps: &[Step], caught_up: bool, gpc: bool, dnt: bool, begun: Option<i64>) -> bool {
    if !caught_up {
        return false;
    }
    // No record, or erased once (for good).
    let Some(last) = steps.last() else {
        return false;
    };
    if steps.iter().any(|s| s.action == ConsentAction::Erase) {
        return false;
    }
    // The latest record grants personalization and is fresh.
    if !last.personalization || NOW - last.at_ms > MAX_AGE {
        return false;
    }
    // An objection stands unless the latest record granted under it,
    // explicitly (the site's own API or the privacy center).
    let explicit = last.objection_in_state && matches!(last.source, "tag:api" | "privacy:center");
    if (gpc || dnt) && !explicit {
        return false;
    }
    // Turned on by the first record of the trailing run that grants it.
    let run = steps.iter().rev().take_while(|s| s.personalization).count();
    let since = steps[steps.len() - run].at_ms;
    begun.is_some_and(|b| b >= since)
}

fn entry_of(steps: &[Step]) -> Option<Entry> {
    let ledger = Ledger::default();
    for step in steps {
        ledger.apply(&record(step));
    }
    ledger.get("demo", "v-1")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn an_answer_is_personal_exactly_when_the_rule_says_so(
        steps in steps(),
        caught_up in prop::bool::weighted(0.9),
        gpc in prop::bool::weighted(0.3),
        dnt in prop::bool::weighted(0.2),
        begun in begun(),
    ) {
        let begun = begun_at(begun, &steps);
        let entry = entry_of(&steps);
        let facts = Facts {
            ledger_caught_up: caught_up,
            entry: entry.as_ref(),
            max_age_ms: MAX_AGE,
            gpc,
            dnt,
            profile_begun_at_ms: begun,
            now_ms: NOW,
        };
        let expected = oracle(&steps, caught_up, gpc, dnt, begun);
        let decided = decide(&facts);
        prop_assert_eq!(decided.is_ok(), expected, "{:?}", decided);
        if let Ok(basis) = decided {
            prop_assert_eq!(basis.record_at_ms, steps.last().unwrap().at_ms);
        }
    }
}

fn facts(entry: Option<&Entry>, begun: Option<i64>) -> Facts<'_> {
    Facts {
        ledger_caught_up: true,
        entry,
        max_age_ms: MAX_AGE,
        gpc: false,
        dnt: false,
        profile_begun_at_ms: begun,
        now_ms: NOW,
    }
}

fn at(action: ConsentAction, personalization: bool, at_ms: i64) -> Step {
    Step {
        action,
        personalization,
        objection_in_state: false,
        source: "tag:api",
        at_ms,
    }
}

#[test]
fn a_profile_begun_before_a_withdrawal_and_a_new_grant_is_never_served() {
    let steps = [
        at(ConsentAction::Grant, true, NOW - 30 * DAY),
        at(ConsentAction::Withdraw, false, NOW - 20 * DAY),
        at(ConsentAction::Grant, true, NOW - 10 * DAY),
    ];
    let entry = entry_of(&steps).unwrap();
    assert_eq!(
        decide(&facts(Some(&entry), Some(NOW - 25 * DAY))),
        Err(Contextual::ProfileBeforeGrant)
    );
    let basis = decide(&facts(Some(&entry), Some(NOW - 10 * DAY))).unwrap();
    assert_eq!(basis.granted_since_ms, NOW - 10 * DAY);
}

#[test]
fn each_missing_condition_answers_contextual_with_its_reason() {
    let granted = entry_of(&[at(ConsentAction::Grant, true, NOW - DAY)]).unwrap();
    let begun = Some(NOW - DAY);
    assert!(decide(&facts(Some(&granted), begun)).is_ok());
    let cases = [
        (
            Facts {
                ledger_caught_up: false,
                ..facts(Some(&granted), begun)
            },
            Contextual::LedgerCatchingUp,
        ),
        (facts(None, begun), Contextual::NoRecord),
        (
            Facts {
                gpc: true,
                ..facts(Some(&granted), begun)
            },
            Contextual::Objection,
        ),
        (
            Facts {
                now_ms: NOW + MAX_AGE,
                ..facts(Some(&granted), begun)
            },
            Contextual::Expired,
        ),
        (facts(Some(&granted), None), Contextual::NoProfile),
    ];
    for (facts, reason) in cases {
        assert_eq!(decide(&facts), Err(reason), "{facts:?}");
    }
    let withdrawn = entry_of(&[
        at(ConsentAction::Grant, true, NOW - DAY),
        at(ConsentAction::Withdraw, false, NOW - 1000),
    ])
    .unwrap();
    assert_eq!(
        decide(&facts(Some(&withdrawn), begun)),
        Err(Contextual::NotGranted)
    );
    let erased = entry_of(&[
        at(ConsentAction::Grant, true, NOW - DAY),
        at(ConsentAction::Erase, false, NOW - 1000),
    ])
    .unwrap();
    assert_eq!(
        decide(&facts(Some(&erased), begun)),
        Err(Contextual::Erased)
    );
}

#[test]
fn an_explicit_grant_under_gpc_lifts_the_objection_as_for_events() {
    let mut step = at(ConsentAction::Grant, true, NOW - DAY);
    step.objection_in_state = true;
    let entry = entry_of(&[step]).unwrap();
    let with_gpc = Facts {
        gpc: true,
        ..facts(Some(&entry), Some(NOW - DAY))
    };
    assert!(decide(&with_gpc).is_ok());
}
