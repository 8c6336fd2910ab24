//! The consent ledger's snapshot: what the ledger holds, with the consent
//! topic's offsets it covers, written periodically to a local file and
//! read at start-up, so a restarted collector replays only the tail of
//! `fiducia.consent.v1` instead of the whole topic (`deploy/OPERATIONS.md`,
//! "Consent ledger sizing").
//!
//! * [`format`]: the file (a format version, the body's length and CRC-32,
//!   then the covered offsets and the ledger's state).
//! * [`write`]: the periodic writer (temp file, fsync, atomic rename).
//! * [`check`]: whether a snapshot still belongs to the topic as the
//!   broker holds it now.
//!
//! The offsets are the follower's own: it advances them under the lock the
//! writer holds while encoding ([`Covered`]), so a snapshot never claims a
//! record its state does not hold. Its state may hold more (records this
//! collector applied on its own before reading them back): the tail
//! replays those, and applying a record twice changes nothing.
//!
//! Whatever is wrong with a snapshot (missing, unreadable, truncated,
//! corrupt, another format version, another topic or partition count, an
//! offset the topic does not reach or no longer holds, a covered record
//! that is not the one on the topic now, offsets the broker cannot resume
//! at exactly), the ledger starts empty and
//! replays the whole topic, with a warning and
//! `fiducia_collector_consent_ledger_starts_total{from="replay",reason}`:
//! never a ledger that could miss a withdrawal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fiducia_runtime::service::config::{ConfigError, env_opt, env_positive};

use super::ledger::Ledger;
use crate::metrics;

pub mod check;
pub mod codec;
pub mod format;
pub mod write;

/// `FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_*`: where and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_PATH`: the file (its directory
    /// must exist; a `.tmp` beside it is written first); unset: no snapshot.
    pub path: PathBuf,
    /// `FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_INTERVAL_S`: time between
    /// snapshots (default 300), taken only when records were applied since
    /// the last; one more is taken at shutdown.
    pub interval: Duration,
}

impl Settings {
    /// From the environment; `None` when no path is set.
    ///
    /// # Errors
    /// When the interval is not a positive number of seconds.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Some(path) = env_opt::<PathBuf>("FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_PATH")? else {
            return Ok(None);
        };
        let seconds = env_positive("FIDUCIA_COLLECTOR_LEDGER_SNAPSHOT_INTERVAL_S", 300_u64)?;
        Ok(Some(Self {
            path,
            interval: Duration::from_secs(seconds),
        }))
    }
}

/// Where the follower stands in one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The next offset not applied.
    pub next: i64,
    /// CRC-32 of the payload at `next - 1` (the last record applied): a
    /// topic recreated and refilled past `next` is told apart by it.
    pub last_crc: u32,
}

/// The consent topic's records a ledger holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cover {
    /// The topic's name.
    pub topic: String,
    /// Every partition of the topic, with where the follower stands in it.
    pub partitions: BTreeMap<i32, Position>,
    /// Records the follower applied since start-up (not written): whether
    /// a new snapshot would say anything new.
    pub applied: u64,
}

/// The cover, advanced by the follower and read by the writer under one lock.
pub type Covered = Arc<Mutex<Cover>>;

