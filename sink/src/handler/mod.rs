//! The sink's [`BatchHandler`], one per table: decode each message of a
//! batch as the table's message (an `EnrichedEvent` for `events`, a
//! `ConsentRecord` for `consent_log`), turn it into a row ([`TableRow`]),
//! insert the rows in one go, and dead-letter whatever cannot become a row.
//!
//! Order matters for at-least-once: rows are inserted first, then dead
//! letters are published, and only when both succeeded does the loop store
//! the batch's offsets. A failure of either returns `Err`, so the loop
//! retries the whole batch; rows inserted twice collapse on `event_id`, and
//! a ClickHouse outage re-sends no dead letters (none were sent yet).
//!
//! The loss ledger's counters (rows inserted, dead letters, events consumed
//! and dropped) are counted once the whole batch is durable, once per
//! batch however often it was retried, so that in the `events` table's
//! loop consumed = inserted + dead-lettered + dropped at every scrape. The
//! end-to-end latency of each row is observed when its insert is first
//! acknowledged ([`metrics::END_TO_END_LATENCY`]).

mod batch_token;
mod decode;
mod payloads;

use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::Instant;

use fiducia_proto::time::now_ms;
use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use fiducia_runtime::kafka::deadletter::{dead_letter, dead_letter_headers};
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;

pub use self::batch_token::batch_token;
pub use self::decode::{Rejection, decode, decode_payload, decode_timed};
use self::payloads::Payloads;
use crate::deadletter::{DeadLetterSink, Letter};
use crate::deny::{Deny, Subjects};
use crate::metrics;
use crate::tables::TableRow;
use crate::writer::RowWriter;

/// The stage name written into dead letters.
pub const STAGE: &str = "sink";

/// A batch made ready to insert: its rows in the writer's form, the
/// messages that cannot become a row with why, and its [`batch_token`].
/// For a table the deny filter checks, also the payloads of the messages
/// that became rows and each row's subject ([`crate::deny`]); the messages
/// themselves are gone: their rows are all the sink needs.
pub struct Prepared<P> {
    rows: P,
    rejected: Vec<(OwnedMessage, Rejection)>,
    token: String,
    kept: Payloads,
    subjects: Subjects,
    /// How many messages the batch held.
    messages: usize,
    /// When the collector received each row's event, in row order (Unix
    /// ms; empty for tables of something else).
    received: Vec<i64>,
}

/// A batch's rows without those of erased subjects.
struct Denied<P> {
    rows: P,
    /// How many rows were left out (or pseudonymised, for `consent_log`).
    erased: u64,
    /// [`Prepared::received`] of the rows kept.
    received: Vec<i64>,
}

/// Decodes, inserts and dead-letters the batches of the consume loop, for
/// the table of `R`.
pub struct SinkHandler<W, D, R> {
    writer: W,
    dead_letters: D,
    deny: Option<Deny>,
    /// The token of the last batch whose latencies were observed: a retry
    /// of it is not observed again.
    observed: Option<String>,
    table: PhantomData<fn() -> R>,
}

impl<R: TableRow, W: RowWriter<R>, D: DeadLetterSink> SinkHandler<W, D, R> {
    /// A handler writing rows to `writer` and dead letters to `dead_letters`.
    pub fn new(writer: W, dead_letters: D) -> Self {
        Self {
            writer,
            dead_letters,
            deny: None,
            observed: None,
            table: PhantomData,
        }
    }

    /// Checks every batch against `deny` before its insert (tables with
    /// [`TableRow::DENIED`]).
    #[must_use]
    pub fn with_deny(mut self, deny: Deny) -> Self {
        self.deny = Some(deny);
        self
    }

