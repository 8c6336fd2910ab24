//! The profile store alone: what moves a profile, what forgets it, what is
//! written. The processor's tests (`crate::batch::tests::profiles`) run it
//! on whole batches.

use fiducia_proto::profile::interests_at;

use super::*;

const T0: i64 = 1_780_000_000_000;
const ON: Consent = Consent {
    granted: true,
    since_ms: 0,
};
const OFF: Consent = Consent {
    granted: false,
    since_ms: 0,
};

fn signal<'a>(at: i64, categories: &'a [String], offset: i64) -> Signal<'a> {
    Signal {
        event_type: "page_view",
        event_time_ms: at,
        received_at_ms: at,
        categories,
        raw_offset: offset,
        ..Signal::default()
    }
}

fn written(records: &[ProfileRecord]) -> Vec<(&str, Option<u32>)> {
    let mut out: Vec<_> = records
        .iter()
        .map(|r| (r.key.as_str(), r.profile.as_ref().map(|p| p.events)))
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn consented_events_move_a_profile_written_once_per_batch() {
    let shoes = vec!["shoes".to_owned()];
    let mut store = ProfileStore::default();
    store.begin_batch();
    for n in 0..3 {
        let change = store.event(0, "demo/v1", ON, false, 0, &signal(T0 + n, &shoes, n));
        assert_eq!(change, Change::Updated);
    }
    let (records, tally) = store.finish_batch(&[0]);
    assert_eq!(written(&records), [("demo/v1", Some(3))]);
    assert_eq!((tally.updated, tally.written), (3, 1));
    let profile = records[0].profile.as_ref().unwrap();
    assert_eq!(
        (profile.site_id.as_str(), profile.visitor_id.as_str()),
        ("demo", "v1")
    );
    assert_eq!(interests_at(profile, T0 + 2), [("shoes", 3.0)]);
    assert_eq!(profile.raw_offset, 2);
}

#[test]
fn an_event_without_personalization_forgets_the_profile_and_a_bot_changes_nothing() {
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(0, "demo/v1", ON, false, 0, &signal(T0, &[], 0));
    assert_eq!(
        store.event(0, "demo/v1", ON, true, 0, &signal(T0 + 1, &[], 1)),
        Change::None
    );
    assert_eq!(store.finish_batch(&[0]).0.len(), 1);
    store.begin_batch();
    // Changed and forgotten in one batch: only the tombstone is written.
    store.event(0, "demo/v1", ON, false, 0, &signal(T0 + 2, &[], 2));
    assert_eq!(
        store.event(0, "demo/v1", OFF, false, 0, &signal(T0 + 3, &[], 3)),
        Change::Withdrawn
    );
    // A visitor without a profile and without consent: nothing at all.
    assert_eq!(
        store.event(0, "demo/v2", OFF, false, 0, &signal(T0 + 3, &[], 4)),
        Change::None
    );
    let (records, tally) = store.finish_batch(&[0]);
    assert_eq!(written(&records), [("demo/v1", None)]);
    assert_eq!(tally.withdrawn, 1);
    assert!(store.is_empty());
    // Consent given again: a new profile, nothing of the old one.
    store.begin_batch();
    store.event(0, "demo/v1", ON, false, 0, &signal(T0 + 4, &[], 5));
    let (records, _) = store.finish_batch(&[0]);
    let profile = records[0].profile.as_ref().unwrap();
    assert_eq!(
        (profile.events, profile.first_seen_ms, profile.begun_at_ms),
        (1, T0 + 4, T0 + 4)
    );
}

#[test]
fn an_erasure_forgets_the_subject_in_every_partition() {
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(3, "demo/v1", ON, false, 0, &signal(T0, &[], 0));
    store.event(3, "demo/v2", ON, false, 0, &signal(T0, &[], 1));
    store.finish_batch(&[3]);
    store.begin_batch();
    store.erase("demo", "v1");
    store.erase("demo", "nobody");
    let (records, tally) = store.finish_batch(&[]);
    assert_eq!(written(&records), [("demo/v1", None)]);
    assert_eq!(tally.erased, 1);
    assert_eq!(store.len(), 1);
}

#[test]
fn quiet_profiles_expire_after_their_retention() {
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(0, "demo/default", ON, false, 0, &signal(T0, &[], 0));
    store.event(0, "demo/chose-1", ON, false, 1, &signal(T0, &[], 1));
    store.finish_batch(&[0]);
    // Two months later another visitor's event moves the clock on.
    store.begin_batch();
    let later = T0 + 62 * DAY_MS;
    store.event(0, "demo/active", ON, false, 0, &signal(later, &[], 2));
    let (records, tally) = store.finish_batch(&[0]);
    assert_eq!(
        written(&records),
        [("demo/active", Some(1)), ("demo/chose-1", None)]
    );
    assert_eq!(tally.expired, 1);
    // Thirteen months after the first: the default retention ends too.
    store.begin_batch();
    store.event(
        0,
        "demo/active",
        ON,
        false,
        0,
        &signal(T0 + 400 * DAY_MS, &[], 3),
    );
    let (records, _) = store.finish_batch(&[0]);
    assert_eq!(
        written(&records),
        [("demo/active", Some(2)), ("demo/default", None)]
    );
}

#[test]
fn a_partition_read_back_is_installed_and_forgotten_on_hand_over() {
    let mut store = ProfileStore::default();
    let held = Profile {
        site_id: "demo".into(),
        visitor_id: "v1".into(),
        events: 4,
        updated_at_ms: T0,
        ..Profile::default()
    };
    store.install(1, vec![("demo/v1".into(), held)]);
    store.begin_batch();
    store.event(1, "demo/v1", ON, false, 0, &signal(T0 + 1, &[], 9));
    let (records, _) = store.finish_batch(&[1]);
    assert_eq!(written(&records), [("demo/v1", Some(5))]);
    store.forget(1);
    assert!(store.is_empty());
}

#[test]
fn a_profile_forgotten_and_begun_again_in_one_batch_is_written_once_without_a_tombstone_after_it() {
    // Found by the processor's property test: the tombstone was written
    // after the new profile, so the topic forgot a visitor who had agreed.
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(0, "demo/v1", ON, false, 0, &signal(T0, &[], 0));
    store.finish_batch(&[0]);
    store.begin_batch();
    store.event(0, "demo/v1", OFF, false, 0, &signal(T0 + 1, &[], 1));
    store.event(0, "demo/v1", ON, false, 0, &signal(T0 + 2, &[], 2));
    let (records, _) = store.finish_batch(&[0]);
    assert_eq!(written(&records), [("demo/v1", Some(1))]);
    assert_eq!(records[0].profile.as_ref().unwrap().first_seen_ms, T0 + 2);
}

#[test]
fn a_profile_begun_before_personalization_was_turned_on_again_starts_again() {
    // Withdrawn and granted again in the privacy center, with no event in
    // between: this store never saw the withdrawal, the event says when.
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(0, "demo/v1", ON, false, 0, &signal(T0, &[], 0));
    store.event(0, "demo/v1", ON, false, 0, &signal(T0 + 1, &[], 1));
    store.finish_batch(&[0]);
    store.begin_batch();
    let again = Consent {
        granted: true,
        since_ms: T0 + 50,
    };
    let change = store.event(0, "demo/v1", again, false, 0, &signal(T0 + 100, &[], 2));
    assert_eq!(change, Change::Restarted);
    // Its next events continue it: it began after the grant.
    let change = store.event(0, "demo/v1", again, false, 0, &signal(T0 + 101, &[], 3));
    assert_eq!(change, Change::Updated);
    let (records, tally) = store.finish_batch(&[0]);
    assert_eq!(written(&records), [("demo/v1", Some(2))]);
    assert_eq!(records[0].profile.as_ref().unwrap().begun_at_ms, T0 + 100);
    assert_eq!(tally.withdrawn, 1);
}

#[test]
fn a_withdrawal_read_from_the_consent_topic_forgets_profiles_begun_before_it_only() {
    let mut store = ProfileStore::default();
    store.begin_batch();
    store.event(0, "demo/old", ON, false, 0, &signal(T0, &[], 0));
    store.event(2, "demo/new", ON, false, 0, &signal(T0 + 100, &[], 1));
    store.finish_batch(&[0, 2]);
    store.begin_batch();
    store.withdraw("demo", "old", T0 + 50);
    // Granted again after that withdrawal, and begun since: kept.
    store.withdraw("demo", "new", T0 + 50);
    store.withdraw("demo", "unknown", T0 + 50);
    let (records, tally) = store.finish_batch(&[]);
    assert_eq!(written(&records), [("demo/old", None)]);
    assert_eq!(tally.withdrawn, 1);
    assert_eq!(store.len(), 1);
}
