//! The batch processor on whole batches: records, dead letters, session
//! states, hand-over to another processor, hostile input. Its fixtures
//! (raw events, messages, a processor) serve the pipeline's tests too.

use std::num::NonZeroUsize;

use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::v1::{
    ConsentSnapshot, ConsentState, DeadLetter, DeadLetterReason, Decision, EnrichedEvent,
    PageContext, RawEvent,
};
use rdkafka::Timestamp;

use super::*;
use crate::sites::Sites;

const MIN: i64 = 60_000;
use fiducia_testkit::raw::CHROME;

/// 16:00 UTC yesterday: recent, and hours from any midnight.
pub(crate) fn t0() -> i64 {
    midnight_days_ago_ms(1) + 16 * 60 * MIN
}

pub(crate) fn raw(n: u16, visitor: &str, minutes: i64) -> RawEvent {
    let mut id = *uuid::Uuid::now_v7().as_bytes();
    id[14..].copy_from_slice(&n.to_be_bytes());
    RawEvent {
        event_id: id.to_vec(),
        site_id: "demo".into(),
        event_type: "page_view".into(),
        client_ts_ms: t0() + minutes * MIN,
        received_at_ms: t0() + minutes * MIN,
        consent: Some(ConsentSnapshot {
            measurement: ConsentState::Granted.into(),
            ..ConsentSnapshot::default()
        }),
        context: Some(PageContext {
            url: format!("https://shop.example/p/{n}"),
            screen_width: 1920,
            screen_height: 1080,
            ..PageContext::default()
        }),
        visitor_id: visitor.into(),
        user_agent: CHROME.into(),
        decision: Decision::Keep.into(),
        ..RawEvent::default()
    }
}

pub(crate) fn message(partition: i32, offset: i64, payload: Vec<u8>) -> OwnedMessage {
    OwnedMessage::new(
        Some(payload),
        Some(b"demo/key".to_vec()),
        "raw".into(),
        Timestamp::NotAvailable,
        partition,
        offset,
        None,
    )
}

/// A processor with the rules of sites file `sites` ("": none, every
/// site at the defaults).
pub(crate) fn processor(sites: &str) -> Processor {
    processor_erasing(sites, Arc::default())
}

/// [`processor`], dropping the subjects of `erased`.
fn processor_erasing(sites: &str, erased: Arc<Erased>) -> Processor {
    let sites = if sites.is_empty() {
        Sites::default()
    } else {
        Sites::parse(sites, "t").unwrap()
    };
    Processor::new(
        Engine::new(sites, NonZeroUsize::new(16).unwrap(), None),
        SessionStore::new(1000),
        erased,
    )
}

fn enriched(prepared: &Prepared) -> Vec<EnrichedEvent> {
    prepared
        .outputs
        .iter()
        .filter(|r| r.destination == Destination::Enriched)
        .map(|r| EnrichedEvent::decode(r.payload.as_deref().unwrap()).unwrap())
        .collect()
}

