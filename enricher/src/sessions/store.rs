//! The session state of the partitions this enricher reads, in memory,
//! bounded, with the bookkeeping that makes it survive restarts and
//! rebalances:
//!
//! * Each partition remembers the next raw offset it expects. A batch that
//!   starts elsewhere means someone else read the partition meanwhile (or
//!   this process restarted): its state is read back from the sessions
//!   topic first ([`SessionStore::needs_restore`], [`SessionStore::install`]).
//!   A gap in offsets (only transactional producers leave them) costs an
//!   extra read-back, never a wrong session. A partition revoked in a
//!   rebalance is forgotten at once ([`SessionStore::forget`], told by the
//!   consume loop's assignment): its new owner writes it from then on, and
//!   should it come back, it is read back whatever offset it comes back at.
//! * Every state a batch changed is written back once the batch's events are
//!   acknowledged ([`SessionStore::finish_batch`]); states of visitors quiet
//!   for longer than [`RETAIN_MS`] are dropped and tombstoned.
//! * Each state carries the raw offset it has seen, so events re-read after
//!   a crash (their offsets were not committed, but their output and state
//!   were written) are recognised and skipped instead of counted twice.

use std::collections::HashMap;

use fiducia_proto::v1::SessionState;
use lru::LruCache;

use crate::enrich::bots;
use crate::enrich::session::{self, Decision, RETAIN_MS, Start, Visit};

/// Extra quiet time before a state is dropped from memory, beyond what
/// [`session::decide`] already ignores: collectors' clocks differ a little,
/// and a state must not vanish while an event could still read it.
const SWEEP_MARGIN_MS: i64 = 5 * 60 * 1000;

/// A session as an event sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    /// Session id.
    pub session_id: String,
    /// Position of the event in it, from 1.
    pub seq: u32,
    /// Path of the first event.
    pub landing_page: String,
    /// Referrer of the first event, and its class.
    pub entry_referrer: String,
    /// Class of that referrer.
    pub entry_referrer_class: String,
}

impl Assigned {
    fn of(state: &SessionState) -> Self {
        Self {
            session_id: state.session_id.clone(),
            seq: state.events,
            landing_page: state.landing_page.clone(),
            entry_referrer: state.entry_referrer.clone(),
            entry_referrer_class: state.entry_referrer_class.clone(),
        }
    }
}

/// What the store made of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already enriched and acknowledged before a restart: produce nothing.
    AlreadyApplied,
    /// A copy of one of the visitor's latest events (the tag sent it
    /// again): produce nothing, count nothing.
    Duplicate,
    /// The event's session.
    Session {
        /// Its fields.
        assigned: Assigned,
        /// Set when the event started a session, and why.
        started: Option<Start>,
        /// Whether the visitor's pace is beyond a person's.
        impossible_rate: bool,
    },
}

/// A state record to write: `None` forgets the visitor (a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord {
    /// Raw (and sessions) partition.
    pub partition: i32,
    /// `site/visitor`.
    pub key: String,
    /// The state, or `None`.
    pub state: Option<SessionState>,
}

#[derive(Debug)]
struct Entry {
    state: SessionState,
    /// Batch in which the state last changed, so it is written once per batch.
    dirty_in: u64,
}

#[derive(Debug)]
struct Partition {
    /// The raw offset the next batch should start at, once known.
    next_offset: Option<i64>,
    /// Newest collector time among its states: the clock states expire by.
    watermark_ms: i64,
    entries: LruCache<String, Entry>,
}

impl Partition {
    fn new() -> Self {
        Self {
            next_offset: None,
            watermark_ms: 0,
            entries: LruCache::unbounded(),
        }
    }
}

/// Counts of a batch, reported once it is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreTally {
    /// States dropped because the store was full while their session could
    /// still go on (a later event of theirs will start a new session).
    pub evicted_live: u64,
    /// States dropped because their visitor went quiet.
    pub expired: u64,
    /// States dropped because their visitor's data was erased.
    pub erased: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct SessionStore {
    partitions: HashMap<i32, Partition>,
    max_entries: usize,
    batch: u64,
    dirty: Vec<(i32, String)>,
    tombstones: Vec<(i32, String)>,
    key: String,
    tally: StoreTally,
}

impl SessionStore {
    /// A store holding at most `max_entries` visitors across partitions.
    #[must_use]
    pub fn new(max_entries: usize) -> Self {
        Self {
            partitions: HashMap::new(),
            max_entries: max_entries.max(1),
            batch: 0,
            dirty: Vec::new(),
            tombstones: Vec::new(),
            key: String::new(),
            tally: StoreTally::default(),
        }
    }

