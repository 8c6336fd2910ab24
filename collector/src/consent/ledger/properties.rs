//! The tiers against the full ledger: random records (ties, records
//! received late, duplicates, every action, objections and their explicit
//! lifting, retention choices, erasures) are applied both to the
//! [`Ledger`] and to the oracle, today's full ledger (one [`Entry`] per
//! subject, every field kept), and every decision the collector makes on
//! an entry is compared, and resolved against random envelopes.

use std::collections::HashMap;

use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot};
use proptest::prelude::*;

use super::{Entry, Ledger};
use crate::consent::policy::Policy;
use crate::consent::resolve::{HeaderSignals, resolve};
use crate::envelope::{Consent, ConsentValue};

const SITES: [&str; 2] = ["demo", "other"];
const SUBJECTS: [&str; 3] = ["v1", "v2", "v3"];
const NOW: i64 = 1_000;

fn record() -> impl Strategy<Value = ConsentRecord> {
    let action = prop_oneof![
        3 => Just(ConsentAction::Grant),
        2 => Just(ConsentAction::Update),
        2 => Just(ConsentAction::Withdraw),
        1 => Just(ConsentAction::Object),
        1 => Just(ConsentAction::Erase),
    ];
    let source = proptest::sample::select(vec![
        "tag:api",
        "tag:tcf",
        "tcf:300",
        "privacy-center",
        "gpc",
    ]);
    let retention = proptest::sample::select(vec![0_u32, 0, 0, 1, 6]);
    (
        (0..SITES.len(), 0..SUBJECTS.len(), action),
        (0_u8..16, 90_i64..110, 0_u8..4),
        (source, any::<bool>(), any::<bool>(), retention),
    )
        .prop_map(
            |((site, subject, action), (bits, at, id), (source, gpc, dnt, retention))| {
                let mut state = ConsentSnapshot {
                    gpc,
                    dnt,
                    ..ConsentSnapshot::default()
                };
                for (i, p) in Purpose::CONSENTABLE.into_iter().enumerate() {
                    p.set_in(&mut state, bits & (1 << i) != 0);
                }
                ConsentRecord {
                    // A small pool of ids: the same record applied twice.
                    record_id: vec![id; 16],
                    site_id: SITES[site].into(),
                    subject: SUBJECTS[subject].into(),
                    action: action.into(),
                    state: Some(state),
                    source: source.into(),
                    client_ts_ms: at,
                    server_ts_ms: at,
                    retention_months: retention,
                    ..ConsentRecord::default()
                }
            },
        )
}

fn consent() -> impl Strategy<Value = (Consent, HeaderSignals, bool)> {
    let value = prop_oneof![
        Just(None),
        Just(Some(ConsentValue::Granted)),
        Just(Some(ConsentValue::Denied)),
        Just(Some(ConsentValue::Unknown)),
    ];
    let source = proptest::sample::select(vec!["api", "tcf", "gcm", ""]);
    (
        proptest::collection::vec(value, 4),
        source,
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(values, source, (gpc, dnt, header_gpc, header_dnt), event)| {
                let consent = Consent {
                    measurement: values[0],
                    personalization: values[1],
                    functional: values[2],
                    contextual: values[3],
                    source: source.into(),
                    gpc,
                    dnt,
                    updated_at: Some(NOW - 10),
                    ..Consent::default()
                };
                let headers = HeaderSignals {
                    gpc: header_gpc,
                    dnt: header_dnt,
                };
                (consent, headers, event)
            },
        )
}

/// Everything a decision reads of an entry: `/v1/events` (erased,
/// withdrawals, objection lifted, retention, personalization since),
/// records (latest grants and id), `GET /v1/profile` (latest grants, time,
/// id, personalization since).
type View = (
    PurposeSet,
    [u8; 16],
    i64,
    [Option<i64>; 4],
    Option<i64>,
    bool,
    bool,
    u32,
);

fn view(entry: Option<Entry>) -> Option<View> {
    entry.map(|e| {
        (
            e.granted,
            e.last_record_id,
            e.server_ts_ms,
            Purpose::CONSENTABLE.map(|p| e.withdrawn_at(p)),
            e.granted_since(Purpose::Personalization),
            e.erased,
            e.explicit_under_objection,
            e.retention_months,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// After every record, every subject's entry reads the same from the
    /// tiers as from the full ledger, and every envelope resolves the same.
    #[test]
    fn the_tiers_decide_as_the_full_ledger(
        records in proptest::collection::vec(record(), 1..40),
        envelopes in proptest::collection::vec(consent(), 4),
    ) {
        let ledger = Ledger::default();
        let mut full: HashMap<(String, String), Entry> = HashMap::new();
        let policy = Policy::default();
        for record in &records {
            ledger.apply(record);
            full.entry((record.site_id.clone(), record.subject.clone()))
                .or_default()
                .apply(record);
            for site in SITES {
                for subject in SUBJECTS {
                    let oracle = full.get(&(site.to_owned(), subject.to_owned())).copied();
                    let tiers = ledger.get(site, subject);
                    prop_assert_eq!(view(tiers), view(oracle), "{} {}", site, subject);
                    for (consent, headers, event) in &envelopes {
                        let ours = resolve(&policy, consent, *headers, tiers, *event, NOW);
                        let theirs = resolve(&policy, consent, *headers, oracle, *event, NOW);
                        prop_assert_eq!(ours.grants, theirs.grants);
                    }
                }
            }
        }
        prop_assert_eq!(ledger.subjects(), full.len());
    }

    /// Why the plain tier could be dropped as far as `/v1/events` is
    /// concerned: a plain entry resolves every envelope exactly as no
    /// entry at all, so dropping it never lets more through.
    #[test]
    fn a_plain_entry_resolves_as_no_entry(
        records in proptest::collection::vec(record(), 1..12),
        envelopes in proptest::collection::vec(consent(), 8),
    ) {
        let mut entry = Entry::default();
        for record in records.iter().filter(|r| r.site_id == "demo" && r.subject == "v1") {
            entry.apply(record);
        }
        prop_assume!(entry.is_plain());
        let policy = Policy::default();
        for (consent, headers, event) in &envelopes {
            let with = resolve(&policy, consent, *headers, Some(entry), *event, NOW);
            let without = resolve(&policy, consent, *headers, None, *event, NOW);
            prop_assert_eq!(with.grants, without.grants);
        }
    }
}
