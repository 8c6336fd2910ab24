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
//! The key is a 128-bit hash of `(site, subject)` (SipHash-1-3, 128-bit
//! output) keyed at random per ledger, so nobody can make two subjects
//! share one: by chance that takes ~2^64 subjects. Sharing could only lend
//! one plain subject another's grants, which no event decision reads; the
//! held tier, where protection lives, uses exact ids. The subjects' ids
//! are not held, so a snapshot of the table (`consent/snapshot/`) carries
//! its key: the ledger restored from it looks subjects up the same way.

use std::collections::HashMap;
use std::hash::Hasher;

use fiducia_proto::consent::{Purpose, PurposeSet};
use siphasher::sip128::{Hasher128, SipHasher13};

use super::Entry;
use crate::consent::snapshot::codec::{Malformed, Reader, Writer};

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
    /// The hash's key.
    key: (u64, u64),
    subjects: HashMap<(u64, u64), Plain>,
}

impl Default for Table {
    fn default() -> Self {
        // A v4 UUID: 122 random bits from the OS.
        Self {
            key: uuid::Uuid::new_v4().as_u64_pair(),
            subjects: HashMap::new(),
        }
    }
}

impl Table {
    fn key(&self, site: &str, subject: &str) -> (u64, u64) {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        // As `Hash` for `(&str, &str)` writes it: unambiguous.
        hasher.write(site.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(subject.as_bytes());
        hasher.write_u8(0xff);
        let hash = hasher.finish128();
        (hash.h1, hash.h2)
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

    /// Writes the key and every subject: 64 bytes a subject and the
    /// grants (`consent/snapshot/`).
    pub(super) fn encode(&self, out: &mut Writer) {
        out.uint(self.key.0);
        out.uint(self.key.1);
        out.len(self.subjects.len());
        for (&(h1, h2), plain) in &self.subjects {
            out.fixed(&h1.to_le_bytes());
            out.fixed(&h2.to_le_bytes());
            out.fixed(&plain.last_record_id);
            out.int(plain.server_ts_ms);
            out.int(plain.personalization_since_ms);
            out.uint(super::state::purpose_bits(plain.granted));
        }
    }

    /// The table [`Self::encode`] wrote.
    ///
    /// # Errors
    /// When the bytes end early.
    pub(super) fn decode(input: &mut Reader<'_>) -> Result<Self, Malformed> {
        let key = (input.uint()?, input.uint()?);
        let count = input.len()?;
        let mut subjects = HashMap::with_capacity(count);
        for _ in 0..count {
            let hash = (
                u64::from_le_bytes(input.fixed()?),
                u64::from_le_bytes(input.fixed()?),
            );
            let plain = Plain {
                last_record_id: input.fixed()?,
                server_ts_ms: input.int()?,
                personalization_since_ms: input.int()?,
                granted: super::state::purposes(input.uint()?),
            };
            subjects.insert(hash, plain);
        }
        Ok(Self { key, subjects })
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
