//! The tiers against the full ledger: random records (ties, records
//! received late, duplicates, every action, objections and their explicit
//! lifting, retention choices, erasures) are applied both to the
//! [`Ledger`] and to the oracle, today's full ledger (one [`Entry`] per
//! subject, every field kept), and every decision the collector makes on
//! an entry is compared, and resolved against random envelopes. And a
//! ledger restored from its snapshot (`consent/snapshot/`) after any prefix
//! of records, then fed the rest, against the ledger fed every record.

use std::collections::HashMap;

use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot};
use proptest::prelude::*;

use super::{Entry, Ledger};
use crate::consent::policy::Policy;
use crate::consent::resolve::{HeaderSignals, resolve};
use crate::consent::snapshot;
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

const USER_KEYS: [&str; 2] = ["user-a", "user-b"];

/// One record in eight (`by_user` 0 or 1) made an erasure by user key,
/// as the admin API records it (no subject).
fn by_user_key(record: ConsentRecord, by_user: u8) -> ConsentRecord {
    match USER_KEYS.get(usize::from(by_user)) {
        Some(user) => ConsentRecord {
            user_key: (*user).into(),
            subject: String::new(),
            action: ConsentAction::Erase.into(),
            ..record
        },
        None => record,
    }
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

    /// A snapshot loses nothing: restored after any prefix of the records
    /// (erasures by user key among them), then fed the rest, the ledger
    /// reads as the one fed every record from scratch, in every field a
    /// decision reads, every subject's history and every erased user.
    #[test]
    fn a_ledger_restored_from_its_snapshot_then_fed_the_rest_is_the_ledger_fed_all(
        records in proptest::collection::vec((record(), 0_u8..8), 1..40),
        cut in any::<proptest::sample::Index>(),
    ) {
        let records: Vec<ConsentRecord> = records
            .into_iter()
            .map(|(record, by_user)| by_user_key(record, by_user))
            .collect();
        let cut = cut.index(records.len() + 1);
        let fresh = Ledger::default();
        let before = Ledger::default();
        for record in &records {
            fresh.apply(record);
        }
        for record in &records[..cut] {
            before.apply(record);
        }
        let file = snapshot::format::encode(&snapshot::Cover::default(), &before, NOW);
        let (_, restored) = snapshot::format::decode(&file).expect("a snapshot just written");
        for record in &records[cut..] {
            restored.apply(record);
        }
        for site in SITES {
            for subject in SUBJECTS {
                prop_assert_eq!(
                    view(restored.get(site, subject)),
                    view(fresh.get(site, subject)),
                    "{} {}",
                    site,
                    subject
                );
                prop_assert_eq!(restored.history(site, subject), fresh.history(site, subject));
            }
            for user in USER_KEYS {
                prop_assert_eq!(
                    restored.user_key_erased(site, user),
                    fresh.user_key_erased(site, user)
                );
            }
        }
        // Bytes differ with the tables' capacities; the counts may not.
        let (ours, theirs) = (restored.size(), fresh.size());
        prop_assert_eq!((ours.subjects, ours.held), (theirs.subjects, theirs.held));
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
