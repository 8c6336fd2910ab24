//! Properties over arbitrary envelopes, headers, ledger states and site
//! policies.
//!
//! The oracle below is written from the rules as `collector/README.md` states them
//! ("Consent": sources, decisions, records), not from the code: it replays
//! the ledger history itself in the order of receipt, judges freshness and
//! objections itself, and reads TC strings only through the decoder (whose
//! own tests check it against the reference vectors).

use super::*;

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
        erased_user in proptest::sample::select(vec![None, Some("u-1"), Some("u-2")]),
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
        // An erasure by user key (the admin API's): the envelope's user is
        // `u-1`, so erasing `u-2` must change nothing.
        if let Some(user) = erased_user {
            let mut erase = ledger_record(ConsentAction::Erase, &[], NOW - DAY);
            erase.subject.clear();
            erase.user_key = fiducia_proto::privacy::user_key("demo", user);
            case.ledger.apply(&erase);
        }
        let envelope = parse(case.body.as_bytes()).unwrap();
        let Ok(checked) = envelope.validate(&Limits::default()) else { return Ok(()) };
        let has_consent_event = checked.iter().any(|c| c.kind == EventType::Consent);
        let ledger = if erased_user == Some("u-1") {
            // The README: events whose user id was erased get nothing through,
            // under any visitor id or none.
            Some((true, PurposeSet::EMPTY, false))
        } else if visitor {
            oracle_ledger(&history)
        } else {
            None
        };
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
