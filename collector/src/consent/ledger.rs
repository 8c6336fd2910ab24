//! The server-side consent ledger: per site and subject, what the latest
//! consent record said, which purposes stand withdrawn, and whether the
//! subject was erased. The strongest consent source: a withdrawal or an
//! erasure wins over anything the tag or a TC string says until the visitor
//! makes a new choice that is recorded after it.
//!
//! Records are ordered by the time a collector received them
//! (`server_ts_ms`), never by the visitor's clock: client times are
//! evidence, not authority. A record received before the latest one
//! applied is superseded; two received in the same millisecond merge
//! towards denial. So a forged client time cannot hide a later withdrawal,
//! and a withdrawal wins over every grant received before it.
//!
//! An erasure by first-party user id (the admin API's, `user_key` set and
//! no subject) deny-lists the user on its site: [`Ledger::user_erased`]
//! tells whether an envelope's user id is one. The id is hashed
//! ([`fiducia_proto::privacy::user_key`]) only for sites that have an erased
//! user at all, so the hot path of every other site pays one map look-up.
//!
//! Each entry also keeps the visitor's latest retention choice (months of
//! identified data, 0 = the site's default): the records the collector
//! derives carry it on, and accepted events carry it downstream.
//!
//! The ledger learns only what was made durable: the follower in
//! [`super::follow`] applies what `fiducia.consent.v1` holds, and the
//! collector that records a change applies it once Kafka acknowledged it,
//! before the request that carried it is answered. Applying a record twice
//! changes nothing.
//!
//! # At scale
//!
//! Every collector holds every subject that ever had a record (tens of
//! millions on a large site), so entries are held in two tiers:
//!
//! * **held**: the full [`Entry`] under the exact site and subject ids,
//!   for every subject whose standing wins over what the tag says: erased,
//!   a purpose withdrawn (or objected to), an objection lifted by an
//!   explicit grant, a retention choice;
//! * **plain** (`ledger/plain.rs`): every other subject, packed into 56 bytes
//!   under a keyed 128-bit hash of its ids, with exactly what decisions
//!   read of it (latest grants, record id and time, since when
//!   personalization stands granted).
//!
//! Why a plain subject still costs 56 bytes rather than nothing, although
//! dropping it would never let more through `/v1/events`: [`resolve`]
//! reads of an entry only `erased`, `withdrawn_at` and
//! `explicit_under_objection`, which are at their defaults in a plain
//! entry, so for every envelope a plain entry resolves exactly as no entry
//! (the property test `a_plain_entry_resolves_as_no_entry` checks it). But
//! other decisions do read it: `GET /v1/profile` answers personally only
//! on the latest record's grant, time and id, so a dropped subject would
//! never get a personal answer again; a TC string first seen for a subject
//! makes a record, so a dropped subject would record every request's TC
//! string again; a `consent` event sent twice is recognised by the latest
//! record id; and a record received before the latest (another
//! collector's, late) is superseded only if the latest's time is known.
//! Keeping those fields exactly keeps every decision exactly as the full
//! ledger makes it (the property test `the_tiers_decide_as_the_full_ledger`
//! replays random records into both); the one field not kept, since when
//! a purpose other than personalization stands granted, nothing reads,
//! and it reads back no earlier than the truth.
//!
//! Measured (`benches/README.md`, "Consent ledger"): 124 bytes of entries
//! per subject instead of 266 on the benchmark's mix (18% held in full);
//! the [`History`] beside them, 291 bytes per subject, is now most of the
//! memory and no decision reads it. Not built yet, and the next step: the
//! history out of memory. A restart need not replay the whole topic: the
//! ledger's state (`ledger/state.rs`) is saved with the offsets it covers
//! ([`super::snapshot`]) and restored when it still matches the topic.
//!
//! [`resolve`]: super::resolve

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};

use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord};

use super::history::History;

mod plain;
#[cfg(test)]
mod properties;
mod state;

/// One subject's standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry {
    /// Purposes granted by the latest record applied (never `necessary`:
    /// it is not a consent question).
    pub granted: PurposeSet,
    /// The latest record applied: a `consent` event sent again after it was
    /// made durable (a lost answer, a page-exit beacon) is recognised and
    /// not recorded twice.
    pub last_record_id: [u8; 16],
    /// When a collector received the latest record applied (server clock).
    pub server_ts_ms: i64,
    withdrawn_at: [Option<i64>; Purpose::ALL.len()],
    /// When each granted purpose was last turned on (server clock; 0 when
    /// not granted): what was gathered under an earlier grant, before a
    /// withdrawal, is not served under this one.
    granted_since: [i64; Purpose::ALL.len()],
    /// Erased: every purpose denied for good (a returning visitor gets a new id).
    pub erased: bool,
    /// Personalization was granted through the site's own consent API while
    /// GPC or DNT was on: the objection no longer stands.
    pub explicit_under_objection: bool,
    /// The visitor's retention choice for identified data, in months, as the
    /// latest record applied carries it; 0 = the site's default.
    pub retention_months: u32,
}

