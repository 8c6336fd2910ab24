//! The ledger's whole state as bytes, for its snapshot
//! (`consent/snapshot/`): the erased user keys, both tiers (the plain
//! tier with its hash key) and the privacy center's history, everything a
//! decision or the privacy center reads.
//!
//! Each part is written under its own lock, one after the other, so
//! decisions wait at most for one part. A record a route applies while
//! the parts are written may be in one and not yet in another: it is
//! durable on the topic beyond the offsets the snapshot covers (those are
//! only advanced by the follower, paused meanwhile), so the tail replays
//! it, and applying a record twice changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use fiducia_proto::consent::{Purpose, PurposeSet};

use super::{Entry, Ledger, Tiers, plain};
use crate::consent::history::History;
use crate::consent::snapshot::codec::{Malformed, Reader, Writer};

/// A set of purposes as bits, in `Purpose::ALL` order.
pub(super) fn purpose_bits(set: PurposeSet) -> u64 {
    Purpose::ALL
        .into_iter()
        .enumerate()
        .filter(|&(_, p)| set.contains(p))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// The set [`purpose_bits`] wrote.
pub(super) fn purposes(bits: u64) -> PurposeSet {
    Purpose::ALL
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| bits & 1 << i != 0)
        .fold(PurposeSet::default(), |set, (_, p)| set.with(p))
}

fn encode_entry(entry: &Entry, out: &mut Writer) {
    out.uint(purpose_bits(entry.granted));
    out.fixed(&entry.last_record_id);
    out.int(entry.server_ts_ms);
    let withdrawn = entry
        .withdrawn_at
        .iter()
        .enumerate()
        .filter(|(_, at)| at.is_some())
        .fold(0, |bits, (i, _)| bits | 1 << i);
    out.uint(withdrawn);
    for at in entry.withdrawn_at.iter().flatten() {
        out.int(*at);
    }
    for since in entry.granted_since {
        out.int(since);
    }
    out.uint(u64::from(entry.erased) | u64::from(entry.explicit_under_objection) << 1);
    out.uint(u64::from(entry.retention_months));
}

fn decode_entry(input: &mut Reader<'_>) -> Result<Entry, Malformed> {
    let mut entry = Entry {
        granted: purposes(input.uint()?),
        last_record_id: input.fixed()?,
        server_ts_ms: input.int()?,
        ..Entry::default()
    };
    let withdrawn = input.uint()?;
    for (i, at) in entry.withdrawn_at.iter_mut().enumerate() {
        if withdrawn & 1 << i != 0 {
            *at = Some(input.int()?);
        }
    }
    for since in &mut entry.granted_since {
        *since = input.int()?;
    }
    let flags = input.uint()?;
    entry.erased = flags & 1 != 0;
    entry.explicit_under_objection = flags & 2 != 0;
    entry.retention_months = u32::try_from(input.uint()?).map_err(|_| Malformed)?;
    Ok(entry)
}

impl Tiers {
    fn encode(&self, out: &mut Writer) {
        out.len(self.held.len());
        for (site, subjects) in &self.held {
            out.bytes(site.as_bytes());
            out.len(subjects.len());
            for (subject, entry) in subjects {
                out.bytes(subject.as_bytes());
                encode_entry(entry, out);
            }
        }
        self.plain.encode(out);
    }

    fn decode(input: &mut Reader<'_>) -> Result<Self, Malformed> {
        let mut held = HashMap::new();
        let mut held_id_bytes = 0;
        for _ in 0..input.len()? {
            let site = input.str()?.to_owned();
            let count = input.len()?;
            let mut subjects = HashMap::with_capacity(count);
            for _ in 0..count {
                let subject = input.str()?.to_owned();
                held_id_bytes += subject.len();
                subjects.insert(subject, decode_entry(input)?);
            }
            held.insert(site, subjects);
        }
        Ok(Self {
            held,
            held_id_bytes,
            plain: plain::Table::decode(input)?,
        })
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ledger {
    /// Writes everything the ledger holds (module docs).
    pub fn encode(&self, out: &mut Writer) {
        {
            let users = read(&self.erased_users);
            out.len(users.len());
            for (site, keys) in users.iter() {
                out.bytes(site.as_bytes());
                out.len(keys.len());
                for key in keys {
                    out.bytes(key.as_bytes());
                }
            }
        }
        self.history.encode(out);
        read(&self.tiers).encode(out);
    }

    /// The ledger [`Self::encode`] wrote, with no observer.
    ///
    /// # Errors
    /// When the bytes do not hold one.
    pub fn decode(input: &mut Reader<'_>) -> Result<Self, Malformed> {
        let mut erased_users: HashMap<String, HashSet<String>> = HashMap::new();
        for _ in 0..input.len()? {
            let site = input.str()?.to_owned();
            let count = input.len()?;
            let keys = erased_users.entry(site).or_default();
            for _ in 0..count {
                keys.insert(input.str()?.to_owned());
            }
        }
        let history = History::decode(input)?;
        let tiers = Tiers::decode(input)?;
        Ok(Self {
            tiers: RwLock::new(tiers),
            erased_users: RwLock::new(erased_users),
            history,
            observer: std::sync::OnceLock::new(),
        })
    }
}