    /// The batch's rows without those of erased subjects (pseudonymised
    /// where the table keeps them), when it holds any; `None` otherwise.
    fn denied(&self, prepared: &Prepared<W::Prepared>) -> Option<Denied<W::Prepared>> {
        let deny = self.deny.as_ref()?;
        if !R::DENIED || deny.erased.is_empty() || prepared.subjects.is_empty() {
            return None;
        }
        let covered = prepared.subjects.covered(&deny.erased);
        let erased = covered.iter().filter(|c| **c).count();
        if erased == 0 {
            return None;
        }
        // Decoded again: these messages became rows once, so they do again.
        let mut received = Vec::new();
        let rows = prepared
            .kept
            .iter()
            .zip(covered)
            .filter_map(|(payload, covered)| {
                let (row, at) = decode_payload::<R>(payload).ok()?;
                let row = if covered { row.erase() } else { Some(row) }?;
                received.extend(at);
                Some(row)
            });
        let rows = W::prepare(rows);
        Some(Denied {
            rows,
            erased: erased as u64,
            received,
        })
    }

    /// Counts the rows of erased subjects of a batch made durable.
    fn count_erased(erased: u64) {
        if erased == 0 {
            return;
        }
        let (metric, what) = if R::TABLE == crate::tables::consent_log::NAME {
            (
                metrics::CONSENT_PSEUDONYMISED,
                "consent records of erased subjects pseudonymised",
            )
        } else {
            ::metrics::counter!(metrics::EVENTS_DROPPED, "reason" => "erased").increment(erased);
            (metrics::EVENTS_ERASED, "events of erased subjects dropped")
        };
        ::metrics::counter!(metric).increment(erased);
        tracing::info!(table = R::TABLE, rows = erased, "{what}");
    }

    /// Observes the end-to-end latency of the rows of the batch `token`
    /// just acknowledged, unless a try of the same batch was observed.
    /// Rows received at the same millisecond (one request's events) are
    /// observed together.
    fn observe_latency(observed: &mut Option<String>, token: &str, received: &[i64]) {
        if received.is_empty() || observed.as_deref() == Some(token) {
            return;
        }
        *observed = Some(token.to_owned());
        let latency = ::metrics::histogram!(metrics::END_TO_END_LATENCY);
        let now = now_ms();
        let mut rest = received;
        while let Some(&at) = rest.first() {
            let run = rest.iter().take_while(|&&r| r == at).count();
            #[allow(clippy::cast_precision_loss)] // milliseconds, far below 2^52
            latency.record_many((now - at).max(0) as f64 / 1000.0, run);
            rest = &rest[run..];
        }
    }

    /// The row writer (tests inspect the in-memory one).
    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// The dead-letter sink (tests inspect the in-memory one).
    pub fn dead_letters(&self) -> &D {
        &self.dead_letters
    }

    /// Inserts `rows`; returns how many.
    async fn insert(&self, rows: &W::Prepared, token: &str) -> Result<u64, BatchError> {
        let started = Instant::now();
        let result = self.writer.write(rows, token).await;
        if !matches!(result, Ok(0)) {
            ::metrics::histogram!(metrics::INSERT_DURATION, "table" => R::TABLE)
                .record(started.elapsed().as_secs_f64());
        }
        match result {
            Ok(written) => Ok(written),
            Err(error) => {
                ::metrics::counter!(metrics::INSERT_ERRORS, "table" => R::TABLE).increment(1);
                Err(error.into())
            }
        }
    }

    async fn dead_letter(&self, rejected: &[(OwnedMessage, Rejection)]) -> Result<(), BatchError> {
        let now_ms = now_ms();
        let mut labels = Vec::with_capacity(rejected.len());
        let mut letters = Vec::with_capacity(rejected.len());
        for (message, rejection) in rejected {
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                reason = rejection.label(),
                detail = %rejection,
                "message dead-lettered"
            );
            labels.push(rejection.label());
            letters.push(Letter {
                key: message.key().map(<[u8]>::to_vec),
                headers: dead_letter_headers(message),
                letter: dead_letter(
                    STAGE,
                    rejection.reason(),
                    rejection.to_string(),
                    message,
                    now_ms,
                ),
            });
        }
        if let Err(error) = self.dead_letters.send(letters).await {
            ::metrics::counter!(metrics::DEAD_LETTER_ERRORS).increment(1);
            return Err(error.into());
        }
        for label in labels {
            ::metrics::counter!(metrics::DEAD_LETTERS, "table" => R::TABLE, "reason" => label)
                .increment(1);
        }
        Ok(())
    }
}