impl Entry {
    /// Holds nothing that wins over the tag's own state: not erased, no
    /// purpose withdrawn, no objection lifted, no retention choice. Such an
    /// entry is held packed (`ledger/plain.rs`).
    #[must_use]
    pub fn is_plain(&self) -> bool {
        !self.erased
            && self.withdrawn_at.iter().all(Option::is_none)
            && !self.explicit_under_objection
            && self.retention_months == 0
    }

    /// When `purpose` was withdrawn (server clock), if it still is.
    #[must_use]
    pub fn withdrawn_at(&self, purpose: Purpose) -> Option<i64> {
        self.withdrawn_at[purpose as usize]
    }

    /// Since when `purpose` stands granted without a break (server clock,
    /// the record that last turned it on), if it is granted. Exact for
    /// personalization, the one purpose decisions ask this of; for another
    /// purpose of an entry once held packed (`ledger/plain.rs`), the time of the
    /// record it was packed after: never earlier than the truth.
    #[must_use]
    pub fn granted_since(&self, purpose: Purpose) -> Option<i64> {
        Some(self.granted_since[purpose as usize])
            .filter(|_| !self.erased && self.granted.contains(purpose))
    }

    /// This entry as it stands for an envelope whose user id was erased:
    /// every purpose denied, as for an erased visitor (what the entry held
    /// besides its latest record no longer counts).
    #[must_use]
    pub fn with_user_erased(self) -> Self {
        Self {
            erased: true,
            last_record_id: self.last_record_id,
            server_ts_ms: self.server_ts_ms,
            ..Self::default()
        }
    }

    fn apply(&mut self, record: &ConsentRecord) {
        let record_id: [u8; 16] = record.record_id.as_slice().try_into().unwrap_or_default();
        let received = record.server_ts_ms;
        if self.erased || (record_id == self.last_record_id && received == self.server_ts_ms) {
            return;
        }
        if record.action == ConsentAction::Erase as i32 {
            *self = Self {
                erased: true,
                server_ts_ms: received,
                last_record_id: record_id,
                ..Self::default()
            };
            return;
        }
        // Received before the latest record applied (a replay, another
        // collector's record arriving late): already superseded.
        if received < self.server_ts_ms {
            return;
        }
        let state = record.state.clone().unwrap_or_default();
        let stated = PurposeSet::granted_by(&state).without(Purpose::Necessary);
        let explicit = (state.gpc || state.dnt)
            && (record.source.strip_prefix(super::record::TAG_SOURCE_PREFIX)
                == Some(super::resolve::EXPLICIT_SOURCE)
                || record.source == super::record::PRIVACY_CENTER_SOURCE);
        // Received in the same millisecond as the latest: no order to trust,
        // so what either denies is denied, and a purpose either granted and
        // the other does not is withdrawn.
        let tie = self.server_ts_ms != 0 && received == self.server_ts_ms;
        let (after, was_granted, explicit) = if tie {
            (
                stated.intersection(self.granted),
                self.granted.union(stated),
                explicit && self.explicit_under_objection,
            )
        } else {
            (stated, self.granted, explicit)
        };
        let withdrawal = record.action == ConsentAction::Withdraw as i32
            || record.action == ConsentAction::Object as i32;
        for purpose in Purpose::CONSENTABLE {
            let slot = &mut self.withdrawn_at[purpose as usize];
            if after.contains(purpose) {
                *slot = None;
            } else if was_granted.contains(purpose) || withdrawal {
                *slot = Some(slot.unwrap_or(received));
            }
            let since = &mut self.granted_since[purpose as usize];
            if !after.contains(purpose) {
                *since = 0;
            } else if !self.granted.contains(purpose) || *since == 0 {
                *since = received;
            }
        }
        self.explicit_under_objection = explicit && after.contains(Purpose::Personalization);
        // Same millisecond: the shorter of two choices stands.
        self.retention_months = match (tie, self.retention_months, record.retention_months) {
            (true, 0, chosen) | (true, chosen, 0) => chosen,
            (true, a, b) => a.min(b),
            (false, _, chosen) => chosen,
        };
        self.granted = after;
        self.server_ts_ms = received;
        self.last_record_id = record_id;
    }
}

/// Told of every subject's entry as a record leaves it: `(site, subject, entry)`.
pub type Observer = Arc<dyn Fn(&str, &str, &Entry) + Send + Sync>;

/// The two tiers (module docs, "At scale").
#[derive(Default)]
struct Tiers {
    /// Subjects whose standing wins over the tag, by site then subject.
    held: HashMap<String, HashMap<String, Entry>>,
    /// Bytes of the held subjects' ids.
    held_id_bytes: usize,
    /// Every other subject.
    plain: plain::Table,
}

impl Tiers {
    fn held_mut(&mut self, site: &str, subject: &str) -> Option<&mut Entry> {
        self.held.get_mut(site)?.get_mut(subject)
    }