#[test]
fn a_batch_yields_events_dead_letters_and_session_states() {
    let mut processor = processor(
        "[sites.strict.collect]\nallowed_origins = []\n[sites.strict.enrich]\ndrop_bots = true\n",
    );
    let mut bot = raw(4, "b", 0);
    bot.site_id = "strict".into();
    bot.user_agent = "curl/8.5.0".into();
    let batch = vec![
        message(0, 10, raw(1, "v1", 0).encode_to_vec()),
        message(0, 11, raw(2, "v1", 5).encode_to_vec()),
        message(0, 12, raw(3, "", 6).encode_to_vec()),
        message(0, 13, vec![0xff, 0xff]),
        message(0, 14, bot.encode_to_vec()),
    ];
    assert_eq!(processor.partitions_to_restore(&batch), [0]);
    processor.install(0, Vec::new(), Vec::new());
    let prepared = processor.prepare(&batch, t0());
    let events = enriched(&prepared);
    assert_eq!(
        events.len(),
        3,
        "the bot is dropped, the poison dead-lettered"
    );
    assert_eq!(events[0].session_id, events[1].session_id);
    assert_eq!((events[0].session_seq, events[1].session_seq), (1, 2));
    assert_eq!(events[0].landing_page, "/p/1");
    assert!(events[2].session_id.is_empty() && events[2].session_seq == 0);
    let letters: Vec<DeadLetter> = prepared
        .outputs
        .iter()
        .filter(|r| r.destination == Destination::DeadLetter)
        .map(|r| DeadLetter::decode(r.payload.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason(), DeadLetterReason::Undecodable);
    assert_eq!((letters[0].stage.as_str(), letters[0].offset), (STAGE, 13));
    assert_eq!(letters[0].payload, [0xff, 0xff]);
    assert_eq!(prepared.tally.enriched, 3);
    assert_eq!(prepared.tally.bots_dropped, 1);
    assert_eq!(prepared.tally.dead_letters.get("undecodable"), Some(&1));
    assert_eq!(prepared.tally.sessions_started.get("first"), Some(&2));
    // One state per visitor: v1 and the dropped bot's visitor.
    assert_eq!(prepared.states.len(), 2);
    assert!(prepared.states.iter().all(|r| r.partition == Some(0)));
    assert!(
        processor
            .partitions_to_restore(&[message(0, 15, vec![])])
            .is_empty()
    );
}

#[test]
fn another_processor_continues_from_the_written_states_and_skips_what_was_applied() {
    let mut first = processor("");
    first.install(0, Vec::new(), Vec::new());
    let batch = vec![
        message(0, 0, raw(1, "v1", 0).encode_to_vec()),
        message(0, 1, raw(2, "v1", 1).encode_to_vec()),
    ];
    let prepared = first.prepare(&batch, t0());
    let session = enriched(&prepared)[0].session_id.clone();
    let states: Vec<(String, SessionState)> = prepared
        .states
        .iter()
        .filter(|r| r.destination == Destination::Sessions)
        .map(|r| {
            (
                String::from_utf8(r.key.clone()).unwrap(),
                SessionState::decode(r.payload.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    // The offsets were never committed: the next owner reads 0.. again.
    let mut second = processor("");
    second.install(0, states, Vec::new());
    let mut again = batch.clone();
    again.push(message(0, 2, raw(3, "v1", 2).encode_to_vec()));
    let prepared = second.prepare(&again, t0());
    let events = enriched(&prepared);
    assert_eq!(events.len(), 1, "offsets 0 and 1 were already enriched");
    assert_eq!(
        (events[0].session_id.as_str(), events[0].session_seq),
        (session.as_str(), 3)
    );
    assert_eq!(prepared.tally.already_applied, 2);
}

#[test]
fn a_visitor_too_fast_for_a_person_is_flagged() {
    let mut processor = processor("");
    processor.install(0, Vec::new(), Vec::new());
    let batch: Vec<OwnedMessage> = (0..12)
        .map(|i| {
            let mut event = raw(i, "fast", 0);
            event.client_ts_ms += i64::from(i) * 100;
            event.received_at_ms = event.client_ts_ms;
            message(0, i64::from(i), event.encode_to_vec())
        })
        .collect();
    let events = enriched(&processor.prepare(&batch, t0()));
    assert!(!events[9].is_bot);
    assert!(events[10].is_bot && events[11].is_bot);
    assert_eq!(events[10].bot_reasons, ["impossible_rate"]);
}

proptest::proptest! {
    #[test]
    fn hostile_messages_never_panic_and_each_yields_one_record(
        payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 1..20),
    ) {
        let mut processor = processor("");
        let batch: Vec<OwnedMessage> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, p)| message(0, i64::try_from(i).unwrap(), p))
            .collect();
        let prepared = processor.prepare(&batch, t0());
        proptest::prop_assert_eq!(prepared.outputs.len(), batch.len());
    }

    #[test]
    fn hostile_fields_never_panic(
        url in ".{0,120}",
        referrer in ".{0,120}",
        title in ".{0,60}",
        user_agent in ".{0,120}",
        props in ".{0,60}",
        visitor in "[a-z0-9]{0,8}",
        ts in proptest::num::i64::ANY,
    ) {
        let mut event = raw(1, &visitor, 0);
        let context = event.context.as_mut().unwrap();
        (context.url, context.referrer, context.title) = (url, referrer, title);
        event.user_agent = user_agent;
        event.props_json = props;
        event.client_ts_ms = ts;
        event.sent_at_ms = ts / 2;
        let mut processor = processor("");
        let prepared = processor.prepare(&[message(0, 0, event.encode_to_vec())], t0());
        proptest::prop_assert_eq!(prepared.outputs.len(), 1);
    }
}

fn erasure(subject: &str, user_id: &str) -> fiducia_proto::v1::PrivacyRequest {
    fiducia_proto::v1::PrivacyRequest {
        site_id: "demo".into(),
        subject: subject.into(),
        user_key: if user_id.is_empty() {
            String::new()
        } else {
            fiducia_proto::privacy::user_key("demo", user_id)
        },
        kind: fiducia_proto::v1::PrivacyRequestKind::Erasure.into(),
        ..fiducia_proto::v1::PrivacyRequest::default()
    }
}

#[test]
fn events_of_erased_visitors_and_users_still_in_kafka_are_dropped_others_pass() {
    let erased = Arc::new(Erased::default());
    erased.apply(&erasure("gone", ""));
    erased.apply(&erasure("", "u-gone"));
    let mut processor = processor_erasing("", Arc::clone(&erased));
    let mut by_user = raw(3, "other-device", 2);
    by_user.user_id = "u-gone".into();
    let mut kept_user = raw(4, "v2", 3);
    kept_user.user_id = "u-kept".into();
    let mut other_site = raw(5, "gone", 4);
    other_site.site_id = "blog".into();
    let batch = vec![
        message(0, 1, raw(1, "gone", 0).encode_to_vec()),
        message(0, 2, raw(2, "kept", 1).encode_to_vec()),
        message(0, 3, by_user.encode_to_vec()),
        message(0, 4, kept_user.encode_to_vec()),
        message(0, 5, other_site.encode_to_vec()),
    ];
    processor.install(0, Vec::new(), Vec::new());
    let prepared = processor.prepare(&batch, t0());
    let visitors: Vec<String> = enriched(&prepared)
        .into_iter()
        .map(|e| format!("{}/{}", e.site_id, e.visitor_id))
        .collect();
    assert_eq!(visitors, ["demo/kept", "demo/v2", "blog/gone"]);
    assert_eq!(prepared.tally.erased, 2);
    assert!(
        prepared
            .states
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.key).contains("gone")
                || r.key.starts_with(b"blog/")),
        "no session state for an erased visitor"
    );
}

