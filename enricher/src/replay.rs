//! `fiducia-enricher replay`: feeds the enricher's dead letters back to the
//! raw topic once their cause is fixed (a site's rules changed, a bug in an
//! upstream stage corrected). Each letter is checked again with the current
//! rules first: by default only letters that would now be enriched are
//! re-fed, the others are counted by the reason they would fail with again.
//! `--dry-run` only reports. Replayed messages keep their key, payload,
//! headers and raw partition, plus a `fiducia-replayed-from` header; a
//! replayed event that was already stored collapses on its `event_id`.
//!
//! The dead-letter topic is read from the start up to its end when the
//! command starts, with filters on reason, site and failure time.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use fiducia_proto::headers;
use fiducia_proto::v1::{DeadLetter, DeadLetterReason};
use fiducia_runtime::kafka::deadletter::reason_label;
use fiducia_runtime::kafka::scan::{partitions, scan};
use fiducia_runtime::kafka::send::enqueue;
use fiducia_runtime::kafka::{ProducerSettings, producer};
use prost::Message as _;
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde::Serialize;

use crate::batch::STAGE;
use crate::config::Config;
use crate::enrich::validate::validate;
use crate::enrich::{Engine, Tally};

/// Header naming the dead letter a replayed message came from (`partition/offset`).
pub const REPLAYED_FROM: &str = "fiducia-replayed-from";

/// Which letters to replay, and how.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayOptions {
    /// Report what would be replayed; produce nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only letters with this reason, e.g. `event_type_not_allowed` (repeatable).
    #[arg(long = "reason")]
    pub reasons: Vec<String>,
    /// Only letters of this site.
    #[arg(long)]
    pub site: Option<String>,
    /// Only letters that failed at or after this time (Unix ms).
    #[arg(long)]
    pub since_ms: Option<i64>,
    /// Re-feed matching letters even when they would fail again.
    #[arg(long)]
    pub include_failing: bool,
    /// Stop after this many letters are (or would be) replayed.
    #[arg(long)]
    pub limit: Option<u64>,
}

/// What a replay did, printed as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Letters read.
    pub scanned: u64,
    /// Letters of the enricher matching the filters.
    pub matched: u64,
    /// Letters re-fed (or that would be, in a dry run).
    pub replayed: u64,
    /// Matching letters that still fail, by the reason they would fail with.
    pub still_failing: BTreeMap<&'static str, u64>,
    /// Letters that could not be decoded as dead letters.
    pub unreadable: u64,
}

/// How long to wait for the broker while reading.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a replay with `config`'s broker, topics and site rules.
///
/// # Errors
/// When the broker cannot be read from or written to.
pub async fn replay(config: &Config, options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    let letters = {
        let brokers = config.kafka.brokers.clone();
        let topic = config.kafka.topics.deadletter.clone();
        tokio::task::spawn_blocking(move || read_all(&brokers, &topic)).await??
    };
    let mut engine = Engine::new(config.sites.clone(), NonZeroUsize::MIN, None);
    let producer = (!options.dry_run)
        .then(|| {
            producer(
                &config.kafka.brokers,
                "fiducia-enricher-replay",
                &ProducerSettings::default(),
            )
        })
        .transpose()?;
    let mut report = ReplayReport {
        dry_run: options.dry_run,
        ..ReplayReport::default()
    };
    let mut chosen = Vec::new();
    for stored in letters {
        report.scanned += 1;
        let Ok(letter) = DeadLetter::decode(stored.payload.as_slice()) else {
            report.unreadable += 1;
            continue;
        };
        if !matches(&letter, options) {
            continue;
        }
        report.matched += 1;
        if options.limit.is_some_and(|limit| report.replayed >= limit) {
            continue;
        }
        if let Err(reason) = recheck(&letter, &mut engine, config) {
            *report
                .still_failing
                .entry(reason_label(reason))
                .or_default() += 1;
            if !options.include_failing {
                continue;
            }
        }
        report.replayed += 1;
        if producer.is_some() {
            chosen.push((letter, format!("{}/{}", stored.partition, stored.offset)));
        }
    }
    if let Some(producer) = &producer {
        let records = chosen.iter().map(|(letter, from)| {
            FutureRecord::to(&config.kafka.topics.raw)
                .partition(letter.partition)
                .key(letter.key.as_slice())
                .payload(letter.payload.as_slice())
                .headers(replay_headers(letter, from))
        });
        if let Err(error) = enqueue(producer, records)
            .acknowledged()
            .await
            .into_result()
        {
            anyhow::bail!("replay produce failed: {error}");
        }
    }
    tracing::info!(
        scanned = report.scanned,
        matched = report.matched,
        replayed = report.replayed,
        dry_run = report.dry_run,
        "replay done"
    );
    Ok(report)
}

