//! The session store: opening, extending, expiring and evicting sessions.

use fiducia_proto::time::midnight_days_ago_ms;

use super::*;

const MIN: i64 = 60 * 1000;
/// 16:00 UTC yesterday: recent, and hours from any midnight.
fn t0() -> i64 {
    midnight_days_ago_ms(1) + 16 * 60 * MIN
}

fn visit(id: u8, offset: i64, minutes: i64) -> Visit<'static> {
    let ids: &'static [[u8; 16]] = &[[1; 16], [2; 16], [3; 16], [4; 16], [5; 16], [6; 16]];
    Visit {
        event_id: &ids[usize::from(id)],
        event_time_ms: t0() + minutes * MIN,
        received_at_ms: t0() + minutes * MIN,
        local_day: 0,
        path: "/",
        referrer: "",
        referrer_class: "direct",
        campaign: ["", "", ""],
        raw_partition: 0,
        raw_offset: offset,
    }
}

fn session_of(outcome: &Outcome) -> (String, u32) {
    match outcome {
        Outcome::Session { assigned, .. } => (assigned.session_id.clone(), assigned.seq),
        Outcome::AlreadyApplied | Outcome::Duplicate => panic!("not applied"),
    }
}

#[test]
fn a_restored_store_continues_sessions_and_skips_what_it_already_saw() {
    let mut store = SessionStore::new(100);
    assert!(store.needs_restore(0, 0));
    store.install(0, Vec::new());
    store.begin_batch();
    let first = store.visit(0, "demo", "v1", &visit(0, 0, 0), true);
    let second = store.visit(0, "demo", "v1", &visit(1, 1, 5), true);
    assert_eq!(session_of(&second), (session_of(&first).0, 2));
    let (records, _) = store.finish_batch(&[(0, 1)]);
    assert_eq!(records.len(), 1, "one state per visitor per batch");
    assert!(!store.needs_restore(0, 2));
    assert!(store.needs_restore(0, 7), "someone else read offsets 2-6");

    // Another enricher takes over from the written state; the committed
    // offset was 1, so offset 1 comes again.
    let mut other = SessionStore::new(100);
    other.install(
        0,
        records
            .into_iter()
            .map(|r| (r.key, r.state.unwrap()))
            .collect(),
    );
    other.begin_batch();
    assert_eq!(
        other.visit(0, "demo", "v1", &visit(1, 1, 5), true),
        Outcome::AlreadyApplied
    );
    let third = other.visit(0, "demo", "v1", &visit(2, 2, 10), true);
    assert_eq!(session_of(&third), (session_of(&first).0, 3));
}

#[test]
fn quiet_visitors_are_dropped_and_tombstoned() {
    let mut store = SessionStore::new(100);
    store.begin_batch();
    store.visit(0, "demo", "quiet", &visit(0, 0, 0), true);
    store.finish_batch(&[(0, 0)]);
    store.begin_batch();
    store.visit(0, "demo", "busy", &visit(1, 1, 100), true);
    let (records, tally) = store.finish_batch(&[(0, 1)]);
    assert_eq!(tally.expired, 1);
    assert!(
        records
            .iter()
            .any(|r| r.key == "demo/quiet" && r.state.is_none())
    );
    assert!(
        records
            .iter()
            .any(|r| r.key == "demo/busy" && r.state.is_some())
    );
    assert_eq!(store.len(), 1);
}

#[test]
fn the_store_is_bounded() {
    let mut store = SessionStore::new(3);
    store.begin_batch();
    for (i, visitor) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let minutes = i64::try_from(i).unwrap();
        store.visit(0, "demo", visitor, &visit(0, minutes, minutes), true);
    }
    let (records, tally) = store.finish_batch(&[(0, 4)]);
    assert_eq!(store.len(), 3);
    assert_eq!(tally.evicted_live, 2);
    assert_eq!(records.len(), 3, "evicted states are not written");
}

#[test]
fn stale_states_are_not_installed() {
    let mut store = SessionStore::new(100);
    let state = |updated: i64| SessionState {
        updated_at_ms: updated,
        ..SessionState::default()
    };
    store.install(
        1,
        vec![
            ("demo/old".into(), state(t0())),
            ("demo/new".into(), state(t0() + 3 * RETAIN_MS)),
        ],
    );
    assert_eq!(store.len(), 1);
}
