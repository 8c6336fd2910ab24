//! One batch of raw messages → every record it produces: enriched events,
//! dead letters and session states. CPU only, no I/O, so the benchmark
//! measures exactly what the service runs; [`crate::pipeline`] reads back
//! state when needed and produces what this returns.

use std::collections::BTreeMap;

use fiducia_proto::headers;
use fiducia_proto::keys::partition_key;
use fiducia_proto::v1::SessionState;
use fiducia_runtime::kafka::deadletter::{dead_letter, dead_letter_headers, reason_label};
use fiducia_runtime::kafka::routing::{header, routing_headers};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

use crate::enrich::session::Visit;
use crate::enrich::validate::{Invalid, validate};
use crate::enrich::{Engine, Tally, bots};
use crate::publish::{Destination, Record};
use crate::sessions::store::{Outcome, SessionStore, StoreTally};

/// Stage name written into dead letters.
pub const STAGE: &str = "enricher";

/// What a batch counted, reported once it is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Events produced to the enriched topic.
    pub enriched: u64,
    /// Dead letters, by reason label.
    pub dead_letters: BTreeMap<&'static str, u64>,
    /// Bots dropped on the site's request.
    pub bots_dropped: u64,
    /// Events flagged as bots (dropped or not).
    pub bots_flagged: u64,
    /// Events skipped because they were enriched before a restart.
    pub already_applied: u64,
    /// Sessions started, by reason label.
    pub sessions_started: BTreeMap<&'static str, u64>,
    /// Enrichment counts.
    pub enrich: Tally,
    /// Session store counts.
    pub store: StoreTally,
}

/// A batch ready to produce.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Enriched events and dead letters: produced first.
    pub outputs: Vec<Record>,
    /// Session states and tombstones: produced once the outputs are acknowledged.
    pub states: Vec<Record>,
    /// Counts.
    pub tally: BatchTally,
}

/// Enriches batches: the rules ([`Engine`]) and the sessions ([`SessionStore`]).
#[derive(Debug)]
pub struct Processor {
    engine: Engine,
    store: SessionStore,
}

impl Processor {
    /// A processor with these rules and this store.
    #[must_use]
    pub fn new(engine: Engine, store: SessionStore) -> Self {
        Self { engine, store }
    }

    /// The raw partitions of `batch` whose session state must be read back first.
    #[must_use]
    pub fn partitions_to_restore(&self, batch: &[OwnedMessage]) -> Vec<i32> {
        first_offsets(batch)
            .into_iter()
            .filter(|&(partition, offset)| self.store.needs_restore(partition, offset))
            .map(|(partition, _)| partition)
            .collect()
    }

    /// Installs state read back for `partition`.
    pub fn install(&mut self, partition: i32, states: Vec<(String, SessionState)>) {
        self.store.install(partition, states);
    }

    /// Visitors whose session state is held in memory.
    #[must_use]
    pub fn sessions_held(&self) -> usize {
        self.store.len()
    }

    /// Forgets the state of `partitions` (read back before their next batch).
    pub fn forget(&mut self, partitions: impl IntoIterator<Item = i32>) {
        for partition in partitions {
            self.store.forget(partition);
        }
    }

    /// Enriches a batch. Session state changes at once, so a batch is
    /// prepared once and its records kept until they are acknowledged.
    pub fn prepare(&mut self, batch: &[OwnedMessage], now_ms: i64) -> Prepared {
        let mut out = Prepared {
            outputs: Vec::with_capacity(batch.len()),
            ..Prepared::default()
        };
        self.store.begin_batch();
        for message in batch {
            match self.event(message, &mut out.tally) {
                Ok(Some(record)) => out.outputs.push(record),
                Ok(None) => {}
                Err(invalid) => out
                    .outputs
                    .push(dead(message, invalid, now_ms, &mut out.tally)),
            }
        }
        let (states, store_tally) = self.store.finish_batch(&last_offsets(batch));
        out.tally.store = store_tally;
        out.states = states
            .into_iter()
            .map(|record| Record {
                destination: Destination::Sessions,
                partition: Some(record.partition),
                key: record.key.into_bytes(),
                payload: record.state.map(|s| s.encode_to_vec()),
                headers: OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: headers::SCHEMA,
                    value: Some(headers::schema::SESSION_STATE),
                }),
            })
            .collect();
        out
    }

    /// One message: its enriched record, nothing (dropped or already
    /// applied), or why it is invalid.
    fn event(
        &mut self,
        message: &OwnedMessage,
        tally: &mut BatchTally,
    ) -> Result<Option<Record>, Invalid> {
        let raw = validate(
            message.payload(),
            header(message, headers::SCHEMA),
            self.engine.sites(),
        )?;
        let mut draft = self.engine.enrich(raw, &mut tally.enrich)?;
        if !draft.event.visitor_id.is_empty() {
            let page_view = draft.is_page_view();
            let event = &draft.event;
            let visit = Visit {
                event_id: &event.event_id,
                event_time_ms: event.event_time_ms,
                received_at_ms: event.received_at_ms,
                local_day: draft.local_day,
                path: &event.path,
                referrer: &event.referrer,
                referrer_class: referrer_class(&event.referrer_class),
                campaign: [&event.utm_source, &event.utm_medium, &event.utm_campaign],
                raw_partition: message.partition(),
                raw_offset: message.offset(),
            };
            let outcome = self.store.visit(
                message.partition(),
                &event.site_id,
                &event.visitor_id,
                &visit,
                page_view,
            );
            match outcome {
                Outcome::AlreadyApplied => {
                    tally.already_applied += 1;
                    return Ok(None);
                }
                Outcome::Session {
                    assigned,
                    started,
                    impossible_rate,
                } => {
                    if let Some(start) = started {
                        *tally.sessions_started.entry(start.as_str()).or_default() += 1;
                    }
                    if impossible_rate {
                        draft.signals.push(bots::Signal::ImpossibleRate);
                    }
                    draft.set_session(assigned);
                }
            }
        }
        let (event, drop) = draft.finish();
        if event.is_bot {
            tally.bots_flagged += 1;
        }
        if drop {
            tally.bots_dropped += 1;
            return Ok(None);
        }
        tally.enriched += 1;
        let key = partition_key(&event.site_id, &event.visitor_id, &hex(&event.event_id));
        let headers = routing_headers(
            &event.site_id,
            &event.event_type,
            headers::schema::ENRICHED_EVENT,
        );
        Ok(Some(Record {
            destination: Destination::Enriched,
            partition: None,
            key: key.into_bytes(),
            payload: Some(event.encode_to_vec()),
            headers,
        }))
    }
}

