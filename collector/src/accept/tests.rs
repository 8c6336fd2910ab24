//! The gate's promises, as examples and as properties over arbitrary
//! envelopes, headers, ledger states and site policies.

use fiducia_proto::consent::{Field, Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, Decision};
use proptest::prelude::*;

use super::*;
use crate::config::Limits;
use crate::consent::policy::Policy;
use crate::envelope::parse;

/// 2026-06-01T00:00Z: the TCF 2.2 test strings (2026-01-15) are fresh then.
const NOW: i64 = 1_780_272_000_000;
const DAY: i64 = 86_400_000;

/// `shared/reference/consent.md` table B: publisher purposes noted.
const ACCEPT_ALL: &str = "CQeEcwAQeEcwAEsAHBENAHEsAP_gAAAAAAYgAGMUQAAAAAAA.IAGMUQAA.f_wAAAAAAAAA"; // 1-11
const MEASUREMENT_ONLY: &str = "CQeEcwAQeEcwAEsAHBENAHEgAIOAAAAAAAYgAAAAAAAA.IAGMUQAA.cDAAAAAAAAAA"; // 1, 8, 9
const PERSONALIZED: &str = "CQeEcwAQeEcwAEsAHBENAHEgAI0AAAAAAAYgAAAAAAAA.IAGMUQAA.caAAAAAAAAAA"; // 1, 5, 6, 8
const REJECT_ALL: &str = "CQeEcwAQeEcwAEsAHBENAHEgAAAAAEPgAAYgAAAAAAAA.IAGMUQAA.YAAAADwAAAAA";
const POLICY_2: &str =
    "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA";

struct Case {
    body: String,
    meta: RequestMeta,
    policy: Policy,
    ledger: Ledger,
}

impl Case {
    fn new(consent: &str, types: &[&str]) -> Self {
        let events: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(seq, t)| {
                format!(
                    r#"{{"id":"{}","type":"{t}","ts":{NOW},"seq":{seq},"props":{{"k":"v"}}}}"#,
                    uuid::Uuid::now_v7()
                )
            })
            .collect();
        let body = format!(
            r#"{{"site":"demo","sent_at":{NOW},"consent":{consent},
               "visitor":{{"id":"v-1","user_id":"u-1"}},
               "context":{{"url":"https://shop.example/p/42?utm_source=news&email=a%40b.c#x","referrer":"https://www.google.com/search?q=a",
                           "title":"Red shoes","lang":"it-IT","tz":"Europe/Rome","screen":[1920,1080],"viewport":[1280,800]}},
               "events":[{}]}}"#,
            events.join(",")
        );
        Self {
            body,
            meta: RequestMeta {
                ip: Some(crate::client_ip::truncate("203.0.113.77".parse().unwrap())),
                user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36".into(),
                received_at_ms: NOW,
                signals: HeaderSignals::default(),
            },
            policy: Policy::default(),
            ledger: Ledger::default(),
        }
    }

    fn run(&self) -> (Accepted, Resolution) {
        let envelope = parse(self.body.as_bytes()).unwrap();
        let checked = envelope.validate(&Limits::default()).unwrap();
        let resolution = gate(&envelope, &checked, &self.meta, &self.policy, &self.ledger);
        (
            accept(envelope, &checked, &self.meta, &self.policy, &resolution),
            resolution,
        )
    }
}

