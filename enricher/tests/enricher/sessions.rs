//! Sessions and profiles across restarts and rebalances, with the enricher
//! as a process of its own: a `kill -9` mid-stream and a second instance
//! joining then the first leaving lose no event, every visitor's session
//! goes on without being split or merged (at-least-once copies agree on
//! it), and every visitor's profile counts each event exactly once.

use std::ops::Range;
use std::time::Duration;

use fiducia_proto::v1::{ConsentState, RawEvent};
use fiducia_testkit::{eventually, unique};
use rdkafka::producer::FutureProducer;

use crate::helpers::{Process, Setup, profiles_by_visitor, raw_event, sessions_by_visitor};

const VISITORS: usize = 12;
const ROUNDS: usize = 30;
/// Visitor `v0` pauses this long after its 15th event: two sessions.
const GAP_MINUTES: i64 = 40;

/// Round `j` holds every visitor's `j`th event, a minute after the previous.
fn plan() -> Vec<Vec<RawEvent>> {
    (0..ROUNDS)
        .map(|j| {
            let minute = i64::try_from(j).unwrap();
            (0..VISITORS)
                .map(|v| {
                    let gap = if v == 0 && j >= ROUNDS / 2 {
                        GAP_MINUTES
                    } else {
                        0
                    };
                    let mut raw = raw_event(&format!("v{v}"), minute + gap);
                    // Every visitor agreed to personalization: a profile each.
                    if let Some(consent) = raw.consent.as_mut() {
                        consent.personalization = ConsentState::Granted.into();
                    }
                    raw
                })
                .collect()
        })
        .collect()
}

/// Every visitor has one session of `ROUNDS` events numbered 1..; `v0` two halves.
fn assert_sessions_continuous(setup_events: &[fiducia_proto::v1::EnrichedEvent]) {
    let sessions = sessions_by_visitor(setup_events);
    assert_eq!(sessions.len(), VISITORS);
    let numbered = |n: usize| (1..=u32::try_from(n).unwrap()).collect::<Vec<_>>();
    for (visitor, by_session) in &sessions {
        let mut lengths: Vec<Vec<u32>> = by_session.values().cloned().collect();
        lengths.sort();
        let want = if visitor == "v0" {
            vec![numbered(ROUNDS / 2), numbered(ROUNDS / 2)]
        } else {
            vec![numbered(ROUNDS)]
        };
        assert_eq!(lengths, want, "sessions of {visitor}");
    }
}

/// Every visitor's profile counts its `ROUNDS` events, each once.
async fn assert_profiles_complete(setup: &Setup) {
    let profiles = profiles_by_visitor(setup, |profiles| {
        profiles.len() == VISITORS
            && profiles
                .values()
                .all(|p| p.events >= u32::try_from(ROUNDS).unwrap())
    })
    .await;
    for (visitor, profile) in &profiles {
        assert_eq!(
            profile.events,
            u32::try_from(ROUNDS).unwrap(),
            "events of {visitor}"
        );
        let sessions = if visitor == "v0" { 2 } else { 1 };
        assert_eq!(profile.sessions, sessions, "sessions of {visitor}");
    }
}

/// A test's topics, its events, a producer and a first, ready enricher.
struct Stage {
    setup: Setup,
    group: String,
    rounds: Vec<Vec<RawEvent>>,
    producer: FutureProducer,
}

impl Stage {
    async fn new() -> (Self, Process) {
        let setup = Setup::new().await;
        let group = unique("enricher");
        let producer = setup.producer();
        let first = Process::start(&setup, &group);
        first.ready().await;
        let stage = Self {
            setup,
            group,
            rounds: plan(),
            producer,
        };
        (stage, first)
    }

    /// Another enricher in the same group.
    fn another(&self) -> Process {
        Process::start(&self.setup, &self.group)
    }

    /// Produces `rounds`, pausing between them.
    async fn produce(&self, rounds: Range<usize>, pause: Duration) {
        for round in &self.rounds[rounds] {
            for event in round {
                self.setup.produce_raw(&self.producer, event).await;
            }
            tokio::time::sleep(pause).await;
        }
    }
}

#[tokio::test]
async fn a_kill_9_mid_stream_loses_nothing_and_splits_no_session() {
    let (stage, mut first) = Stage::new().await;
    stage.produce(0..12, Duration::from_millis(100)).await;
    first.kill_9();
    let second = stage.another();
    stage.produce(12..ROUNDS, Duration::from_millis(50)).await;
    let events = stage.setup.enriched(VISITORS * ROUNDS).await;
    assert_sessions_continuous(&events);
    assert_profiles_complete(&stage.setup).await;
    let enriched = second.counter("fiducia_enricher_events_enriched_total");
    assert!(enriched.await > 0.0);
    let restores = second.counter("fiducia_enricher_session_restores_total");
    assert!(
        restores.await >= 1.0,
        "the new instance read session state back"
    );
}

#[tokio::test]
async fn a_rebalance_between_two_enrichers_keeps_sessions() {
    let (stage, mut first) = Stage::new().await;
    stage.produce(0..10, Duration::from_millis(50)).await;
    stage.setup.enriched(VISITORS * 10).await;

    // A second instance joins: the partitions are shared.
    let second = stage.another();
    second.ready().await;
    stage.produce(10..20, Duration::from_millis(200)).await;
    eventually(
        "the second instance getting a partition",
        crate::helpers::WAIT,
        || async {
            match second
                .counter("fiducia_enricher_events_enriched_total")
                .await
            {
                0.0 => Err("no event enriched".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    stage.setup.enriched(VISITORS * 20).await;

    // The first leaves: the second takes everything over.
    first.terminate();
    stage.produce(20..ROUNDS, Duration::from_millis(50)).await;
    let events = stage.setup.enriched(VISITORS * ROUNDS).await;
    assert_sessions_continuous(&events);
    assert_profiles_complete(&stage.setup).await;
    let restores = second.counter("fiducia_enricher_session_restores_total");
    assert!(
        restores.await >= 2.0,
        "the second instance read back the state of both partitions"
    );
}