/// The letter's original headers, and where it was replayed from.
fn replay_headers(letter: &DeadLetter, from: &str) -> OwnedHeaders {
    letter
        .headers
        .iter()
        .fold(OwnedHeaders::new(), |h, header| {
            h.insert(Header {
                key: &header.key,
                value: Some(header.value.as_slice()),
            })
        })
        .insert(Header {
            key: REPLAYED_FROM,
            value: Some(from),
        })
}

/// Whether `letter` is the enricher's and passes the filters.
fn matches(letter: &DeadLetter, options: &ReplayOptions) -> bool {
    let reason = DeadLetterReason::try_from(letter.reason).unwrap_or(DeadLetterReason::Unspecified);
    let site = letter
        .headers
        .iter()
        .find(|h| h.key == headers::SITE)
        .map(|h| h.value.as_slice());
    letter.stage == STAGE
        && (options.reasons.is_empty() || options.reasons.iter().any(|r| r == reason_label(reason)))
        && options
            .site
            .as_ref()
            .is_none_or(|s| site == Some(s.as_bytes()))
        && options
            .since_ms
            .is_none_or(|since| letter.failed_at_ms >= since)
}

/// Checks a letter's message with today's rules; the error is why it would fail.
fn recheck(
    letter: &DeadLetter,
    engine: &mut Engine,
    config: &Config,
) -> Result<(), DeadLetterReason> {
    let schema = letter
        .headers
        .iter()
        .find(|h| h.key == headers::SCHEMA)
        .map(|h| h.value.as_slice());
    let raw = validate(Some(&letter.payload), schema, &config.sites).map_err(|e| e.reason)?;
    engine
        .enrich(raw, &mut Tally::default())
        .map(drop)
        .map_err(|e| e.reason)
}

/// A message of the dead-letter topic and where it is.
struct Stored {
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

/// Every message of `topic` up to its current end, with its position.
fn read_all(brokers: &str, topic: &str) -> anyhow::Result<Vec<Stored>> {
    let ids = partitions(brokers, "fiducia-enricher-metadata", topic, READ_TIMEOUT)?;
    let mut out = Vec::new();
    scan(
        brokers,
        "fiducia-enricher-replay",
        topic,
        &ids,
        READ_TIMEOUT,
        |message| {
            out.push(Stored {
                partition: message.partition(),
                offset: message.offset(),
                payload: message.payload().unwrap_or_default().to_vec(),
            });
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::DeadLetterHeader;

    use super::*;

    fn letter(reason: DeadLetterReason, site: &str, failed_at_ms: i64) -> DeadLetter {
        DeadLetter {
            stage: STAGE.into(),
            reason: reason.into(),
            headers: vec![DeadLetterHeader {
                key: headers::SITE.into(),
                value: site.as_bytes().to_vec(),
            }],
            failed_at_ms,
            ..DeadLetter::default()
        }
    }

    #[test]
    fn filters_select_letters_by_stage_reason_site_and_time() {
        let options = ReplayOptions {
            reasons: vec!["event_type_not_allowed".into()],
            site: Some("demo".into()),
            since_ms: Some(100),
            ..ReplayOptions::default()
        };
        let mut sink_letter = letter(DeadLetterReason::EventTypeNotAllowed, "demo", 100);
        sink_letter.stage = "sink".into();
        for (letter, want) in [
            (
                letter(DeadLetterReason::EventTypeNotAllowed, "demo", 100),
                true,
            ),
            (letter(DeadLetterReason::Undecodable, "demo", 100), false),
            (
                letter(DeadLetterReason::EventTypeNotAllowed, "other", 100),
                false,
            ),
            (
                letter(DeadLetterReason::EventTypeNotAllowed, "demo", 99),
                false,
            ),
            (sink_letter, false),
        ] {
            assert_eq!(matches(&letter, &options), want, "{letter:?}");
        }
        assert!(matches(
            &letter(DeadLetterReason::Empty, "any", 0),
            &ReplayOptions::default()
        ));
    }
}