impl<R: TableRow, W: RowWriter<R>, D: DeadLetterSink> BatchHandler for SinkHandler<W, D, R> {
    type Prepared = Prepared<W::Prepared>;

    /// Decodes every message and has the writer encode the rows: the
    /// sink's CPU work, done while the batch before is being inserted.
    fn prepare(batch: Vec<OwnedMessage>, ranges: &[OffsetRange]) -> Self::Prepared {
        let token = batch_token(ranges);
        let messages = batch.len();
        let mut failed = Vec::new();
        let mut subjects = Subjects::default();
        let mut received = Vec::new();
        let rows = W::prepare(batch.iter().enumerate().filter_map(|(index, message)| {
            let (row, at) = decode_timed::<R>(message)
                .map_err(|rejection| failed.push((index, rejection)))
                .ok()?;
            if R::DENIED {
                subjects.push(row.subject());
            }
            received.extend(at);
            Some(row)
        }));
        // Keep the messages to dead-letter (`failed` is in batch order),
        // and the payloads of those that became rows where the deny filter
        // may need them.
        let mut failed = failed.into_iter().peekable();
        let mut rejected = Vec::new();
        let mut kept = if R::DENIED {
            let bytes = batch
                .iter()
                .map(|message| message.payload().map_or(0, <[u8]>::len))
                .sum();
            Payloads::with_capacity(batch.len(), bytes)
        } else {
            Payloads::default()
        };
        for (index, message) in batch.into_iter().enumerate() {
            match failed.next_if(|(at, _)| *at == index) {
                Some((_, rejection)) => rejected.push((message, rejection)),
                None if R::DENIED => kept.push(message.payload().unwrap_or_default()),
                None => {}
            }
        }
        Prepared {
            rows,
            rejected,
            token,
            kept,
            subjects,
            messages,
            received,
        }
    }

    async fn handle(&mut self, prepared: &Self::Prepared) -> Result<(), BatchError> {
        // Held from the deny check until the insert is acknowledged.
        let _insert = match &self.deny {
            Some(deny) => Some(deny.barrier.insert().await),
            None => None,
        };
        let (stored, erased, received) = match self.denied(prepared) {
            None => (
                self.insert(&prepared.rows, &prepared.token).await?,
                0,
                Cow::Borrowed(&prepared.received),
            ),
            // A batch that changed is another insert: its own token, so a
            // server that saw the whole one does not drop it.
            Some(denied) => {
                let token = format!("{}/denied", prepared.token);
                (
                    self.insert(&denied.rows, &token).await?,
                    denied.erased,
                    Cow::Owned(denied.received),
                )
            }
        };
        Self::observe_latency(&mut self.observed, &prepared.token, &received);
        let dead = prepared.rejected.len();
        if dead > 0 {
            self.dead_letter(&prepared.rejected).await?;
        }
        // Durable: the ledger counts the batch, once.
        ::metrics::counter!(metrics::ROWS_INSERTED, "table" => R::TABLE).increment(stored);
        Self::count_erased(erased);
        if R::TABLE == crate::tables::events::NAME {
            ::metrics::counter!(metrics::EVENTS_CONSUMED).increment(prepared.messages as u64);
        }
        tracing::debug!(rows = stored, dead_letters = dead, "batch stored");
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use fiducia_proto::headers;
    use fiducia_proto::time::midnight_days_ago_ms;
    use fiducia_proto::v1::{DeadLetterReason, Decision, EnrichedEvent};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use prost::Message as _;
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};
    use uuid::Uuid;

    use super::*;
    use crate::deadletter::MemoryDeadLetters;
    use crate::tables::events::EventRow;
    use crate::writer::memory::MemoryWriter;
    use fiducia_runtime::kafka::consume::offset_ranges;

