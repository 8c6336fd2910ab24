//! Each consent source and site rule decides as specified (one table).

use super::*;

#[test]
fn granted_events_become_raw_events_keyed_by_visitor() {
    let (accepted, _) =
        Case::new(&tag(&["measurement"], 1), &["click", "page_view", "scroll"]).run();
    assert_eq!(accepted.events.len(), 3);
    assert_eq!(accepted.kept, 3);
    assert!(accepted.dropped.is_empty());
    let (key, event) = &accepted.events[0];
    assert_eq!(key, "demo/v-1");
    assert_eq!(event.decision, i32::from(Decision::Keep));
    assert_eq!(event.props_json, r#"{"k":"v"}"#);
    assert_eq!(event.ip.as_ref().unwrap().network, vec![203, 0, 113, 0]);
    assert_eq!(event.visitor_id, "v-1");
    // user_id needs personalization, which is not granted.
    assert_eq!(event.user_id, "");
    assert_eq!(event.context.as_ref().unwrap().title, "Red shoes");
    let consent = event.consent.as_ref().unwrap();
    assert!(Purpose::Measurement.granted_by(consent));
    assert!(!Purpose::Personalization.granted_by(consent));
    assert_eq!(consent.source, "tag");
    assert!(consent.tcf.is_empty(), "TC strings stay in consent records");
}

#[test]
fn each_source_and_rule_decides_as_specified() {
    let identify = &["identify"];
    for (name, consent, headers, policy_toml, types, expected) in [
        (
            "tag grant",
            tag(&["measurement"], 1),
            (false, false),
            "",
            &["page_view"][..],
            "keep",
        ),
        (
            "tag grant without a time",
            r#"{"measurement":"granted"}"#.to_owned(),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:expired",
        ),
        (
            "tag grant older than 13 months",
            tag(&["measurement"], 400),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:expired",
        ),
        (
            "site maximum age",
            tag(&["measurement"], 40),
            (false, false),
            "max_age_days = 30",
            &["page_view"][..],
            "drop:measurement:expired",
        ),
        (
            "unknown notice",
            tag(&["measurement"], 1),
            (false, false),
            "[notices]\n\"2025-01\" = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
            &["page_view"][..],
            "drop:measurement:unknown_notice",
        ),
        (
            "refusal",
            r#"{"measurement":"denied","updated_at":1}"#.to_owned(),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:denied",
        ),
        (
            "nothing",
            "{}".to_owned(),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:not_given",
        ),
        (
            "identify needs personalization",
            tag(&["measurement"], 1),
            (false, false),
            "",
            identify,
            "drop:personalization:not_given",
        ),
        (
            "identify",
            tag(&["measurement", "personalization"], 1),
            (false, false),
            "",
            identify,
            "keep",
        ),
        (
            "GPC header",
            tag(&["measurement", "personalization"], 1),
            (true, false),
            "",
            identify,
            "drop:personalization:gpc",
        ),
        (
            "GPC from the tag",
            tag(&["measurement", "personalization"], 1).replace('{', r#"{"gpc":true,"#),
            (false, false),
            "",
            identify,
            "drop:personalization:gpc",
        ),
        (
            "DNT ignored by default",
            tag(&["measurement", "personalization"], 1),
            (false, true),
            "",
            identify,
            "keep",
        ),
        (
            "DNT honoured",
            tag(&["measurement", "personalization"], 1),
            (false, true),
            "honor_dnt = true",
            identify,
            "drop:personalization:dnt",
        ),
        (
            "GPC with an explicit grant now",
            tag(&["measurement", "personalization"], 1),
            (true, false),
            "",
            &["consent", "identify"][..],
            "record,keep",
        ),
        (
            "TCF decides over the tag",
            format!(r#"{{"measurement":"granted","updated_at":{NOW},"tcf":"{REJECT_ALL}"}}"#),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:tcf_not_consented",
        ),
        (
            "TCF grant",
            format!(r#"{{"tcf":"{MEASUREMENT_ONLY}"}}"#),
            (false, false),
            "",
            &["page_view"][..],
            "keep",
        ),
        (
            "TCF grant inside GPP",
            format!(r#"{{"gpp":"DBABM~{MEASUREMENT_ONLY}"}}"#),
            (false, false),
            "",
            &["page_view"][..],
            "keep",
        ),
        (
            "TCF personalization",
            format!(r#"{{"tcf":"{PERSONALIZED}"}}"#),
            (false, false),
            "",
            identify,
            "keep",
        ),
        (
            "TCF measurement only",
            format!(r#"{{"tcf":"{MEASUREMENT_ONLY}"}}"#),
            (false, false),
            "",
            identify,
            "drop:personalization:tcf_not_consented",
        ),
        (
            "TCF policy version 2",
            format!(r#"{{"measurement":"granted","updated_at":{NOW},"tcf":"{POLICY_2}"}}"#),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:tcf_invalid",
        ),
        (
            "TCF garbage",
            format!(r#"{{"measurement":"granted","updated_at":{NOW},"tcf":"not*base64"}}"#),
            (false, false),
            "",
            &["page_view"][..],
            "drop:measurement:tcf_invalid",
        ),
        (
            "strip when allowed",
            "{}".to_owned(),
            (false, false),
            "anonymous_measurement = true",
            &["page_view"][..],
            "strip",
        ),
        (
            "no strip under GPC",
            "{}".to_owned(),
            (true, false),
            "anonymous_measurement = true",
            &["page_view"][..],
            "drop:measurement:not_given",
        ),
        (
            "a stricter site rule",
            tag(&["measurement"], 1),
            (false, false),
            "[events]\nclick = [\"measurement\", \"functional\"]",
            &["click"][..],
            "drop:functional:not_given",
        ),
    ] {
        let mut case = Case::new(&consent, types);
        case.meta.signals = HeaderSignals {
            gpc: headers.0,
            dnt: headers.1,
        };
        case.policy = Policy::from_file(toml::from_str(policy_toml).unwrap()).unwrap();
        let (accepted, _) = case.run();
        let mut outcome: Vec<String> = Vec::new();
        if !accepted.records.is_empty() && types.contains(&"consent") {
            outcome.push("record".into());
        }
        for (_, event) in &accepted.events {
            outcome.push(
                if event.decision == i32::from(Decision::Strip) {
                    "strip"
                } else {
                    "keep"
                }
                .into(),
            );
        }
        for (drop, _) in &accepted.dropped {
            outcome.push(format!(
                "drop:{}:{}",
                drop.purpose.as_str(),
                drop.reason.as_str()
            ));
        }
        assert_eq!(outcome.join(","), expected, "{name}");
    }
}
