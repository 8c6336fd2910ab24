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

mod batch_token;
mod decode;

use std::marker::PhantomData;
use std::time::Instant;

use fiducia_proto::time::now_ms;
use fiducia_runtime::kafka::consume::{BatchError, BatchHandler, OffsetRange};
use fiducia_runtime::kafka::deadletter::{dead_letter, dead_letter_headers};
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;

pub use self::batch_token::batch_token;
pub use self::decode::{Rejection, decode};
use crate::deadletter::{DeadLetterSink, Letter};
use crate::metrics;
use crate::tables::TableRow;
use crate::writer::RowWriter;

/// The stage name written into dead letters.
pub const STAGE: &str = "sink";

/// A batch made ready to insert: its rows in the writer's form, the
/// messages that cannot become a row with why, and its [`batch_token`].
/// The other messages are gone: their rows are all the sink needs.
pub struct Prepared<P> {
    rows: P,
    rejected: Vec<(OwnedMessage, Rejection)>,
    token: String,
}

/// Decodes, inserts and dead-letters the batches of the consume loop, for
/// the table of `R`.
pub struct SinkHandler<W, D, R> {
    writer: W,
    dead_letters: D,
    table: PhantomData<fn() -> R>,
}

impl<R: TableRow, W: RowWriter<R>, D: DeadLetterSink> SinkHandler<W, D, R> {
    /// A handler writing rows to `writer` and dead letters to `dead_letters`.
    pub fn new(writer: W, dead_letters: D) -> Self {
        Self {
            writer,
            dead_letters,
            table: PhantomData,
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
            Ok(written) => {
                ::metrics::counter!(metrics::ROWS_INSERTED, "table" => R::TABLE).increment(written);
                Ok(written)
            }
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
            ::metrics::counter!(metrics::DEAD_LETTERS, "reason" => label).increment(1);
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
        let mut failed = Vec::new();
        let rows = W::prepare(batch.iter().enumerate().filter_map(|(index, message)| {
            decode::<R>(message)
                .map_err(|rejection| failed.push((index, rejection)))
                .ok()
        }));
        // Keep the messages to dead-letter (`failed` is in batch order).
        let mut failed = failed.into_iter().peekable();
        let rejected = batch
            .into_iter()
            .enumerate()
            .filter_map(|(index, message)| {
                let (_, rejection) = failed.next_if(|(at, _)| *at == index)?;
                Some((message, rejection))
            })
            .collect();
        Prepared {
            rows,
            rejected,
            token,
        }
    }

    async fn handle(&mut self, prepared: &Self::Prepared) -> Result<(), BatchError> {
        let stored = self.insert(&prepared.rows, &prepared.token).await?;
        let dead = prepared.rejected.len();
        if dead > 0 {
            self.dead_letter(&prepared.rejected).await?;
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
            counter(crate::metrics::DEAD_LETTERS, Some(("reason", "empty"))),
            Some(1)
        );
        assert!(
            matches!(value(crate::metrics::INSERT_DURATION, events), Some(DebugValue::Histogram(h)) if h.len() == 2),
            "one duration per insert attempt"
        );
    }
}