    pub(crate) fn event(id: Uuid) -> EnrichedEvent {
        EnrichedEvent {
            event_id: id.as_bytes().to_vec(),
            site_id: "demo".into(),
            event_type: "page_view".into(),
            event_time_ms: midnight_days_ago_ms(1),
            received_at_ms: midnight_days_ago_ms(1) + 100,
            decision: Decision::Keep.into(),
            ..EnrichedEvent::default()
        }
    }

    pub(super) fn message(
        payload: Option<Vec<u8>>,
        offset: i64,
        schema: Option<&str>,
    ) -> OwnedMessage {
        let headers = schema.map(|s| {
            OwnedHeaders::new()
                .insert(Header {
                    key: headers::SCHEMA,
                    value: Some(s),
                })
                .insert(Header {
                    key: headers::SITE,
                    value: Some("demo"),
                })
        });
        OwnedMessage::new(
            payload,
            Some(b"demo:v1".to_vec()),
            "fiducia.enriched.v1".into(),
            Timestamp::NotAvailable,
            2,
            offset,
            headers,
        )
    }

    pub(super) fn good(id: Uuid, offset: i64) -> OwnedMessage {
        message(
            Some(event(id).encode_to_vec()),
            offset,
            Some(headers::schema::ENRICHED_EVENT),
        )
    }

    type Handler = SinkHandler<MemoryWriter<EventRow>, MemoryDeadLetters, EventRow>;

    fn handler() -> Handler {
        SinkHandler::new(MemoryWriter::default(), MemoryDeadLetters::default())
    }

