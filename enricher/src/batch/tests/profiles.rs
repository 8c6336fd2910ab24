//! Profiles on whole batches: which events move a profile, which forget
//! it, what is written; and a property test whose oracle is the consent
//! rule itself (module docs of `crate::profiles`), not the store's code.

use std::collections::HashMap;

use fiducia_proto::profile::interests_at;
use fiducia_proto::v1::Profile;
use proptest::prelude::*;

use super::*;

const SITES: &str = r#"
[sites.demo.collect]
allowed_origins = []
[[sites.demo.enrich.categories]]
name = "shoes"
path_prefix = "/p/shoes/"
[[sites.demo.enrich.items]]
path_regex = "^/p/[^/]+/([^/]+)"
"#;

/// An event of `visitor` on `path`, with personalization granted or not.
fn event(n: u16, visitor: &str, minutes: i64, path: &str, personalization: bool) -> RawEvent {
    let mut raw = raw(n, visitor, minutes);
    if personalization {
        raw.consent.as_mut().unwrap().personalization = ConsentState::Granted.into();
    }
    raw.context.as_mut().unwrap().url = format!("https://shop.example{path}");
    raw
}

fn bot(mut raw: RawEvent) -> RawEvent {
    raw.user_agent = "curl/8.5.0".into();
    raw
}

/// The profile records of a batch: key → profile (`None`: tombstone).
fn profiles(prepared: &Prepared) -> Vec<(String, Option<Profile>)> {
    prepared
        .states
        .iter()
        .filter(|r| r.destination == Destination::Profiles)
        .map(|r| {
            let profile = r.payload.as_deref().map(|p| Profile::decode(p).unwrap());
            (String::from_utf8(r.key.clone()).unwrap(), profile)
        })
        .collect()
}

fn batch(events: &[RawEvent], first_offset: i64) -> Vec<OwnedMessage> {
    events
        .iter()
        .zip(first_offset..)
        .map(|(e, offset)| message(0, offset, e.encode_to_vec()))
        .collect()
}

#[test]
fn consented_browsing_makes_a_profile_with_interests_and_items_written_after_the_events() {
    let mut processor = processor(SITES);
    processor.install(0, Vec::new(), Vec::new());
    let events = [
        event(1, "v1", 0, "/p/shoes/runner-2", true),
        event(2, "v1", 1, "/p/shoes/trail-5", true),
        event(3, "v1", 2, "/about", true),
        // Measurement only: no profile, and none written.
        event(4, "v2", 0, "/p/shoes/runner-2", false),
    ];
    let prepared = processor.prepare(&batch(&events, 0), t0());
    let items: Vec<String> = enriched(&prepared).into_iter().map(|e| e.item_id).collect();
    assert_eq!(items, ["runner-2", "trail-5", "", "runner-2"]);
    let written = profiles(&prepared);
    assert_eq!(written.len(), 1);
    let (key, profile) = &written[0];
    let profile = profile.as_ref().unwrap();
    assert_eq!(key, "demo/v1");
    assert_eq!(profile.events, 3);
    assert_eq!(profile.sessions, 1);
    assert_eq!(profile.recent_items, ["trail-5", "runner-2"]);
    assert_eq!(
        interests_at(profile, profile.scores_at_ms),
        [("shoes", 2.0)]
    );
    assert_eq!(profile.device, "desktop");
    assert_eq!((profile.raw_partition, profile.raw_offset), (0, 2));
    assert_eq!(prepared.tally.profiles.updated, 3);
    assert_eq!(processor.profiles_held(), 1);
    // Profiles go with the session states, after the events.
    assert!(
        prepared
            .outputs
            .iter()
            .all(|r| r.destination != Destination::Profiles)
    );
}

/// What a batch wrote to `destination`, decoded as `S`.
fn kept<S: prost::Message + Default>(
    prepared: &Prepared,
    destination: Destination,
) -> Vec<(String, S)> {
    prepared
        .states
        .iter()
        .filter(|r| r.destination == destination)
        .map(|r| {
            let state = S::decode(r.payload.as_deref().unwrap()).unwrap();
            (String::from_utf8(r.key.clone()).unwrap(), state)
        })
        .collect()
}

#[test]
fn a_redelivered_event_counts_once_whichever_of_a_batchs_state_records_were_written() {
    // A crash after the events were acknowledged: the session states and
    // profiles of the batch were both written, or only one of the two (they
    // are produced side by side, not atomically).
    for (sessions_written, profiles_written) in [(true, true), (true, false), (false, true)] {
        let mut first = processor(SITES);
        first.install(0, Vec::new(), Vec::new());
        let events = [
            event(1, "v1", 0, "/p/shoes/a", true),
            event(2, "v1", 1, "/p/shoes/b", true),
        ];
        let prepared = first.prepare(&batch(&events, 0), t0());
        let states: Vec<(String, SessionState)> = kept(&prepared, Destination::Sessions);
        let held: Vec<(String, Profile)> = kept(&prepared, Destination::Profiles);
        // Offsets never committed: the next owner reads both again, then one more.
        let mut second = processor(SITES);
        second.install(
            0,
            if sessions_written { states } else { Vec::new() },
            if profiles_written { held } else { Vec::new() },
        );
        let mut again = events.to_vec();
        again.push(event(3, "v1", 2, "/p/shoes/c", true));
        let prepared = second.prepare(&batch(&again, 0), t0());
        let written = profiles(&prepared);
        let profile = written[0].1.as_ref().unwrap();
        let case = (sessions_written, profiles_written);
        assert_eq!(profile.events, 3, "{case:?}");
        assert_eq!(profile.recent_items, ["c", "b", "a"], "{case:?}");
    }
}

