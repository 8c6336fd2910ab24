//! The ledger's packed tier: subjects whose standing holds nothing that
//! wins over the tag's own state (module docs of [`super`], "At scale").
//!
//! A plain entry is one that is not erased, withdraws no purpose, lifts no
//! objection and carries no retention choice ([`Entry::is_plain`]). Of such
//! an entry the collector's decisions read only what the latest record
//! said (`granted`), when it was received and its id (order, freshness,
//! duplicates, the profile rule's basis) and since when personalization
//! stands granted (the profile rule and the events' restart time). Those
//! are held here, exactly, in 40 bytes under a 16-byte key: 56 bytes a
//! subject in the table instead of a full [`Entry`] (152 bytes) under the
//! subject's id (24 bytes and its heap copy).
//!
//! The key is a 128-bit hash of `(site, subject)` keyed at random per
//! process (two std `RandomState`s, SipHash), so nobody can make two
//! subjects share one: by chance that takes ~2^64 subjects. Sharing
//! could only lend one plain subject another's grants, which no event
//! decision reads; the held tier, where protection lives, uses exact ids.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use fiducia_proto::consent::{Purpose, PurposeSet};

use super::Entry;

/// One plain subject's standing: what its decisions read, nothing more.
#[derive(Debug, Clone, Copy)]
struct Plain {
    last_record_id: [u8; 16],
    server_ts_ms: i64,
    personalization_since_ms: i64,
    granted: PurposeSet,
}

impl Plain {
    fn of(entry: &Entry) -> Self {
        Self {
            last_record_id: entry.last_record_id,
            server_ts_ms: entry.server_ts_ms,
            personalization_since_ms: entry.granted_since[Purpose::Personalization as usize],
            granted: entry.granted,
        }
    }

    /// The entry again. Since when a purpose other than personalization
    /// stands granted is not held (nothing decides on it): it reads as the
    /// latest record's time, never earlier than the truth.
    fn entry(self) -> Entry {
        let mut entry = Entry {
            granted: self.granted,
            last_record_id: self.last_record_id,
            server_ts_ms: self.server_ts_ms,
            ..Entry::default()
        };
        for purpose in Purpose::CONSENTABLE {
            if self.granted.contains(purpose) {
                entry.granted_since[purpose as usize] = self.server_ts_ms;
            }
        }
        entry.granted_since[Purpose::Personalization as usize] = self.personalization_since_ms;
        entry
    }
}

/// The plain subjects of every site.
pub(super) struct Table {
    keys: [RandomState; 2],
    subjects: HashMap<(u64, u64), Plain>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            keys: [RandomState::new(), RandomState::new()],
            subjects: HashMap::new(),
        }
    }
}

impl Table {
    fn key(&self, site: &str, subject: &str) -> (u64, u64) {
        (
            self.keys[0].hash_one((site, subject)),
            self.keys[1].hash_one((site, subject)),
        )
    }

    /// The subject's entry, if it is a plain one.
    pub(super) fn get(&self, site: &str, subject: &str) -> Option<Entry> {
        self.subjects
            .get(&self.key(site, subject))
            .map(|plain| plain.entry())
    }

    /// Removes and returns the subject's entry, if it is a plain one.
    pub(super) fn take(&mut self, site: &str, subject: &str) -> Option<Entry> {
        let key = self.key(site, subject);
        self.subjects.remove(&key).map(Plain::entry)
    }

    /// Holds `entry`, which must be plain.
    pub(super) fn put(&mut self, site: &str, subject: &str, entry: &Entry) {
        debug_assert!(entry.is_plain());
        let key = self.key(site, subject);
        self.subjects.insert(key, Plain::of(entry));
    }

    /// Subjects held.
    pub(super) fn len(&self) -> usize {
        self.subjects.len()
    }

    /// Bytes the table's slots take (hashbrown: one control byte a slot).
    pub(super) fn bytes(&self) -> usize {
        self.subjects.capacity() * (size_of::<((u64, u64), Plain)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_subject_takes_56_bytes_a_slot() {
        assert_eq!(size_of::<((u64, u64), Plain)>(), 56);
    }
}
