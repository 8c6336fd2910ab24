//! One batch of raw messages → every record it produces: enriched events,
//! dead letters, session states and profiles. CPU only, no I/O, so the benchmark
//! measures exactly what the service runs; [`crate::pipeline`] reads back
//! state when needed and produces what this returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use fiducia_proto::headers;
use fiducia_proto::keys::event_key;
use fiducia_proto::privacy::effective_retention_months;
use fiducia_proto::profile::Signal;
use fiducia_proto::v1::{EnrichedEvent, Profile, SessionState};
use fiducia_runtime::erased::Erased;
use fiducia_runtime::kafka::deadletter::{dead_letter, dead_letter_headers, reason_label};
use fiducia_runtime::kafka::routing::{header, routing_headers};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

use crate::enrich::session::Visit;
use crate::enrich::validate::{Invalid, validate};
use crate::enrich::{Engine, Tally, bots};
use crate::profiles::{Change, Consent, ProfileStore, ProfileTally};
use crate::publish::{Destination, Record};
use crate::sessions::store::{Outcome, SessionStore, StoreTally};
use crate::withdrawals::Withdrawals;

/// Stage name written into dead letters.
pub const STAGE: &str = "enricher";

/// What a batch counted, reported once it is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Raw messages of the batch: each is enriched, dead-lettered or
    /// dropped (bot, erased, duplicate, already applied), exactly one of them.
    pub consumed: u64,
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
    /// Events of erased subjects, dropped.
    pub erased: u64,
    /// Copies of a visitor's recent events (sent again by the tag), dropped.
    pub duplicates: u64,
    /// Sessions started, by reason label.
    pub sessions_started: BTreeMap<&'static str, u64>,
    /// Enrichment counts.
    pub enrich: Tally,
    /// Session store counts.
    pub store: StoreTally,
    /// Profile counts.
    pub profiles: ProfileTally,
}

/// A batch ready to produce.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Enriched events and dead letters: produced first.
    pub outputs: Vec<Record>,
    /// Session states, profiles and their tombstones: produced once the
    /// outputs are acknowledged.
    pub states: Vec<Record>,
    /// Counts.
    pub tally: BatchTally,
}

/// Enriches batches: the rules ([`Engine`]), the sessions
/// ([`SessionStore`]) and the profiles ([`ProfileStore`]), minus the
/// subjects erased ([`Erased`]).
#[derive(Debug)]
pub struct Processor {
    engine: Engine,
    store: SessionStore,
    profiles: ProfileStore,
    erased: Arc<Erased>,
    /// Position in the erased visitors' log up to which states were forgotten.
    erased_seen: usize,
    withdrawals: Arc<Withdrawals>,
}

impl Processor {
    /// A processor with these rules and this store, dropping the events of
    /// the subjects in `erased` (the privacy topic's deny-list, followed).
    #[must_use]
    pub fn new(engine: Engine, store: SessionStore, erased: Arc<Erased>) -> Self {
        Self {
            engine,
            store,
            profiles: ProfileStore::default(),
            erased,
            erased_seen: 0,
            withdrawals: Arc::default(),
        }
    }

    /// The same processor, forgetting the profiles of the subjects queued in
    /// `withdrawals` at the start of each batch.
    #[must_use]
    pub fn with_withdrawals(mut self, withdrawals: Arc<Withdrawals>) -> Self {
        self.withdrawals = withdrawals;
        self
    }

    /// What queuing a withdrawal notifies ([`Withdrawals::wake`]).
    #[must_use]
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.withdrawals.wake()
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

    /// Installs the session states and profiles read back for `partition`.
    pub fn install(
        &mut self,
        partition: i32,
        states: Vec<(String, SessionState)>,
        profiles: Vec<(String, Profile)>,
    ) {
        self.store.install(partition, states);
        self.profiles.install(partition, profiles);
    }

    /// Visitors whose session state is held in memory.
    #[must_use]
    pub fn sessions_held(&self) -> usize {
        self.store.len()
    }

    /// Profiles held in memory.
    #[must_use]
    pub fn profiles_held(&self) -> usize {
        self.profiles.len()
    }

    /// Forgets the state of `partitions` (read back before their next batch).
    pub fn forget(&mut self, partitions: impl IntoIterator<Item = i32>) {
        for partition in partitions {
            self.store.forget(partition);
            self.profiles.forget(partition);
        }
    }

    /// Forgets the state of every partition not in `assigned` (the consumer's
    /// assignment: the others went to another instance in a rebalance);
    /// returns them. Their state lives on in the sessions and profiles
    /// topics, where the new owner reads it; kept here it would take room
    /// from the partitions this instance owns, and an erasure or withdrawal
    /// would write tombstones into partitions another instance writes.
    pub fn keep_only(&mut self, assigned: &[i32]) -> Vec<i32> {
        let mut gone: Vec<i32> = self
            .store
            .partitions()
            .chain(self.profiles.partitions())
            .filter(|p| !assigned.contains(p))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        self.forget(gone.iter().copied());
        gone
    }