    /// Applies `record` to its subject's entry, moving it to the tier
    /// its standing needs afterwards; the entry after.
    fn apply(&mut self, record: &ConsentRecord) -> Entry {
        let (site, subject) = (record.site_id.as_str(), record.subject.as_str());
        if let Some(entry) = self.held_mut(site, subject) {
            entry.apply(record);
            let after = *entry;
            if after.is_plain() {
                // A new grant after a withdrawal: nothing wins over the tag
                // any more (since when personalization stands granted is
                // kept in the plain tier too).
                if let Some(subjects) = self.held.get_mut(site) {
                    subjects.remove(subject);
                }
                self.held_id_bytes -= subject.len();
                self.plain.put(site, subject, &after);
            }
            return after;
        }
        let mut entry = self.plain.take(site, subject).unwrap_or_default();
        entry.apply(record);
        if entry.is_plain() {
            self.plain.put(site, subject, &entry);
        } else {
            self.held
                .entry(record.site_id.clone())
                .or_default()
                .insert(record.subject.clone(), entry);
            self.held_id_bytes += subject.len();
        }
        entry
    }

    fn get(&self, site: &str, subject: &str) -> Option<Entry> {
        self.held
            .get(site)
            .and_then(|subjects| subjects.get(subject))
            .copied()
            .or_else(|| self.plain.get(site, subject))
    }

    fn held(&self) -> usize {
        self.held.values().map(HashMap::len).sum()
    }

    /// About the bytes the tiers take: their tables' slots and the held
    /// subjects' ids (not the allocator's rounding).
    fn bytes(&self) -> usize {
        let slot = size_of::<(String, Entry)>() + 1;
        let held: usize = self.held.values().map(|s| s.capacity() * slot).sum();
        held + self.held_id_bytes + self.plain.bytes()
    }
}

/// How much the ledger holds ([`Ledger::size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Subjects, over all sites and both tiers.
    pub subjects: usize,
    /// Subjects held in full: those whose standing wins over the tag.
    pub held: usize,
    /// About the bytes the entries take: the tables' slots and the held
    /// subjects' ids (not the allocator's rounding, not the history).
    pub bytes: usize,
}

/// Every subject's standing, by site then subject, and every record.
#[derive(Default)]
pub struct Ledger {
    tiers: RwLock<Tiers>,
    /// Erased user keys by site.
    erased_users: RwLock<HashMap<String, HashSet<String>>>,
    history: History,
    /// Told of every applied record, whoever applied it (the follower, or
    /// the route that recorded it): how the profile store forgets a
    /// visitor at once when personalization is withdrawn or erased.
    observer: OnceLock<Observer>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("subjects", &self.subjects())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Sets the one observer told of every record applied from now on
    /// ([`Observer`]); a second is refused (returned).
    ///
    /// # Errors
    /// The observer given, when one is set already.
    pub fn observe(&self, observer: Observer) -> Result<(), Observer> {
        self.observer.set(observer)
    }

    /// The subject's standing, if any record names it.
    #[must_use]
    pub fn get(&self, site: &str, subject: &str) -> Option<Entry> {
        if subject.is_empty() {
            return None;
        }
        self.tiers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(site, subject)
    }

    /// Every record of the subject, oldest first.
    #[must_use]
    pub fn history(&self, site: &str, subject: &str) -> Vec<ConsentRecord> {
        self.history.records(site, subject)
    }

    /// Whether `user_id` of `site` belongs to a user erased by user key.
    /// Hashes the id only when the site has an erased user.
    #[must_use]
    pub fn user_erased(&self, site: &str, user_id: &str) -> bool {
        if user_id.is_empty() {
            return false;
        }
        let users = self
            .erased_users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        users
            .get(site)
            .is_some_and(|keys| keys.contains(&fiducia_proto::privacy::user_key(site, user_id)))
    }

    /// Whether the user with `user_key` of `site` was erased.
    #[must_use]
    pub fn user_key_erased(&self, site: &str, user_key: &str) -> bool {
        let users = self
            .erased_users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        users.get(site).is_some_and(|keys| keys.contains(user_key))
    }

    /// Applies a record; an erasure by user key deny-lists the user; other
    /// records without a subject prove consent but have nobody to apply to.
    pub fn apply(&self, record: &ConsentRecord) {
        if record.site_id.is_empty() {
            return;
        }
        if !record.user_key.is_empty() && record.action == ConsentAction::Erase as i32 {
            self.erased_users
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(record.site_id.clone())
                .or_default()
                .insert(record.user_key.clone());
        }
        if record.subject.is_empty() {
            return;
        }
        self.history.add(record);
        let after = self
            .tiers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .apply(record);
        if let Some(observer) = self.observer.get() {
            observer(&record.site_id, &record.subject, &after);
        }
    }

    /// Subjects held, over all sites and both tiers.
    #[must_use]
    pub fn subjects(&self) -> usize {
        self.size().subjects
    }

    /// How much the ledger holds, for its gauges.
    #[must_use]
    pub fn size(&self) -> Size {
        let tiers = self
            .tiers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = tiers.held();
        Size {
            subjects: held + tiers.plain.len(),
            held,
            bytes: tiers.bytes(),
        }
    }
}

#[cfg(test)]
mod tests;
