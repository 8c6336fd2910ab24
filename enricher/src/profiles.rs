//! Visitor profiles (SPEC section 8), kept like session state: in memory
//! per raw partition, written to the compacted profiles topic after every
//! batch (where every collector reads them from to answer
//! `GET /v1/profile`), and read back when a partition comes to this
//! enricher ([`crate::restore`]).
//!
//! Only events of visitors with personalization consent that are not bots
//! move a profile ([`fiducia_proto::profile::apply`]). A profile records
//! the raw position it has seen, as a session state does, so an event
//! re-read after a crash is applied once: not twice when the profile was
//! written, and still once when the session state was written but the
//! profile was not (the two records of a batch are not atomic). Copies the
//! tag sends again never get here (the session store drops them).
//!
//! A profile is forgotten, and tombstoned in the topic, when:
//!
//! * an event of the visitor arrives without personalization consent (the
//!   collector's consent decision, ledger included, says the visitor
//!   withdrew or never agreed): what was learnt under a consent no longer
//!   standing is not kept;
//! * an event says personalization was turned on after the profile began
//!   (`RawEvent.personalization_since_ms`): the visitor withdrew and agreed
//!   again without an event in between, so the profile starts again from
//!   this event;
//! * a consent record leaves personalization off for the visitor (read live
//!   from the consent topic, [`crate::withdrawals`]), or the subject is
//!   erased (the privacy topic's deny-list): at the next batch, whatever
//!   partition it is of;
//! * the visitor was quiet for longer than the profile retention: the
//!   site's (`retention.profiles_months`, 13 by default), or the visitor's
//!   own shorter choice.
//!
//! The collectors enforce a withdrawal at once on their own (they answer
//! contextually, drop the profile, and never serve a profile begun before
//! the latest grant); one made while no enricher ran reaches this store
//! with the visitor's next event.

use std::collections::{HashMap, HashSet};

use fiducia_proto::profile::{self, Signal};
use fiducia_proto::time::DAY_MS;
use fiducia_proto::v1::Profile;
use fiducia_runtime::service::sites::retention;

/// A month (30.44 days), for retention periods.
const MONTH_MS: i64 = 30 * DAY_MS + DAY_MS * 44 / 100;
/// How often a partition is swept for expired profiles (collector time).
const SWEEP_EVERY_MS: i64 = 60 * 60 * 1000;

/// What an event says about the visitor's personalization consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    /// Granted for this event (the collector's decision).
    pub granted: bool,
    /// When the ledger last saw it turned on (server ms; 0: unknown).
    pub since_ms: i64,
}

/// What happened to a visitor's profile with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The event moved the profile.
    Updated,
    /// The profile was begun before personalization was last turned on
    /// (a withdrawal this store did not see): it was started again with
    /// this event.
    Restarted,
    /// The profile was forgotten: the event came without personalization
    /// consent.
    Withdrawn,
    /// Nothing (no profile and no consent, or a bot).
    None,
}

/// Counts of a batch, reported once it is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileTally {
    /// Profile updates (events applied).
    pub updated: u64,
    /// Profiles forgotten because an event came without personalization,
    /// or started again because it was turned on again since they began.
    pub withdrawn: u64,
    /// Profiles forgotten because the subject was erased.
    pub erased: u64,
    /// Profiles forgotten after their retention.
    pub expired: u64,
    /// Profile records (profiles and tombstones) to write.
    pub written: u64,
}

/// A profile record to write: `None` forgets the visitor (a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    /// Raw (and profiles) partition.
    pub partition: i32,
    /// `site/visitor`.
    pub key: String,
    /// The profile, or `None`.
    pub profile: Option<Profile>,
}

#[derive(Debug, Default)]
struct Partition {
    profiles: HashMap<String, Profile>,
    /// Keys changed in this batch.
    dirty: HashSet<String>,
    /// Newest collector time seen: the clock profiles expire by.
    watermark_ms: i64,
    swept_at_ms: i64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ProfileStore {
    partitions: HashMap<i32, Partition>,
    tombstones: Vec<(i32, String)>,
    tally: ProfileTally,
}

impl ProfileStore {
    /// Profiles held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.partitions.values().map(|p| p.profiles.len()).sum()
    }

    /// Whether none is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces a partition's profiles with what was read back.
    pub fn install(&mut self, partition: i32, profiles: Vec<(String, Profile)>) {
        let watermark_ms = profiles
            .iter()
            .map(|(_, p)| p.updated_at_ms)
            .max()
            .unwrap_or(0);
        self.partitions.insert(
            partition,
            Partition {
                profiles: profiles.into_iter().collect(),
                dirty: HashSet::new(),
                watermark_ms,
                swept_at_ms: 0,
            },
        );
    }