fn tag(granted: &[&str], age_days: i64) -> String {
    let fields: Vec<String> = granted
        .iter()
        .map(|p| format!(r#""{p}":"granted""#))
        .collect();
    format!(
        r#"{{{}{}"updated_at":{},"notice_version":"2026-01","source":"api"}}"#,
        fields.join(","),
        if fields.is_empty() { "" } else { "," },
        NOW - age_days * DAY
    )
}

fn ledger_record(action: ConsentAction, granted: &[Purpose], client_ts_ms: i64) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    for p in Purpose::CONSENTABLE {
        p.set_in(&mut state, granted.contains(&p));
    }
    ConsentRecord {
        site_id: "demo".into(),
        subject: "v-1".into(),
        action: action.into(),
        state: Some(state),
        source: "tag:api".into(),
        client_ts_ms,
        ..ConsentRecord::default()
    }
}

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

#[test]
fn a_ledger_withdrawal_wins_until_a_newer_choice() {
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
    // A choice made after the withdrawal (e.g. a new grant in the banner) counts.
    let mut newer = Case::new(&tag(&["measurement"], 0), &["page_view"]);
    newer.ledger = case.ledger;
    assert_eq!(newer.run().0.events.len(), 1);
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

#[test]
fn strip_keeps_no_identifier_and_a_coarse_context() {
    let mut case = Case::new("{}", &["page_view"]);
    case.policy.rules.anonymous_measurement = true;
    let (accepted, _) = case.run();
    let (key, event) = &accepted.events[0];
    assert_eq!(event.decision, i32::from(Decision::Strip));
    assert!(key.starts_with("demo/~"), "{key}");
    assert_eq!(event.visitor_id, "");
    assert_eq!(event.user_id, "");
    let context = event.context.as_ref().unwrap();
    assert_eq!(context.url, "https://shop.example/p/42?utm_source=news");
    assert_eq!(context.referrer, "https://www.google.com/");
    assert_eq!(context.title, "");
    assert_eq!((context.screen_width, context.viewport_width), (0, 0));
    assert_eq!(accepted.stripped, 1);
}

#[test]
fn a_field_rule_removes_only_that_field() {
    let mut case = Case::new(&tag(&["measurement"], 1), &["click"]);
    case.policy = Policy::from_file(
        toml::from_str("[fields]\ntitle = [\"functional\"]\nprops = [\"functional\"]").unwrap(),
    )
    .unwrap();
    let (accepted, _) = case.run();
    let event = &accepted.events[0].1;
    assert_eq!(event.context.as_ref().unwrap().title, "");
    assert_eq!(event.props_json, "{}");
    assert_eq!(event.visitor_id, "v-1");
    assert!(
        !case
            .policy
            .rules
            .field_needs(Field::Title)
            .contains(Purpose::Measurement)
    );
}

// ---- properties ------------------------------------------------------------

fn consent_block() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(None),
        Just(Some("granted")),
        Just(Some("denied")),
        Just(Some("maybe"))
    ];
    let tc = prop_oneof![
        4 => Just(String::new()),
        1 => Just(format!(r#","tcf":"{ACCEPT_ALL}""#)),
        1 => Just(format!(r#","tcf":"{MEASUREMENT_ONLY}""#)),
        1 => Just(format!(r#","tcf":"{PERSONALIZED}""#)),
        1 => Just(format!(r#","tcf":"{REJECT_ALL}""#)),
        1 => Just(format!(r#","tcf":"{POLICY_2}""#)),
        1 => Just(r#","tcf":"CPX""#.to_owned()),
        1 => Just(format!(r#","gpp":"DBABM~{PERSONALIZED}""#)),
        1 => Just(r#","gpp":"DBABLA~BVVVVVVVVWA.YA""#.to_owned()),
    ];
    (
        proptest::collection::vec(value, 4),
        prop_oneof![Just(None), (-500_i64..3).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        tc,
    )
        .prop_map(|(values, age_days, gpc, dnt, tc)| {
            let mut fields = Vec::new();
            for (name, value) in ["measurement", "personalization", "functional", "contextual"]
                .iter()
                .zip(values)
            {
                match value {
                    Some("maybe") => fields.push(format!(r#""{name}":"maybe""#)),
                    Some(v) => fields.push(format!(r#""{name}":"{v}""#)),
                    None => {}
                }
            }
            if let Some(age) = age_days {
                fields.push(format!(r#""updated_at":{}"#, (NOW - age * DAY).max(1)));
            }
            format!(
                r#"{{{}{}"gpc":{gpc},"dnt":{dnt}{tc}}}"#,
                fields.join(","),
                if fields.is_empty() { "" } else { "," }
            )
        })
}

fn ledger_history() -> impl Strategy<Value = Vec<(u8, u8, i64)>> {
    proptest::collection::vec((0_u8..5, 0_u8..32, -10_i64..10), 0..4)
}

fn event_types() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(
        proptest::sample::select(EventType::ALL.map(EventType::as_str).to_vec()),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the envelope, headers, ledger and site policy say: an event
    /// reaches the publisher only when every purpose it needs has a positive,
    /// fresh signal that nothing stronger overrides; STRIP output carries no
    /// identifier; every event is published, recorded or counted as dropped.
    #[test]
    fn no_event_without_consent_for_its_purposes_is_published(
        consent in consent_block(),
        types in event_types(),
        header_gpc in any::<bool>(),
        header_dnt in any::<bool>(),
        anonymous in any::<bool>(),
        honor_dnt in any::<bool>(),
        history in ledger_history(),
        visitor in any::<bool>(),
    ) {
        let mut case = Case::new(&consent, &types);
        if !visitor {
            case.body = case.body.replace(r#""id":"v-1","#, "");
        }
        case.meta.signals = HeaderSignals { gpc: header_gpc, dnt: header_dnt };
        case.policy.rules.anonymous_measurement = anonymous;
        case.policy.honor_dnt = honor_dnt;
        for (action, granted_bits, day) in &history {
            let action = [ConsentAction::Grant, ConsentAction::Withdraw, ConsentAction::Object, ConsentAction::Update, ConsentAction::Erase][usize::from(*action)];
            let granted: Vec<Purpose> = Purpose::CONSENTABLE.into_iter().enumerate().filter(|(i, _)| granted_bits & (1 << i) != 0).map(|(_, p)| p).collect();
            case.ledger.apply(&ledger_record(action, &granted, NOW + day * DAY));
        }
        let envelope = parse(case.body.as_bytes()).unwrap();
        let Ok(checked) = envelope.validate(&Limits::default()) else { return Ok(()) };
        let claimed = |p: Purpose| envelope.consent.value(p) == Some(crate::envelope::ConsentValue::Granted);
        let fresh_tag = envelope.consent.updated_at.is_some_and(|t| NOW - t <= 395 * DAY);
        let tc = crate::consent::tcf::from_envelope(&envelope.consent.tcf, &envelope.consent.gpp, NOW, 395 * DAY);
        let gpc = header_gpc || envelope.consent.gpc;
        let dnt = honor_dnt && (header_dnt || envelope.consent.dnt);
        let has_consent_event = checked.iter().any(|c| c.kind == EventType::Consent);
        let subject = envelope.visitor.id.clone().unwrap_or_default();
        let entry = case.ledger.get("demo", &subject);
        let total = checked.len();
        let consent_events = checked.iter().filter(|c| c.kind == EventType::Consent).count();
        let (accepted, _) = case.run();

        // Independent necessary conditions for a purpose to count as granted.
        let positively_granted = |p: Purpose| match &tc {
            Some(Ok(tc)) => tc.grants(p, &[]),
            Some(Err(_)) => false,
            None => claimed(p) && fresh_tag,
        };
        let choice_ts = match &tc {
            Some(Ok(tc)) => tc.last_updated_ms,
            Some(Err(_)) => 0,
            None => envelope.consent.updated_at.unwrap_or(0),
        };
        let allowed = |p: Purpose| {
            if p == Purpose::Necessary { return true; }
            if !positively_granted(p) || entry.is_some_and(|e| e.erased) { return false; }
            if entry.and_then(|e| e.withdrawn_at(p)).is_some_and(|w| choice_ts <= w) { return false; }
            if p == Purpose::Personalization && (gpc || dnt)
                && !has_consent_event && !entry.is_some_and(|e| e.explicit_under_objection) {
                return false;
            }
            true
        };

        let dropped: usize = accepted.dropped.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(accepted.events.len() + dropped + consent_events, total);
        for (_, event) in &accepted.events {
            let kind = EventType::parse(&event.event_type).unwrap();
            prop_assert_ne!(kind, EventType::Consent);
            let needs = case.policy.rules.needs(kind);
            if event.decision == i32::from(Decision::Keep) {
                for p in needs.iter() {
                    prop_assert!(allowed(p), "{:?} published without {:?}", kind, p);
                }
                if !event.user_id.is_empty() {
                    prop_assert!(allowed(Purpose::Personalization));
                }
            } else {
                prop_assert_eq!(event.decision, i32::from(Decision::Strip));
                prop_assert!(anonymous && !gpc && !dnt);
                prop_assert!(event.visitor_id.is_empty() && event.user_id.is_empty());
                let context = event.context.as_ref().unwrap();
                prop_assert!(context.title.is_empty());
                prop_assert_eq!(context.screen_width + context.viewport_width, 0);
                prop_assert!(!context.url.contains("email"));
            }
            if !event.visitor_id.is_empty() {
                prop_assert!(allowed(Purpose::Measurement));
            }
            let state = event.consent.as_ref().unwrap();
            for p in Purpose::CONSENTABLE {
                if p.granted_by(state) {
                    prop_assert!(allowed(p), "snapshot says {:?} granted", p);
                }
            }
        }
        for (_, record) in &accepted.records {
            prop_assert_eq!(&record.subject, &subject);
            prop_assert!(record.browser_family.len() < 64);
        }
    }
}

#[test]
fn a_consent_event_sent_twice_is_recorded_once_and_a_repeat_choice_is_an_update() {
    let case = Case::new(&tag(&["measurement"], 0), &["consent", "page_view"]);
    let (first, _) = case.run();
    assert_eq!(first.records[0].1.action(), ConsentAction::Grant);
    case.ledger.apply(&first.records[0].1);
    // The same request again (a page-exit beacon and a retry both carry it).
    let envelope = parse(case.body.as_bytes()).unwrap();
    let checked = envelope.validate(&Limits::default()).unwrap();
    let resolution = gate(&envelope, &checked, &case.meta, &case.policy, &case.ledger);
    let again = accept(envelope, &checked, &case.meta, &case.policy, &resolution);
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
