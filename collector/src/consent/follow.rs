//! Keeps the [`Ledger`] current from `fiducia.consent.v1`: every collector
//! reads every record (no consumer group), so a withdrawal sent to one
//! instance is enforced by all of them within the follower's fetch delay.
//! A ledger restored from its snapshot is followed from the offsets the
//! snapshot covers, and every record applied advances them
//! ([`super::snapshot::Covered`]).

use std::sync::Arc;
use std::time::Duration;

use fiducia_proto::v1::ConsentRecord;
use fiducia_runtime::kafka::admin::retention_ms;
use fiducia_runtime::kafka::follow::{self, Delivered, FollowSettings, FollowState};
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::ledger::Ledger;
use super::snapshot::check::Resume;
use super::snapshot::{Covered, Position};
use crate::metrics;

/// Refuses a consent topic that expires records: the ledger is rebuilt
/// from it, so an expired withdrawal would be forgotten, and it is the
/// proof of consent. A broker that does not describe topic settings (Tansu
/// 0.6) is trusted to have been set up as documented, with a warning.
///
/// # Errors
/// When the broker reports a finite `retention.ms` for `topic`.
pub async fn check_retention(brokers: &str, topic: &str) -> anyhow::Result<()> {
    match retention_ms(brokers, topic).await {
        Ok(Some(ms)) if ms.trim() == "-1" => Ok(()),
        Ok(Some(ms)) => anyhow::bail!(
            "the consent topic {topic} expires records (retention.ms={ms}): consent proof and \
             withdrawals must never expire; set retention.ms=-1 and retention.bytes=-1 on it"
        ),
        Ok(None) => {
            tracing::warn!(%topic, "the broker does not describe the consent topic's retention; it must be retention.ms=-1");
            Ok(())
        }
        Err(error) => {
            tracing::warn!(%topic, %error, "cannot read the consent topic's retention; it must be retention.ms=-1");
            Ok(())
        }
    }
}

/// Starts following `topic` into `ledger`, each partition from `resume`
/// (a restored snapshot's, [`super::snapshot::check`]; none: from the
/// beginning), advancing `covered`; the returned state says when the
/// ledger holds everything the topic held at start-up (readiness).
#[must_use]
pub fn spawn(
    ledger: Arc<Ledger>,
    (covered, resume): (Covered, Resume),
    brokers: &str,
    topic: &str,
    shutdown: CancellationToken,
) -> Arc<FollowState> {
    let mut settings = FollowSettings::whole_topic(
        brokers,
        topic,
        "fiducia-collector-ledger",
        metrics::LEDGER_LAG,
    );
    settings.start_offsets = resume;
    let applied = ::metrics::counter!(metrics::LEDGER_RECORDS, "outcome" => "applied");
    let invalid = ::metrics::counter!(metrics::LEDGER_RECORDS, "outcome" => "invalid");
    let delay = ::metrics::histogram!(metrics::LEDGER_DELAY);
    tokio::spawn(size_gauges(Arc::clone(&ledger), shutdown.clone()));
    let apply_one = move |payload: &[u8]| match ConsentRecord::decode(payload) {
        Ok(record) => {
            ledger.apply(&record);
            applied.increment(1);
            let now = fiducia_proto::time::now_ms();
            #[allow(clippy::cast_precision_loss)] // seconds of delay
            delay.record((now - record.server_ts_ms).max(0) as f64 / 1000.0);
        }
        Err(error) => {
            invalid.increment(1);
            tracing::warn!(%error, "undecodable consent record skipped");
        }
    };
    let apply = move |message: &Delivered<'_>| {
        let payload = message.payload.unwrap_or_default();
        // Held while the record is applied: a snapshot taken meanwhile
        // covers neither, or both (`consent::snapshot`).
        let mut cover = covered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        apply_one(payload);
        cover.partitions.insert(
            message.partition,
            Position {
                next: message.offset + 1,
                last_crc: crc32fast::hash(payload),
            },
        );
        cover.applied += 1;
    };
    let state = Arc::new(FollowState::default());
    tokio::spawn(follow::follow_messages(
        settings,
        apply,
        Arc::clone(&state),
        shutdown,
    ));
    state
}

/// How often the ledger's size gauges are set.
const SIZE_GAUGES_INTERVAL: Duration = Duration::from_secs(1);

/// Sets the ledger's size gauges every [`SIZE_GAUGES_INTERVAL`], counting
/// the records this collector applied itself as well as the followed ones.
/// Set after every record, they took a second lock of the ledger per
/// record: a million times over a million-record catch-up.
async fn size_gauges(ledger: Arc<Ledger>, shutdown: CancellationToken) {
    let subjects = ::metrics::gauge!(metrics::LEDGER_SUBJECTS);
    let held = ::metrics::gauge!(metrics::LEDGER_HELD_SUBJECTS);
    let bytes = ::metrics::gauge!(metrics::LEDGER_BYTES);
    let mut tick = tokio::time::interval(SIZE_GAUGES_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let size = ledger.size();
        #[allow(clippy::cast_precision_loss)] // gauges
        {
            subjects.set(size.subjects as f64);
            held.set(size.held as f64);
            bytes.set(size.bytes as f64);
        }
    }
}