    /// Enriches a batch. Session state changes at once, so a batch is
    /// prepared once and its records kept until they are acknowledged.
    pub fn prepare(&mut self, batch: &[OwnedMessage], now_ms: i64) -> Prepared {
        let mut out = Prepared {
            outputs: Vec::with_capacity(batch.len()),
            ..Prepared::default()
        };
        out.tally.consumed = batch.len() as u64;
        self.store.begin_batch();
        self.profiles.begin_batch();
        let (newly_erased, seen) = self.erased.visitors_since(self.erased_seen);
        self.erased_seen = seen;
        for (site, visitor) in newly_erased {
            self.store.erase(&site, &visitor);
            self.profiles.erase(&site, &visitor);
        }
        for withdrawal in self.withdrawals.take() {
            self.profiles
                .withdraw(&withdrawal.site, &withdrawal.visitor, withdrawal.at_ms);
        }
        for message in batch {
            match self.event(message, &mut out.tally) {
                Ok(Some(record)) => out.outputs.push(record),
                Ok(None) => {}
                Err(invalid) => out
                    .outputs
                    .push(dead(message, invalid, now_ms, &mut out.tally)),
            }
        }
        let last_offsets = last_offsets(batch);
        let (states, store_tally) = self.store.finish_batch(&last_offsets);
        out.tally.store = store_tally;
        let partitions: Vec<i32> = last_offsets.iter().map(|&(p, _)| p).collect();
        let (profiles, profile_tally) = self.profiles.finish_batch(&partitions);
        out.tally.profiles = profile_tally;
        let state =
            |destination, partition, key: String, payload: Option<Vec<u8>>, schema| Record {
                destination,
                partition: Some(partition),
                key: key.into_bytes(),
                payload,
                headers: OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: headers::SCHEMA,
                    value: Some(schema),
                }),
            };
        out.states = states
            .into_iter()
            .map(|r| {
                let payload = r.state.map(|s| s.encode_to_vec());
                state(
                    Destination::Sessions,
                    r.partition,
                    r.key,
                    payload,
                    headers::schema::SESSION_STATE,
                )
            })
            .chain(profiles.into_iter().map(|r| {
                let payload = r.profile.map(|p| p.encode_to_vec());
                state(
                    Destination::Profiles,
                    r.partition,
                    r.key,
                    payload,
                    headers::schema::PROFILE,
                )
            }))
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
        if self
            .erased
            .covers(&raw.site_id, &raw.visitor_id, &raw.user_id)
        {
            tally.erased += 1;
            return Ok(None);
        }
        let personalization_since_ms = raw.personalization_since_ms;
        let mut draft = self.engine.enrich(raw, &mut tally.enrich)?;
        let mut session_started = false;
        let mut already_applied = false;
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
                // Enriched and acknowledged before a restart: nothing is
                // produced, but the profile may not have been written with
                // it (its own raw offset says), so it still sees the event.
                Outcome::AlreadyApplied => {
                    tally.already_applied += 1;
                    already_applied = true;
                }
                // Its first copy was enriched and moved the profile; the
                // sink would collapse this one on its id anyway.
                Outcome::Duplicate => {
                    tally.duplicates += 1;
                    return Ok(None);
                }
                Outcome::Session {
                    assigned,
                    started,
                    impossible_rate,
                } => {
                    if let Some(start) = started {
                        *tally.sessions_started.entry(start.as_str()).or_default() += 1;
                        session_started = true;
                    }
                    if impossible_rate {
                        draft.signals.push(bots::Signal::ImpossibleRate);
                    }
                    draft.set_session(assigned);
                }
            }
        }
        let (event, drop) = draft.finish();
        if !event.visitor_id.is_empty() {
            let consent = Consent {
                granted: event.consent_personalization,
                since_ms: personalization_since_ms,
            };
            self.profile(message, &event, consent, session_started);
        }
        if already_applied {
            return Ok(None);
        }
        if event.is_bot {
            tally.bots_flagged += 1;
        }
        if drop {
            tally.bots_dropped += 1;
            return Ok(None);
        }
        tally.enriched += 1;
        let key = event_key(&event.site_id, &event.visitor_id, &event.event_id);
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

    /// Moves or forgets the profile of `event`'s visitor: any event but a
    /// copy, re-read ones too (the profile's own raw position decides).
    fn profile(
        &mut self,
        message: &OwnedMessage,
        event: &EnrichedEvent,
        consent: Consent,
        session_started: bool,
    ) {
        let signal = Signal {
            event_type: &event.event_type,
            event_time_ms: event.event_time_ms,
            received_at_ms: event.received_at_ms,
            categories: &event.page_categories,
            item: &event.item_id,
            campaign: &event.utm_campaign,
            device: &event.device,
            session_started,
            raw_partition: message.partition(),
            raw_offset: message.offset(),
        };
        let key = format!("{}/{}", event.site_id, event.visitor_id);
        let change = self.profiles.event(
            message.partition(),
            &key,
            consent,
            event.is_bot,
            effective_retention_months(
                event.retention_months,
                self.engine
                    .sites()
                    .rules(&event.site_id)
                    .profile_retention_months,
            ),
            &signal,
        );
        match change {
            Change::Withdrawn => {
                tracing::debug!(site = %event.site_id, "profile forgotten: an event came without personalization consent");
            }
            Change::Restarted => {
                tracing::debug!(site = %event.site_id, "profile started again: personalization was turned on again since it began");
            }
            Change::Updated | Change::None => {}
        }
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

#[cfg(test)]
pub(crate) mod tests;