/// The dead letter of `message`, counted.
fn dead(message: &OwnedMessage, invalid: Invalid, now_ms: i64, tally: &mut BatchTally) -> Record {
    let label = reason_label(invalid.reason);
    tracing::warn!(reason = label, field = invalid.field, detail = %invalid.detail, partition = message.partition(), offset = message.offset(), "dead-lettering raw message");
    *tally.dead_letters.entry(label).or_default() += 1;
    let mut letter = dead_letter(STAGE, invalid.reason, invalid.detail, message, now_ms);
    invalid.field.clone_into(&mut letter.field);
    Record {
        destination: Destination::DeadLetter,
        partition: None,
        key: message.key().unwrap_or_default().to_vec(),
        payload: Some(letter.encode_to_vec()),
        headers: dead_letter_headers(message),
    }
}

/// The static class label the session state keeps.
fn referrer_class(class: &str) -> &'static str {
    use crate::enrich::referrer::ReferrerClass as C;
    [
        C::Direct,
        C::Internal,
        C::Search,
        C::Social,
        C::Email,
        C::Paid,
        C::Other,
    ]
    .into_iter()
    .map(C::as_str)
    .find(|label| *label == class)
    .unwrap_or("other")
}

/// First offset of each partition in the batch.
fn first_offsets(batch: &[OwnedMessage]) -> Vec<(i32, i64)> {
    let mut firsts: BTreeMap<i32, i64> = BTreeMap::new();
    for message in batch {
        firsts
            .entry(message.partition())
            .or_insert(message.offset());
    }
    firsts.into_iter().collect()
}

/// Last offset of each partition in the batch.
fn last_offsets(batch: &[OwnedMessage]) -> Vec<(i32, i64)> {
    let mut lasts: BTreeMap<i32, i64> = BTreeMap::new();
    for message in batch {
        let last = lasts.entry(message.partition()).or_insert(message.offset());
        *last = (*last).max(message.offset());
    }
    lasts.into_iter().collect()
}

/// Lower-case hex of the event id: the partition key of events without a visitor.
fn hex(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes).map_or_else(|_| String::new(), |id| id.simple().to_string())
}

#[cfg(test)]
mod tests {
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
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    /// 16:00 UTC yesterday: recent, and hours from any midnight.
    fn t0() -> i64 {
        midnight_days_ago_ms(1) + 16 * 60 * MIN
    }

    fn raw(n: u16, visitor: &str, minutes: i64) -> RawEvent {
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

    fn message(partition: i32, offset: i64, payload: Vec<u8>) -> OwnedMessage {
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

    fn processor(sites: &str) -> Processor {
        Processor::new(
            Engine::new(
                Sites::parse(sites, "t").unwrap(),
                NonZeroUsize::new(16).unwrap(),
                None,
            ),
            SessionStore::new(1000),
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
        let mut processor = processor("[sites.strict]\ndrop_bots = true\n");
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
        processor.install(0, Vec::new());
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
        first.install(0, Vec::new());
        let batch = vec![
            message(0, 0, raw(1, "v1", 0).encode_to_vec()),
            message(0, 1, raw(2, "v1", 1).encode_to_vec()),
        ];
        let prepared = first.prepare(&batch, t0());
        let session = enriched(&prepared)[0].session_id.clone();
        let states: Vec<(String, SessionState)> = prepared
            .states
            .iter()
            .map(|r| {
                (
                    String::from_utf8(r.key.clone()).unwrap(),
                    SessionState::decode(r.payload.as_deref().unwrap()).unwrap(),
                )
            })
            .collect();
        // The offsets were never committed: the next owner reads 0.. again.
        let mut second = processor("");
        second.install(0, states);
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
        processor.install(0, Vec::new());
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
}
