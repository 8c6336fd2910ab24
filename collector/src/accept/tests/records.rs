//! What the gate records as consent evidence: choices, withdrawals, GPC
//! objections and first TC strings.

use super::*;

#[test]
fn a_cmp_accept_under_gpc_never_grants_personalization() {
    for (consent, types) in [
        // The tag's TCF adapter: a consent event with the TC string.
        (
            format!(r#"{{"source":"tcf","gpc":true,"tcf":"{ACCEPT_ALL}"}}"#),
            &["consent", "identify"][..],
        ),
        // The tag's API naming personalization, but a TC string decides.
        (
            format!(
                r#"{{"measurement":"granted","personalization":"granted","updated_at":{NOW},"source":"api","gpc":true,"tcf":"{ACCEPT_ALL}"}}"#
            ),
            &["consent", "identify"][..],
        ),
        // Consent Mode through the tag.
        (
            tag(&["measurement", "personalization"], 0)
                .replace(r#""source":"api""#, r#""source":"gcm","gpc":true"#),
            &["consent", "identify"][..],
        ),
    ] {
        let case = Case::new(&consent, types);
        let (accepted, resolution) = case.run();
        assert!(
            !resolution.grants.get(Purpose::Personalization).is_granted(),
            "{consent}"
        );
        assert!(accepted.events.is_empty(), "{consent}: identify dropped");
        let record = &accepted.records[0].1;
        assert!(
            !Purpose::Personalization.granted_by(record.state.as_ref().unwrap()),
            "{consent}: the record proves no personalization grant"
        );
        case.ledger.apply(record);
        assert!(
            !case
                .ledger
                .get("demo", "v-1")
                .unwrap()
                .explicit_under_objection,
            "{consent}"
        );
    }
    // Only the site's own API, with no string deciding, lifts the objection.
    let explicit = tag(&["measurement", "personalization"], 0).replace('{', r#"{"gpc":true,"#);
    let case = Case::new(&explicit, &["consent", "identify"]);
    let (accepted, _) = case.run();
    assert_eq!(accepted.events.len(), 1);
    case.ledger.apply(&accepted.records[0].1);
    assert!(
        case.ledger
            .get("demo", "v-1")
            .unwrap()
            .explicit_under_objection
    );
}

#[test]
fn consent_events_record_the_choice_and_a_withdrawal_is_a_withdraw() {
    let case = Case::new(&tag(&["measurement"], 0), &["consent"]);
    case.ledger.apply(&ledger_record(
        ConsentAction::Grant,
        &[Purpose::Measurement, Purpose::Personalization],
        NOW - DAY,
    ));
    let (accepted, _) = case.run();
    assert!(accepted.events.is_empty() && accepted.dropped.is_empty());
    let (key, record) = &accepted.records[0];
    assert_eq!(key, "demo/v-1");
    assert_eq!(record.action(), ConsentAction::Withdraw);
    assert_eq!(record.source, "tag:api");
    assert_eq!(record.subject, "v-1");
    assert_eq!(record.client_ts_ms, NOW);
    assert_eq!(record.server_ts_ms, NOW);
    assert_eq!(record.browser_family, "Chrome");
    assert_eq!(record.ip.as_ref().unwrap().network, vec![203, 0, 113, 0]);
    assert_eq!(record.expires_at_ms, NOW + 395 * DAY);
    let state = record.state.as_ref().unwrap();
    assert_eq!(
        PurposeSet::granted_by(state),
        PurposeSet::of(&[Purpose::Necessary, Purpose::Measurement])
    );
    assert_eq!(record.record_id.len(), 16);
}

#[test]
fn gpc_against_a_granted_personalization_records_an_objection_once() {
    let mut case = Case::new(&tag(&["measurement", "personalization"], 1), &["page_view"]);
    case.ledger.apply(&ledger_record(
        ConsentAction::Grant,
        &[Purpose::Measurement, Purpose::Personalization],
        NOW - DAY,
    ));
    case.meta.signals.gpc = true;
    let (accepted, _) = case.run();
    assert_eq!(accepted.events.len(), 1);
    let (_, record) = &accepted.records[0];
    assert_eq!(record.action(), ConsentAction::Object);
    assert_eq!(record.source, "gpc");
    assert!(!Purpose::Personalization.granted_by(record.state.as_ref().unwrap()));
    // Once the ledger has it, the same request changes nothing more.
    case.ledger.apply(record);
    assert!(case.run().0.records.is_empty());
}

#[test]
fn a_first_tc_string_for_a_subject_is_recorded() {
    let (accepted, _) = Case::new(&format!(r#"{{"tcf":"{ACCEPT_ALL}"}}"#), &["page_view"]).run();
    let (_, record) = &accepted.records[0];
    assert_eq!(record.source, "tcf:300");
    assert_eq!(record.action(), ConsentAction::Grant);
    assert_eq!(record.state.as_ref().unwrap().tcf, ACCEPT_ALL);
}
