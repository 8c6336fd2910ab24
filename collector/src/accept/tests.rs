//! The gate's promises, as examples and as properties over arbitrary
//! envelopes, headers, ledger states and site policies.

use crate::consent::Field;
use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, Decision};
use proptest::prelude::*;

use super::*;
use crate::config::Limits;
use crate::consent::policy::Policy;
use crate::envelope::parse;

/// 2026-06-01T00:00Z: the TCF 2.2 test strings (2026-01-15) are fresh then.
const NOW: i64 = 1_780_272_000_000;
const DAY: i64 = 86_400_000;

/// `collector/reference/consent.md` table B: publisher purposes noted.
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
        let resolution = gate(
            &envelope,
            &checked,
            &self.meta,
            &self.policy,
            Some(&self.ledger),
        );
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

/// A record of the ledger, received at `server_ts_ms`.
fn ledger_record(action: ConsentAction, granted: &[Purpose], server_ts_ms: i64) -> ConsentRecord {
    let mut state = ConsentSnapshot::default();
    for p in Purpose::CONSENTABLE {
        p.set_in(&mut state, granted.contains(&p));
    }
    ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: "demo".into(),
        subject: "v-1".into(),
        action: action.into(),
        state: Some(state),
        source: "tag:api".into(),
        client_ts_ms: server_ts_ms,
        server_ts_ms,
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
    assert_eq!(record.client_ts_ms, NOW + DAY, "clamped to a day ahead");
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
fn strip_keeps_only_what_audience_measurement_needs() {
    let mut case = Case::new("{}", &["page_view"]);
    case.body = case
        .body
        .replace(r#""props":{"k":"v"}"#, r#""props":{"k":"v","plan":"pro"}"#);
    case.policy.rules.anonymous_measurement = true;
    case.policy.anonymous_props = ["plan".to_owned()].into();
    let (accepted, _) = case.run();
    let (key, event) = &accepted.events[0];
    assert_eq!(event.decision, i32::from(Decision::Strip));
    assert!(key.starts_with("demo/~"), "{key}");
    assert_eq!(event.visitor_id, "");
    assert_eq!(event.user_id, "");
    assert_eq!(
        event.props_json, r#"{"plan":"pro"}"#,
        "anonymous-safe keys only"
    );
    assert_eq!(event.user_agent, "");
    assert_eq!(event.device_class, "desktop");
    let context = event.context.as_ref().unwrap();
    assert_eq!(context.url, "https://shop.example/p/42?utm_source=news");
    assert_eq!(context.referrer, "https://www.google.com/");
    assert_eq!(context.title, "");
    assert_eq!((context.lang.as_str(), context.tz.as_str()), ("", ""));
    assert_eq!((context.screen_width, context.viewport_width), (0, 0));
    assert_eq!(accepted.stripped, 1);
    // Without a list, no property at all.
    case.policy.anonymous_props.clear();
    assert_eq!(case.run().0.events[0].1.props_json, "{}");
}

#[test]
fn no_url_keeps_its_fragment() {
    let (accepted, _) = Case::new(&tag(&["measurement"], 1), &["page_view"]).run();
    let context = accepted.events[0].1.context.clone().unwrap();
    assert_eq!(
        context.url,
        "https://shop.example/p/42?utm_source=news&email=a%40b.c"
    );
    assert!(
        accepted.events[0].1.user_agent.contains("Chrome"),
        "kept when not anonymous"
    );
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
//
// The oracle below is written from the rules as the README states them
// ("Consent": sources, decisions, records), not from the code: it replays
// the ledger history itself in the order of receipt, judges freshness and
// objections itself, and reads TC strings only through the decoder (whose
// own tests check it against the reference vectors).

const MAX_AGE: i64 = 395 * DAY;

/// The client times a tag may send, in balanced proportions: fresh, expired,
/// slightly ahead (a fast clock), far ahead (forged), missing.
fn client_time() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        (0..MAX_AGE).prop_map(|age| Some(NOW - age)),
        (MAX_AGE + 1..3 * MAX_AGE).prop_map(|age| Some(NOW - age)),
        (1..DAY).prop_map(|ahead| Some(NOW + ahead)),
        prop_oneof![
            (DAY + 1..400 * DAY).prop_map(|ahead| Some(NOW + ahead)),
            Just(Some(i64::MAX))
        ],
        Just(None),
    ]
}

/// A generated consent block and what the oracle needs to know of it.
#[derive(Debug, Clone)]
struct Block {
    json: String,
    claimed: [bool; 4],
    updated_at: Option<i64>,
    source: &'static str,
    string: bool,
    gpc: bool,
    dnt: bool,
}

fn consent_block() -> impl Strategy<Value = Block> {
    let value = prop_oneof![
        Just(None),
        Just(Some("granted")),
        Just(Some("denied")),
        Just(Some("maybe"))
    ];
    let tc = prop_oneof![
        6 => Just(String::new()),
        1 => Just(format!(r#","tcf":"{ACCEPT_ALL}""#)),
        1 => Just(format!(r#","tcf":"{MEASUREMENT_ONLY}""#)),
        1 => Just(format!(r#","tcf":"{PERSONALIZED}""#)),
        1 => Just(format!(r#","tcf":"{REJECT_ALL}""#)),
        1 => Just(format!(r#","tcf":"{POLICY_2}""#)),
        1 => Just(r#","tcf":"CPX""#.to_owned()),
        1 => Just(format!(r#","gpp":"DBABM~{PERSONALIZED}""#)),
        1 => Just(r#","gpp":"DBABLA~BVVVVVVVVWA.YA""#.to_owned()),
    ];
    let source = proptest::sample::select(vec!["api", "api", "tcf", "gcm", ""]);
    (
        proptest::collection::vec(value, 4),
        client_time(),
        any::<bool>(),
        any::<bool>(),
        tc,
        source,
    )
        .prop_map(|(values, updated_at, gpc, dnt, tc, source)| {
            let mut fields = Vec::new();
            let mut claimed = [false; 4];
            for (i, (name, value)) in ["measurement", "personalization", "functional", "contextual"]
                .iter()
                .zip(values)
                .enumerate()
            {
                if let Some(v) = value {
                    claimed[i] = v == "granted";
                    fields.push(format!(r#""{name}":"{v}""#));
                }
            }
            if let Some(at) = updated_at {
                fields.push(format!(r#""updated_at":{at}"#));
            }
            fields.push(format!(r#""source":"{source}""#));
            Block {
                json: format!(r#"{{{},"gpc":{gpc},"dnt":{dnt}{tc}}}"#, fields.join(",")),
                claimed,
                updated_at,
                source,
                string: !tc.is_empty(),
                gpc,
                dnt,
            }
        })
}

/// One generated ledger record: action, granted purposes (bits over
/// `Purpose::CONSENTABLE`), receipt time, a client time (often forged),
/// its source, and whether GPC was on.
type HistoryItem = (ConsentAction, u8, i64, i64, &'static str, bool);

fn ledger_history() -> impl Strategy<Value = Vec<HistoryItem>> {
    let action = proptest::sample::select(vec![
        ConsentAction::Grant,
        ConsentAction::Deny,
        ConsentAction::Withdraw,
        ConsentAction::Object,
        ConsentAction::Update,
        ConsentAction::Erase,
    ]);
    // Few distinct receipt times, so that ties happen.
    let received = (1_i64..6).prop_map(|k| NOW - k * 3_600_000);
    let client = prop_oneof![
        Just(i64::MAX),
        Just(1_i64),
        Just(NOW + 365 * DAY),
        Just(NOW - 2 * MAX_AGE),
        (-DAY..DAY).prop_map(|d| NOW + d),
    ];
    let source = proptest::sample::select(vec!["tag:api", "tag:tcf", "tcf:300", "gpc"]);
    proptest::collection::vec(
        (action, 0_u8..16, received, client, source, any::<bool>()),
        0..6,
    )
}

fn record_of(item: &HistoryItem) -> ConsentRecord {
    let &(action, bits, received, client, source, gpc) = item;
    let granted: Vec<Purpose> = consentable_of(bits).iter().collect();
    let mut record = ledger_record(action, &granted, received);
    record.client_ts_ms = client;
    record.source = source.to_owned();
    record.state.as_mut().unwrap().gpc = gpc;
    record
}

fn consentable_of(bits: u8) -> PurposeSet {
    Purpose::CONSENTABLE
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, p)| p)
        .collect()
}

fn event_types() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(
        proptest::sample::select(EventType::ALL.map(EventType::as_str).to_vec()),
        1..12,
    )
}

/// The README's ledger, replayed from scratch in the order of receipt:
/// (erased, purposes standing withdrawn, GPC lifted by an explicit API grant).
fn oracle_ledger(history: &[HistoryItem]) -> Option<(bool, PurposeSet, bool)> {
    if history.is_empty() {
        return None;
    }
    if history.iter().any(|h| h.0 == ConsentAction::Erase) {
        return Some((true, PurposeSet::EMPTY, false));
    }
    let mut times: Vec<i64> = history.iter().map(|h| h.2).collect();
    times.sort_unstable();
    times.dedup();
    let mut granted = PurposeSet::EMPTY;
    let mut withdrawn = PurposeSet::EMPTY;
    let mut explicit = false;
    for t in times {
        let group: Vec<&HistoryItem> = history.iter().filter(|h| h.2 == t).collect();
        // Received in the same millisecond: what any of them denies is denied.
        let after = group.iter().fold(consentable_of(0b1111), |set, h| {
            Purpose::CONSENTABLE
                .into_iter()
                .filter(|&p| set.contains(p) && consentable_of(h.1).contains(p))
                .collect()
        });
        let withdrawal = group
            .iter()
            .any(|h| matches!(h.0, ConsentAction::Withdraw | ConsentAction::Object));
        for p in Purpose::CONSENTABLE {
            let was_granted =
                granted.contains(p) || group.iter().any(|h| consentable_of(h.1).contains(p));
            if after.contains(p) {
                withdrawn = withdrawn.without(p);
            } else if was_granted || withdrawal {
                withdrawn = withdrawn.with(p);
            }
        }
        granted = after;
        explicit = after.contains(Purpose::Personalization)
            && group.iter().all(|h| h.4 == "tag:api" && h.5);
    }
    Some((false, withdrawn, explicit))
}

/// What the README says an envelope's events get: for each purpose, allowed?
/// and whether an objection stands (no STRIP then).
struct Oracle {
    allowed: [bool; 5],
    objected: bool,
}

fn oracle(
    block: &Block,
    envelope: &Envelope,
    has_consent_event: bool,
    header: (bool, bool),
    honor_dnt: bool,
    ledger: Option<(bool, PurposeSet, bool)>,
) -> Oracle {
    let tc = crate::consent::tcf::from_envelope(
        &envelope.consent.tcf,
        &envelope.consent.gpp,
        NOW,
        MAX_AGE,
    );
    let fresh = block
        .updated_at
        .is_some_and(|at| at <= NOW + DAY && NOW - at <= MAX_AGE);
    // The README's TCF table.
    let tcf_needs = |p: Purpose| -> &'static [u8] {
        match p {
            Purpose::Measurement => &[1, 8],
            Purpose::Personalization => &[1, 5, 6],
            Purpose::Functional => &[1],
            Purpose::Contextual => &[11],
            Purpose::Necessary => &[],
        }
    };
    let index = |p: Purpose| Purpose::CONSENTABLE.iter().position(|&q| q == p).unwrap();
    let chosen = |p: Purpose| match &tc {
        Some(Ok(tc)) => tcf_needs(p).iter().all(|&id| tc.publisher_consents(id)),
        Some(Err(_)) => false,
        None => block.claimed[index(p)] && fresh,
    };
    let gpc = header.0 || block.gpc;
    let dnt = honor_dnt && (header.1 || block.dnt);
    let explicit_now = has_consent_event
        && block.source == "api"
        && !block.string
        && chosen(Purpose::Personalization);
    let (erased, withdrawn, explicit_before) = ledger.unwrap_or((false, PurposeSet::EMPTY, false));
    let act = |p: Purpose| {
        chosen(p)
            && !(p == Purpose::Personalization && (gpc || dnt) && !explicit_now && !explicit_before)
    };
    let standing = |p: Purpose| withdrawn.contains(p) && !(has_consent_event && act(p));
    let mut allowed = [true; 5];
    for p in Purpose::CONSENTABLE {
        allowed[p as usize] = !erased && act(p) && !standing(p);
    }
    Oracle {
        allowed,
        objected: gpc || dnt || erased || standing(Purpose::Measurement),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever the envelope, headers, ledger history (forged client clocks,
    /// ties, any order of actions) and site policy: each event is kept,
    /// stripped or dropped exactly as the README's rules decide; what is
    /// published carries nothing its grants do not cover and no fragment;
    /// every consent event becomes one record, with clamped client times;
    /// every event is published, recorded or counted as dropped.
    #[test]
    fn every_event_is_decided_as_the_rules_say(
        block in consent_block(),
        types in event_types(),
        header_gpc in any::<bool>(),
        header_dnt in any::<bool>(),
        anonymous in any::<bool>(),
        honor_dnt in any::<bool>(),
        history in ledger_history(),
        visitor in any::<bool>(),
    ) {
        let mut case = Case::new(&block.json, &types);
        if !visitor {
            case.body = case.body.replace(r#""id":"v-1","#, "");
        }
        case.meta.signals = HeaderSignals { gpc: header_gpc, dnt: header_dnt };
        case.policy.rules.anonymous_measurement = anonymous;
        case.policy.honor_dnt = honor_dnt;
        case.policy.anonymous_props = ["plan".to_owned()].into();
        // The ledger receives the history in receipt order (a partition's
        // order), ties in whatever order they were generated.
        let mut ordered = history.clone();
        ordered.sort_by_key(|h| h.2);
        for item in &ordered {
            case.ledger.apply(&record_of(item));
        }
        let envelope = parse(case.body.as_bytes()).unwrap();
        let Ok(checked) = envelope.validate(&Limits::default()) else { return Ok(()) };
        let has_consent_event = checked.iter().any(|c| c.kind == EventType::Consent);
        let ledger = if visitor { oracle_ledger(&history) } else { None };
        let expected = oracle(&block, &envelope, has_consent_event, (header_gpc, header_dnt), honor_dnt, ledger);
        let total = checked.len();
        let consent_events = checked.iter().filter(|c| c.kind == EventType::Consent).count();
        let (accepted, _) = case.run();

        let dropped: usize = accepted.dropped.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(accepted.events.len() + dropped + consent_events, total);
        let mut published = accepted.events.iter();
        let mut expected_drops = 0;
        for check in checked.iter().filter(|c| c.kind != EventType::Consent) {
            let needs = case.policy.rules.needs(check.kind);
            let keep = needs.iter().all(|p| expected.allowed[p as usize]);
            let strip = !keep
                && anonymous
                && !expected.objected
                && needs.without(Purpose::Necessary) == PurposeSet::of(&[Purpose::Measurement]);
            if !keep && !strip {
                expected_drops += 1;
                continue;
            }
            let Some((_, event)) = published.next() else {
                return Err(TestCaseError::fail(format!("{:?} should be published", check.kind)));
            };
            prop_assert_eq!(event.event_id.as_slice(), check.id.as_slice());
            let context = event.context.as_ref().unwrap();
            prop_assert!(!context.url.contains('#') && !context.referrer.contains('#'));
            if keep {
                prop_assert_eq!(event.decision, i32::from(Decision::Keep));
                prop_assert_eq!(event.visitor_id.is_empty(), !visitor);
                prop_assert_eq!(event.user_id.is_empty(), !expected.allowed[Purpose::Personalization as usize]);
                prop_assert!(event.device_class.is_empty());
            } else {
                prop_assert_eq!(event.decision, i32::from(Decision::Strip));
                prop_assert!(event.visitor_id.is_empty() && event.user_id.is_empty());
                prop_assert!(event.user_agent.is_empty() && !event.device_class.is_empty());
                prop_assert_eq!(&event.props_json, "{}", "no anonymous-safe key was sent");
                prop_assert!(context.title.is_empty() && context.lang.is_empty() && context.tz.is_empty());
                prop_assert_eq!(context.screen_width + context.viewport_width, 0);
                prop_assert!(!context.url.contains("email") && !context.referrer.contains("search"));
            }
            let state = event.consent.as_ref().unwrap();
            for p in Purpose::CONSENTABLE {
                prop_assert_eq!(p.granted_by(state), expected.allowed[p as usize], "snapshot of {:?}", p);
            }
        }
        prop_assert!(published.next().is_none(), "more published than the rules allow");
        prop_assert_eq!(dropped, expected_drops);

        let consent_records: Vec<&ConsentRecord> = accepted
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.source.starts_with("tag:"))
            .collect();
        prop_assert_eq!(consent_records.len(), consent_events);
        for (_, record) in &accepted.records {
            prop_assert_eq!(record.subject.is_empty(), !visitor);
            prop_assert_eq!(record.server_ts_ms, NOW);
            prop_assert!((NOW - MAX_AGE..=NOW + DAY).contains(&record.client_ts_ms), "{}", record.client_ts_ms);
            let state = record.state.as_ref().unwrap();
            prop_assert!(state.updated_at_ms == 0 || (NOW - MAX_AGE..=NOW + DAY).contains(&state.updated_at_ms));
            if record.source.starts_with("tag:") && Purpose::Personalization.granted_by(state) {
                // A consent event's record proves personalization only when
                // this envelope's choice grants it under the rules.
                let gpc = header_gpc || block.gpc;
                let dnt = honor_dnt && (header_dnt || block.dnt);
                prop_assert!(!(gpc || dnt) || (block.source == "api" && !block.string) || ledger.is_some_and(|l| l.2));
            }
            prop_assert!(record.browser_family.len() < 64);
        }
    }

    /// A withdrawal wins over every grant received before it, whatever order
    /// the ledger learns them in (another collector's records arrive late),
    /// and an erasure wins over everything.
    #[test]
    fn the_latest_withdrawal_or_an_erasure_wins_in_any_order(
        block in consent_block(),
        history in ledger_history(),
        order in any::<proptest::sample::Index>(),
    ) {
        let mut case = Case::new(&block.json, &["page_view", "click"]);
        let mut shuffled = history.clone();
        if !shuffled.is_empty() {
            let at = order.index(shuffled.len());
            shuffled.rotate_left(at);
        }
        for item in &shuffled {
            case.ledger.apply(&record_of(item));
        }
        case.policy.rules.anonymous_measurement = false;
        let latest = history.iter().map(|h| h.2).max();
        let latest_items: Vec<&HistoryItem> = history.iter().filter(|h| Some(h.2) == latest).collect();
        let erased = history.iter().any(|h| h.0 == ConsentAction::Erase);
        let withdrawn_last = !latest_items.is_empty()
            && latest_items.iter().any(|h| matches!(h.0, ConsentAction::Withdraw | ConsentAction::Object))
            && latest_items.iter().all(|h| !consentable_of(h.1).contains(Purpose::Measurement));
        let (accepted, _) = case.run();
        if erased || withdrawn_last {
            prop_assert!(accepted.events.is_empty(), "{:?}", shuffled);
        }
        case.body = case.body.replace(r#""type":"page_view""#, r#""type":"consent""#);
        let (accepted, _) = case.run();
        if erased {
            prop_assert!(accepted.events.is_empty(), "not even with a new consent event");
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