/// Why the ledger replays the whole topic instead of starting from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fallback {
    /// No snapshot path is configured.
    #[error("no snapshot path is configured")]
    Disabled,
    /// No file at the path.
    #[error("no snapshot file")]
    Missing,
    /// The file exists but cannot be read.
    #[error("the snapshot file cannot be read")]
    Unreadable,
    /// Shorter than its header says.
    #[error("the snapshot file is truncated")]
    Truncated,
    /// Checksum mismatch, or not a snapshot at all.
    #[error("the snapshot file is corrupt (checksum or framing)")]
    Corrupt,
    /// Written in a format version this collector does not read.
    #[error("the snapshot has another format version")]
    Version,
    /// Of another topic.
    #[error("the snapshot is of another topic")]
    Topic,
    /// The topic has another partition count (or is gone).
    #[error("the topic has another partition count than the snapshot")]
    Partitions,
    /// A partition does not reach the snapshot's offset (topic recreated).
    #[error("the snapshot covers offsets beyond the topic's end")]
    BeyondEnd,
    /// A covered record is no longer held (topic truncated).
    #[error("the topic no longer holds a record the snapshot covers")]
    BelowStart,
    /// The record at a covered offset is not the one applied.
    #[error("a covered record differs from the topic's (topic recreated)")]
    RecordChanged,
    /// The broker cannot resume at the snapshot's offsets without skipping
    /// records (it fetches from record batches and the snapshot ended inside one).
    #[error("the broker cannot resume at the snapshot's offsets (inside a record batch)")]
    Unaligned,
    /// The broker did not answer the check.
    #[error("the broker did not answer the snapshot's check")]
    Broker,
}

impl Fallback {
    /// The `reason` label.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Missing => "missing",
            Self::Unreadable => "unreadable",
            Self::Truncated => "truncated",
            Self::Corrupt => "corrupt",
            Self::Version => "version",
            Self::Topic => "topic",
            Self::Partitions => "partitions",
            Self::BeyondEnd => "beyond_end",
            Self::BelowStart => "below_start",
            Self::RecordChanged => "record_changed",
            Self::Unaligned => "unaligned",
            Self::Broker => "broker",
        }
    }
}

/// The ledger to start with and the records it covers (empty: replay all).
#[derive(Debug)]
pub struct Start {
    /// The ledger, restored or empty.
    pub ledger: Ledger,
    /// Its cover, shared with the follower and the writer.
    pub covered: Covered,
    /// Where the follower starts each partition (none: at its beginning).
    pub resume: check::Resume,
}

/// Loads the snapshot at `settings`' path, checked against `topic` on
/// `brokers`; on any fallback an empty ledger. Logs and counts how it
/// started.
pub async fn start(settings: Option<&Settings>, brokers: &str, topic: &str) -> Start {
    let began = Instant::now();
    let path = settings.map(|s| s.path.clone());
    let (brokers, name) = (brokers.to_owned(), topic.to_owned());
    let loaded = tokio::task::spawn_blocking(move || {
        let path = path.ok_or(Fallback::Disabled)?;
        let (cover, ledger) = format::read(&path)?;
        let resume = check::against_topic(&brokers, &name, &cover, Duration::from_secs(5))?;
        Ok((cover, ledger, resume))
    })
    .await
    .unwrap_or(Err(Fallback::Unreadable));
    let empty = Cover {
        topic: topic.to_owned(),
        ..Cover::default()
    };
    let (cover, ledger, resume) = match loaded {
        Ok((cover, ledger, resume)) => {
            let seconds = began.elapsed().as_secs_f64();
            ::metrics::histogram!(metrics::LEDGER_SNAPSHOT_LOAD_DURATION).record(seconds);
            ::metrics::counter!(metrics::LEDGER_STARTS, "from" => "snapshot", "reason" => "loaded")
                .increment(1);
            let subjects = ledger.subjects();
            tracing::info!(%topic, subjects, seconds, "consent ledger restored from its snapshot; replaying the tail");
            (cover, ledger, resume)
        }
        Err(fallback) => {
            ::metrics::counter!(metrics::LEDGER_STARTS, "from" => "replay", "reason" => fallback.reason())
                .increment(1);
            if matches!(fallback, Fallback::Disabled | Fallback::Missing) {
                tracing::info!(%topic, reason = fallback.reason(), "consent ledger replays the whole topic: {fallback}");
            } else {
                tracing::warn!(%topic, reason = fallback.reason(), "consent ledger replays the whole topic: {fallback}");
            }
            (empty, Ledger::default(), check::Resume::new())
        }
    };
    Start {
        ledger,
        covered: Arc::new(Mutex::new(cover)),
        resume,
    }
}

#[cfg(test)]
mod tests;