    /// Visitors held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.partitions.values().map(|p| p.entries.len()).sum()
    }

    /// Whether no visitor is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a batch whose first message of `partition` has `first_offset`
    /// must wait for the partition's state to be read back.
    #[must_use]
    pub fn needs_restore(&self, partition: i32, first_offset: i64) -> bool {
        self.partitions
            .get(&partition)
            .is_none_or(|p| p.next_offset != Some(first_offset))
    }

    /// Replaces a partition's state with what was read back, oldest first;
    /// states already expired are left out.
    pub fn install(&mut self, partition: i32, states: Vec<(String, SessionState)>) {
        let mut fresh = Partition::new();
        fresh.watermark_ms = states
            .iter()
            .map(|(_, s)| s.updated_at_ms)
            .max()
            .unwrap_or(0);
        let cutoff = fresh.watermark_ms - RETAIN_MS - SWEEP_MARGIN_MS;
        let mut states: Vec<_> = states
            .into_iter()
            .filter(|(_, s)| s.updated_at_ms >= cutoff)
            .collect();
        states.sort_by_key(|(_, s)| s.updated_at_ms);
        for (key, state) in states {
            fresh.entries.put(key, Entry { state, dirty_in: 0 });
        }
        self.partitions.insert(partition, fresh);
    }

    /// The partitions whose state is held.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.partitions.keys().copied()
    }

    /// Forgets what is known of `partition`, so it is read back before its
    /// next batch.
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Forgets the state of visitor `site/visitor` (an erasure), wherever
    /// it is held: a tombstone at the batch's end removes it from the
    /// sessions topic too. Call between [`Self::begin_batch`] and
    /// [`Self::finish_batch`].
    pub fn erase(&mut self, site: &str, visitor: &str) {
        let key = format!("{site}/{visitor}");
        for (&partition, part) in &mut self.partitions {
            if part.entries.pop(key.as_str()).is_some() {
                self.dirty.retain(|(p, k)| !(*p == partition && *k == key));
                self.tombstones.push((partition, key.clone()));
                self.tally.erased += 1;
            }
        }
    }

    /// Starts a batch: states changed from now on are written at its end.
    pub fn begin_batch(&mut self) {
        self.batch += 1;
        self.dirty.clear();
        self.tombstones.clear();
        self.tally = StoreTally::default();
    }

    /// Applies one event of visitor `site/visitor` read from `partition`.
    pub fn visit(
        &mut self,
        partition: i32,
        site: &str,
        visitor: &str,
        visit: &Visit<'_>,
        page_view: bool,
    ) -> Outcome {
        self.key.clear();
        self.key.push_str(site);
        self.key.push('/');
        self.key.push_str(visitor);
        let batch = self.batch;
        let part = self
            .partitions
            .entry(partition)
            .or_insert_with(Partition::new);
        part.watermark_ms = part.watermark_ms.max(visit.received_at_ms);
        let known = part.entries.peek(self.key.as_str()).map(|e| &e.state);
        let existed = known.is_some();
        let decision = session::decide(known, visit);
        match decision {
            Decision::AlreadyApplied => return Outcome::AlreadyApplied,
            Decision::Duplicate => return Outcome::Duplicate,
            Decision::Continue | Decision::Start(_) | Decision::Stray => {}
        }
        let entry = part
            .entries
            .get_or_insert_mut_ref(self.key.as_str(), || Entry {
                state: session::begin(visit),
                dirty_in: 0,
            });
        if existed {
            session::apply(&mut entry.state, decision, visit);
        }
        if entry.dirty_in != batch {
            entry.dirty_in = batch;
            self.dirty.push((partition, self.key.clone()));
        }
        let impossible_rate =
            bots::impossible_rate(&mut entry.state, visit.event_time_ms, page_view);
        let (assigned, started) = match decision {
            Decision::Stray => (Assigned::of(&session::begin(visit)), Some(Start::Late)),
            Decision::Start(why) => (Assigned::of(&entry.state), Some(why)),
            Decision::Continue | Decision::AlreadyApplied | Decision::Duplicate => {
                (Assigned::of(&entry.state), None)
            }
        };
        Outcome::Session {
            assigned,
            started,
            impossible_rate,
        }
    }

    /// Ends a batch whose last offset per partition is `last_offsets`: drops
    /// quiet and excess states, and returns every record to write (changed
    /// states, then tombstones) with what was dropped.
    pub fn finish_batch(&mut self, last_offsets: &[(i32, i64)]) -> (Vec<StateRecord>, StoreTally) {
        for &(partition, offset) in last_offsets {
            let part = self
                .partitions
                .entry(partition)
                .or_insert_with(Partition::new);
            part.next_offset = Some(offset + 1);
            let cutoff = part.watermark_ms - RETAIN_MS - SWEEP_MARGIN_MS;
            while let Some((_, oldest)) = part.entries.peek_lru()
                && oldest.state.updated_at_ms < cutoff
            {
                if let Some((key, _)) = part.entries.pop_lru() {
                    self.tombstones.push((partition, key));
                    self.tally.expired += 1;
                }
            }
        }
        self.evict_excess();
        let mut records = Vec::with_capacity(self.dirty.len() + self.tombstones.len());
        for (partition, key) in self.dirty.drain(..) {
            let state = self
                .partitions
                .get(&partition)
                .and_then(|p| p.entries.peek(key.as_str()))
                .map(|e| e.state.clone());
            // A state evicted in this very batch is simply not written.
            if state.is_some() {
                records.push(StateRecord {
                    partition,
                    key,
                    state,
                });
            }
        }
        for (partition, key) in self.tombstones.drain(..) {
            records.push(StateRecord {
                partition,
                key,
                state: None,
            });
        }
        (records, std::mem::take(&mut self.tally))
    }

    /// Drops the least recently active states until the store fits.
    fn evict_excess(&mut self) {
        let mut excess = self.len().saturating_sub(self.max_entries);
        while excess > 0 {
            let oldest = self
                .partitions
                .values_mut()
                .filter_map(|p| {
                    p.entries
                        .peek_lru()
                        .map(|(_, e)| e.state.updated_at_ms)
                        .map(|t| (t, p))
                })
                .min_by_key(|(t, _)| *t);
            let Some((_, part)) = oldest else { return };
            part.entries.pop_lru();
            self.tally.evicted_live += 1;
            excess -= 1;
        }
    }
}

#[cfg(test)]
mod tests;