    /// Prepares and handles `batch`, as the consume loop does.
    async fn handle(handler: &mut Handler, batch: &[OwnedMessage]) -> Result<(), BatchError> {
        let prepared = Handler::prepare(batch.to_vec(), &offset_ranges(batch));
        handler.handle(&prepared).await
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn good_messages_become_rows_in_order() {
        let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        let batch: Vec<_> = (0..)
            .zip(ids)
            .map(|(offset, id)| good(id, offset))
            .collect();
        let mut handler = handler();
        block_on(handle(&mut handler, &batch)).unwrap();
        let written: Vec<Uuid> = handler.writer().rows().iter().map(|r| r.event_id).collect();
        assert_eq!(written, ids);
        assert!(handler.dead_letters().sent().is_empty());
    }

    #[test]
    fn a_garbage_message_is_dead_lettered_and_the_rest_is_inserted() {
        let id = Uuid::now_v7();
        let garbage = b"\xff\xff\xff not protobuf".to_vec();
        let batch = [
            good(id, 10),
            message(
                Some(garbage.clone()),
                11,
                Some(headers::schema::ENRICHED_EVENT),
            ),
        ];
        let mut handler = handler();
        block_on(handle(&mut handler, &batch)).unwrap();

        assert_eq!(handler.writer().rows().len(), 1);
        let sent = handler.dead_letters().sent();
        assert_eq!(sent.len(), 1);
        let letter = &sent[0].letter;
        assert_eq!(letter.reason(), DeadLetterReason::Undecodable);
        assert_eq!(
            (letter.stage.as_str(), letter.partition, letter.offset),
            (STAGE, 2, 11)
        );
        assert_eq!(
            letter.payload, garbage,
            "the original bytes are kept for replay"
        );
        assert_eq!(sent[0].key.as_deref(), Some(&b"demo:v1"[..]));
        assert!(
            !letter.detail.contains("not protobuf"),
            "detail never carries payload content"
        );
    }

    #[test]
    fn a_failed_insert_fails_the_batch_and_sends_no_dead_letters() {
        let batch = [
            good(Uuid::now_v7(), 0),
            message(Some(b"junk".to_vec()), 1, None),
        ];
        let mut handler = handler();
        handler.writer().set_down(true);
        assert!(block_on(handle(&mut handler, &batch)).is_err());
        assert!(handler.dead_letters().sent().is_empty());

        handler.writer().set_down(false);
        block_on(handle(&mut handler, &batch)).unwrap();
        assert_eq!(
            (
                handler.writer().rows().len(),
                handler.dead_letters().sent().len()
            ),
            (1, 1)
        );
    }

    fn of(visitor: &str, user: &str, offset: i64) -> OwnedMessage {
        let mut event = event(Uuid::now_v7());
        event.visitor_id = visitor.into();
        event.user_id = user.into();
        message(
            Some(event.encode_to_vec()),
            offset,
            Some(headers::schema::ENRICHED_EVENT),
        )
    }

    #[test]
    fn events_of_an_erased_visitor_or_user_are_dropped_when_written_and_the_others_stored() {
        use std::sync::Arc;

        use fiducia_proto::privacy::user_key;
        use fiducia_runtime::erased::Erased;

        use crate::deny::{Barrier, Deny};

        let erased = Arc::new(Erased::default());
        let mut handler = handler().with_deny(Deny {
            erased: Arc::clone(&erased),
            barrier: Arc::new(Barrier::default()),
        });
        let batch = [
            of("v1", "", 0),
            of("v2", "", 1),
            message(Some(b"junk".to_vec()), 2, None),
            of("v3", "u-42", 3),
            of("", "u-42", 4),
            of("", "", 5),
        ];
        let prepared = Handler::prepare(batch.to_vec(), &offset_ranges(&batch));
        // The erasures arrive after the batch was prepared (read ahead):
        // it is checked when it is written.
        erased.apply(&crate::deny::tests::erasure("v1", ""));
        erased.apply(&crate::deny::tests::erasure("", &user_key("demo", "u-42")));
        block_on(handler.handle(&prepared)).unwrap();
        let kept: Vec<(String, String)> = handler
            .writer()
            .rows()
            .into_iter()
            .map(|r| (r.visitor_id, r.user_id))
            .collect();
        assert_eq!(
            kept,
            [("v2".into(), String::new()), (String::new(), String::new())]
        );
        assert_eq!(handler.dead_letters().sent().len(), 1, "the junk still");
    }

    #[test]
    fn a_failed_dead_letter_fails_the_batch() {
        let batch = [message(Some(b"junk".to_vec()), 1, None)];
        let mut handler = handler();
        handler.dead_letters().set_down(true);
        assert!(block_on(handle(&mut handler, &batch)).is_err());
    }

    #[test]
    fn metrics_count_rows_errors_and_dead_letters_by_reason() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let mut handler = handler();
            let batch = [
                good(Uuid::now_v7(), 0),
                good(Uuid::now_v7(), 1),
                message(None, 2, None),
            ];
            block_on(handle(&mut handler, &batch)).unwrap();
            handler.writer().set_down(true);
            assert!(block_on(handle(&mut handler, &batch[..1])).is_err());
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let value = |name: &str, label: Option<(&str, &str)>| {
            snapshot.iter().find_map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
                (key.name() == name && labels == label.into_iter().collect::<Vec<_>>())
                    .then_some(value)
            })
        };
        let counter = |name: &str, label: Option<(&str, &str)>| match value(name, label) {
            Some(DebugValue::Counter(n)) => Some(*n),
            _ => None,
        };
        let events = Some(("table", "events"));
        assert_eq!(counter(crate::metrics::ROWS_INSERTED, events), Some(2));
        assert_eq!(counter(crate::metrics::INSERT_ERRORS, events), Some(1));
        assert_eq!(
            counter(crate::metrics::EVENTS_CONSUMED, None),
            Some(3),
            "the batch made durable, not the one that failed"
        );
        let dead = snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
            (key.name() == crate::metrics::DEAD_LETTERS
                && labels == [("table", "events"), ("reason", "empty")])
            .then_some(value)
        });
        assert_eq!(dead, Some(&DebugValue::Counter(1)));
        assert!(
            matches!(value(crate::metrics::END_TO_END_LATENCY, None), Some(DebugValue::Histogram(h)) if h.len() == 2),
            "one latency per row inserted"
        );
        assert!(
            matches!(value(crate::metrics::INSERT_DURATION, events), Some(DebugValue::Histogram(h)) if h.len() == 2),
            "one duration per insert attempt"
        );
    }
}