#[test]
fn an_event_without_personalization_or_an_erasure_tombstones_the_profile_and_bots_move_nothing() {
    let erased = Arc::new(Erased::default());
    let mut processor = processor_erasing(SITES, Arc::clone(&erased));
    processor.install(0, Vec::new(), Vec::new());
    let events = [
        event(1, "v1", 0, "/p/shoes/a", true),
        event(2, "v2", 0, "/p/shoes/a", true),
        bot(event(3, "v3", 0, "/p/shoes/a", true)),
    ];
    let prepared = processor.prepare(&batch(&events, 0), t0());
    let keys: Vec<String> = profiles(&prepared).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        !keys.contains(&"demo/v3".to_owned()),
        "a bot has no profile"
    );

    erased.apply(&erasure("v2", ""));
    let events = [event(4, "v1", 5, "/p/shoes/b", false)];
    let prepared = processor.prepare(&batch(&events, 3), t0());
    let mut written = profiles(&prepared);
    written.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        written,
        [("demo/v1".into(), None), ("demo/v2".into(), None)]
    );
    assert_eq!(
        (
            prepared.tally.profiles.withdrawn,
            prepared.tally.profiles.erased
        ),
        (1, 1)
    );
    assert_eq!(processor.profiles_held(), 0);
}

/// One generated event: visitor 0-2, personalization, bot, an erasure of
/// the visitor just before it, personalization withdrawn and granted again
/// (in the privacy center, no event in between) just before it.
#[derive(Debug, Clone)]
struct Step {
    visitor: u8,
    personalization: bool,
    bot: bool,
    erase_before: bool,
    regrant_before: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..3,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(visitor, personalization, bot, erase_before, regrant_before)| Step {
                visitor,
                personalization,
                bot,
                erase_before,
                regrant_before,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The oracle, from the rules only: a visitor's profile counts exactly
    /// the non-bot events with personalization granted since their latest
    /// event without it and since personalization was last turned on, and
    /// nothing of an erased visitor; a visitor with no such event has no
    /// profile; whatever is written last for a visitor is what they hold.
    #[test]
    fn a_profile_holds_only_what_the_standing_consent_allows(steps in prop::collection::vec(step(), 1..40), cut in 1usize..8) {
        let erased = Arc::new(Erased::default());
        let mut processor = processor_erasing(SITES, Arc::clone(&erased));
        processor.install(0, Vec::new(), Vec::new());
        let mut expected: HashMap<String, u32> = HashMap::new();
        let mut gone: Vec<String> = Vec::new();
        let mut last_written: HashMap<String, Option<u32>> = HashMap::new();
        let mut since: HashMap<String, i64> = HashMap::new();
        let mut offset = 0i64;
        for chunk in steps.chunks(cut) {
            // Erasures land between batches, as the deny-list is read.
            for s in chunk.iter().filter(|s| s.erase_before) {
                let visitor = format!("v{}", s.visitor);
                erased.apply(&erasure(&visitor, ""));
                expected.remove(&format!("demo/{visitor}"));
                gone.push(format!("demo/{visitor}"));
            }
            let events: Vec<RawEvent> = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let n = u16::try_from(offset).unwrap() + u16::try_from(i).unwrap();
                    let mut e = event(n, &format!("v{}", s.visitor), i64::from(n), "/p/shoes/x", s.personalization);
                    let key = format!("demo/v{}", s.visitor);
                    if s.regrant_before {
                        since.insert(key.clone(), e.received_at_ms - 1);
                    }
                    e.personalization_since_ms = since.get(&key).copied().unwrap_or(0);
                    if s.bot { bot(e) } else { e }
                })
                .collect();
            for s in chunk {
                let key = format!("demo/v{}", s.visitor);
                if gone.contains(&key) {
                    continue;
                }
                if s.regrant_before {
                    expected.remove(&key);
                }
                if !s.personalization {
                    expected.remove(&key);
                } else if !s.bot {
                    *expected.entry(key).or_default() += 1;
                }
            }
            let prepared = processor.prepare(&batch(&events, offset), t0());
            offset += i64::try_from(chunk.len()).unwrap();
            for (key, profile) in profiles(&prepared) {
                let events = profile.map(|p| p.events);
                prop_assert!(!gone.contains(&key) || events.is_none(), "{key} erased but written");
                last_written.insert(key, events);
            }
            for visitor in 0..3 {
                let key = format!("demo/v{visitor}");
                let want = expected.get(&key).copied();
                let have = last_written.get(&key).copied().flatten();
                prop_assert_eq!(have, want, "{} after offset {}", key, offset);
            }
        }
        prop_assert_eq!(processor.profiles_held(), expected.len());
    }
}