    /// The partitions whose profiles are held.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.partitions.keys().copied()
    }

    /// Forgets what is held of `partition` (read back before its next batch).
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Starts a batch: profiles changed from now on are written at its end.
    pub fn begin_batch(&mut self) {
        for part in self.partitions.values_mut() {
            part.dirty.clear();
        }
        self.tombstones.clear();
        self.tally = ProfileTally::default();
    }

    /// Forgets `site/visitor` wherever it is held (an erasure).
    pub fn erase(&mut self, site: &str, visitor: &str) {
        let key = format!("{site}/{visitor}");
        for (&partition, part) in &mut self.partitions {
            if part.profiles.remove(&key).is_some() {
                part.dirty.remove(&key);
                self.tombstones.push((partition, key.clone()));
                self.tally.erased += 1;
            }
        }
    }

    /// Forgets `site/visitor` wherever it is held, if its profile began no
    /// later than `at_ms` (server time of a record that left
    /// personalization off): a profile begun after it belongs to a later
    /// grant.
    pub fn withdraw(&mut self, site: &str, visitor: &str, at_ms: i64) {
        let key = format!("{site}/{visitor}");
        for (&partition, part) in &mut self.partitions {
            if part
                .profiles
                .get(&key)
                .is_some_and(|p| p.begun_at_ms <= at_ms)
            {
                part.profiles.remove(&key);
                part.dirty.remove(&key);
                self.tombstones.push((partition, key.clone()));
                self.tally.withdrawn += 1;
            }
        }
    }

    /// One event of `key` (`site/visitor`) read from `partition`, that the
    /// session store did not know as applied: moves the profile when
    /// personalization is granted and the event is no bot's, forgets it
    /// when personalization is not granted, and starts it again when it
    /// began before personalization was last turned on.
    pub fn event(
        &mut self,
        partition: i32,
        key: &str,
        consent: Consent,
        is_bot: bool,
        retention_months: u32,
        signal: &Signal<'_>,
    ) -> Change {
        let part = self.partitions.entry(partition).or_default();
        part.watermark_ms = part.watermark_ms.max(signal.received_at_ms);
        // Re-read after a crash and already in the profile (which records
        // the raw position it has seen, as a session state does).
        if part.profiles.get(key).is_some_and(|p| {
            p.raw_partition == signal.raw_partition && p.raw_offset >= signal.raw_offset
        }) {
            return Change::None;
        }
        if !consent.granted {
            if part.profiles.remove(key).is_none() {
                return Change::None;
            }
            part.dirty.remove(key);
            self.tombstones.push((partition, key.to_owned()));
            self.tally.withdrawn += 1;
            return Change::Withdrawn;
        }
        let stale = part
            .profiles
            .get(key)
            .is_some_and(|p| p.begun_at_ms < consent.since_ms);
        if stale {
            part.profiles.remove(key);
            part.dirty.remove(key);
            self.tombstones.push((partition, key.to_owned()));
            self.tally.withdrawn += 1;
        }
        if is_bot {
            return if stale {
                Change::Withdrawn
            } else {
                Change::None
            };
        }
        if !part.profiles.contains_key(key) {
            // A profile forgotten earlier in this batch: the new one
            // replaces it, and its tombstone must not be written after it.
            self.tombstones
                .retain(|(p, k)| !(*p == partition && k == key));
        }
        let profile = part.profiles.entry(key.to_owned()).or_insert_with(|| {
            let (site, visitor) = key.split_once('/').unwrap_or((key, ""));
            Profile {
                site_id: site.to_owned(),
                visitor_id: visitor.to_owned(),
                ..Profile::default()
            }
        });
        profile::apply(profile, signal);
        profile.retention_months = retention_months;
        if !part.dirty.contains(key) {
            part.dirty.insert(key.to_owned());
        }
        self.tally.updated += 1;
        if stale {
            Change::Restarted
        } else {
            Change::Updated
        }
    }

    /// Ends a batch: sweeps the batch's partitions for expired profiles
    /// (at most hourly each) and returns every record to write (changed
    /// profiles, then tombstones) with the batch's counts.
    pub fn finish_batch(&mut self, partitions: &[i32]) -> (Vec<ProfileRecord>, ProfileTally) {
        for partition in partitions {
            let Some(part) = self.partitions.get_mut(partition) else {
                continue;
            };
            if part.watermark_ms - part.swept_at_ms < SWEEP_EVERY_MS {
                continue;
            }
            part.swept_at_ms = part.watermark_ms;
            let now = part.watermark_ms;
            let before = part.profiles.len();
            let tombstones = &mut self.tombstones;
            part.profiles.retain(|key, p| {
                let keep = !expired(p, now);
                if !keep {
                    tombstones.push((*partition, key.clone()));
                }
                keep
            });
            self.tally.expired += (before - part.profiles.len()) as u64;
        }
        let mut records = Vec::with_capacity(self.tombstones.len());
        for (&partition, part) in &mut self.partitions {
            for key in part.dirty.drain() {
                // Expired in this very batch: its tombstone follows.
                if let Some(profile) = part.profiles.get(&key) {
                    records.push(ProfileRecord {
                        partition,
                        key,
                        profile: Some(profile.clone()),
                    });
                }
            }
        }
        for (partition, key) in self.tombstones.drain(..) {
            records.push(ProfileRecord {
                partition,
                key,
                profile: None,
            });
        }
        self.tally.written = records.len() as u64;
        (records, std::mem::take(&mut self.tally))
    }
}

/// Whether `profile` was quiet at `now_ms` (collector time) for longer than
/// its retention (0, a profile written before retention was recorded: the
/// default).
fn expired(profile: &Profile, now_ms: i64) -> bool {
    let months = match profile.retention_months {
        0 => retention::DEFAULT_MONTHS,
        months => months,
    };
    now_ms - profile.updated_at_ms > i64::from(months) * MONTH_MS
}

#[cfg(test)]
mod tests;