#[test]
fn an_erasure_forgets_the_visitors_session_state_with_a_tombstone() {
    let erased = Arc::new(Erased::default());
    let mut processor = processor_erasing("", Arc::clone(&erased));
    processor.install(0, Vec::new(), Vec::new());
    let first = processor.prepare(
        &[
            message(0, 1, raw(1, "v1", 0).encode_to_vec()),
            message(0, 2, raw(2, "v2", 0).encode_to_vec()),
        ],
        t0(),
    );
    assert_eq!(first.states.len(), 2);
    assert_eq!(processor.sessions_held(), 2);
    erased.apply(&erasure("v1", ""));
    let next = processor.prepare(&[message(0, 3, raw(3, "v2", 1).encode_to_vec())], t0());
    assert_eq!(processor.sessions_held(), 1);
    let tombstones: Vec<&[u8]> = next
        .states
        .iter()
        .filter(|r| r.payload.is_none())
        .map(|r| r.key.as_slice())
        .collect();
    assert_eq!(tombstones, [b"demo/v1".as_slice()]);
    assert_eq!(next.tally.store.erased, 1);
    // Once forgotten, it stays forgotten: no second tombstone.
    let later = processor.prepare(&[message(0, 4, raw(4, "v2", 2).encode_to_vec())], t0());
    assert!(later.states.iter().all(|r| r.payload.is_some()));
}

mod profiles;
