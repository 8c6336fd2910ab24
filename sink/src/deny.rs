//! The deny filter: no row of an erased subject is inserted once the
//! erasure is known (`proto/README.md`, Erasure). Every sink follows the
//! whole privacy topic into an [`Erased`] list (`fiducia_runtime::erased`);
//! the `events` and `consent_log` writers are wrapped in a
//! [`DenyingWriter`], which checks each batch against the list right
//! before the insert: an event of an erased visitor or user is dropped and
//! counted (`fiducia_sink_events_erased_total`), a consent record of an
//! erased visitor is stored pseudonymised
//! (`fiducia_sink_consent_records_pseudonymised_total`), like those the
//! erasure rewrote.
//!
//! No race with the deletion: a batch holds the read side of the
//! [`Barrier`] from its check until ClickHouse acknowledged its insert; the
//! erasure workflow takes the write side once, after the subject is in the
//! list and before it counts and deletes. A batch checked before the
//! subject was in the list is therefore inserted before the deletion
//! starts (and deleted by it), and every batch checked after sees the
//! subject.
//!
//! The check happens at write time, not when the batch is prepared (read
//! ahead, up to a batch earlier): so a prepared batch keeps its rows beside
//! their encoding (encoded from them in place, not copied), and is encoded
//! again without the erased rows in the rare batch that holds some. That
//! keeps a batch's rows in memory until its insert ends.

use std::sync::Arc;

use fiducia_proto::privacy::user_key;
use fiducia_runtime::erased::Erased;
use tokio::sync::RwLock;

use crate::metrics;
use crate::tables::TableRow;
use crate::tables::consent_log::ConsentRow;
use crate::tables::events::EventRow;
use crate::writer::{RowWriter, WriteError};

/// Orders inserts against deletions: inserts share it, an erasure passes
/// it alone once (see the module docs).
#[derive(Debug, Default)]
pub struct Barrier(RwLock<()>);

impl Barrier {
    /// Waits until every insert that checked its rows before now has been
    /// acknowledged (or failed). Inserts that start after see every
    /// subject in the list before this call.
    pub async fn pass(&self) {
        drop(self.0.write().await);
    }
}

/// A row the deny filter knows how to treat.
pub trait Erasable: TableRow + 'static {
    /// Whether the row belongs to a subject in `erased`.
    fn covered(&self, erased: &Erased) -> bool;
    /// What is stored of a covered row: nothing, or a pseudonymised copy.
    fn erase(self) -> Option<Self>;
}

impl Erasable for EventRow {
    fn covered(&self, erased: &Erased) -> bool {
        erased.covers(&self.site_id, &self.visitor_id, &self.user_id)
    }

    fn erase(self) -> Option<Self> {
        None
    }
}

impl Erasable for ConsentRow {
    fn covered(&self, erased: &Erased) -> bool {
        !self.subject.is_empty() && erased.covers(&self.site_id, &self.subject, "")
    }

    fn erase(mut self) -> Option<Self> {
        self.subject = pseudonym(&self.site_id, &self.subject);
        self.ip_prefix.clear();
        self.browser_family.clear();
        Some(self)
    }
}

/// What an erased visitor's consent records keep as subject: `erased:`
/// and the SHA-256 of the site, a NUL byte and the visitor id, in
/// lower-case hex. The same visitor always gets the same pseudonym, so the
/// history of their consent stays together as proof (and the visitor, who
/// knows their id, can still be shown it); the id itself cannot be read
/// back from it. ClickHouse computes the same as
/// `concat('erased:', lower(hex(SHA256(concat(site_id, '\0', subject)))))`.
#[must_use]
pub fn pseudonym(site: &str, visitor_id: &str) -> String {
    format!("{PSEUDONYM_PREFIX}{}", user_key(site, visitor_id))
}

/// What every pseudonymised subject starts with.
pub const PSEUDONYM_PREFIX: &str = "erased:";

/// A batch made ready by a [`DenyingWriter`]: its rows, and their
/// encoding for the inner writer.
pub struct Guarded<R, P> {
    rows: Vec<R>,
    prepared: P,
}

/// Wraps a writer so that no row of an erased subject is stored.
#[derive(Clone)]
pub struct DenyingWriter<W> {
    inner: W,
    erased: Arc<Erased>,
    barrier: Arc<Barrier>,
}

impl<W> DenyingWriter<W> {
    /// `inner` for the rows; `erased` the list followed from the privacy
    /// topic; `barrier` shared with the erasure workflow.
    pub fn new(inner: W, erased: Arc<Erased>, barrier: Arc<Barrier>) -> Self {
        Self {
            inner,
            erased,
            barrier,
        }
    }

    /// The inner writer (tests inspect the in-memory one).
    pub fn inner(&self) -> &W {
        &self.inner
    }
}

impl<R: Erasable, W: RowWriter<R>> RowWriter<R> for DenyingWriter<W> {
    type Prepared = Guarded<R, W::Prepared>;

    fn prepare(rows: impl Iterator<Item = R>) -> Self::Prepared {
        let rows: Vec<R> = rows.collect();
        let prepared = W::prepare_slice(&rows);
        Guarded { rows, prepared }
    }

    async fn write(&self, batch: &Self::Prepared, token: &str) -> Result<u64, WriteError> {
        let _insert = self.barrier.0.read().await;
        let covered: Vec<bool> = if self.erased.is_empty() {
            Vec::new()
        } else {
            batch
                .rows
                .iter()
                .map(|row| row.covered(&self.erased))
                .collect()
        };
        let erased = covered.iter().filter(|c| **c).count();
        if erased == 0 {
            return self.inner.write(&batch.prepared, token).await;
        }
        let rows = batch
            .rows
            .iter()
            .zip(&covered)
            .filter_map(|(row, covered)| {
                if *covered {
                    row.clone().erase()
                } else {
                    Some(row.clone())
                }
            });
        let prepared = W::prepare(rows);
        // A batch that changed is another insert: its own token, so a
        // server that saw the unfiltered one does not drop it.
        let written = self
            .inner
            .write(&prepared, &format!("{token}/denied"))
            .await?;
        let (metric, what) = if R::TABLE == crate::tables::consent_log::NAME {
            (
                metrics::CONSENT_PSEUDONYMISED,
                "consent records of erased subjects pseudonymised",
            )
        } else {
            (metrics::EVENTS_ERASED, "events of erased subjects dropped")
        };
        ::metrics::counter!(metric).increment(erased as u64);
        tracing::info!(table = R::TABLE, rows = erased, "{what}");
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fiducia_proto::privacy::user_key;
    use fiducia_proto::v1::{PrivacyRequest, PrivacyRequestKind};
    use uuid::Uuid;

    use super::*;
    use crate::writer::memory::MemoryWriter;

    fn erasure(subject: &str, user_key: &str) -> PrivacyRequest {
        PrivacyRequest {
            site_id: "demo".into(),
            subject: subject.into(),
            user_key: user_key.into(),
            kind: PrivacyRequestKind::Erasure.into(),
            ..PrivacyRequest::default()
        }
    }

    fn event(visitor: &str, user: &str) -> EventRow {
        let mut event = crate::handler::tests::event(Uuid::now_v7());
        event.visitor_id = visitor.into();
        event.user_id = user.into();
        EventRow::try_from(event).unwrap()
    }

    type Writer = DenyingWriter<MemoryWriter<EventRow>>;

    fn writer() -> (Writer, Arc<Erased>, Arc<Barrier>) {
        let erased = Arc::new(Erased::default());
        let barrier = Arc::new(Barrier::default());
        let writer = DenyingWriter::new(
            MemoryWriter::default(),
            Arc::clone(&erased),
            Arc::clone(&barrier),
        );
        (writer, erased, barrier)
    }

    #[tokio::test]
    async fn events_of_an_erased_visitor_or_user_are_dropped_and_the_others_stored() {
        let (writer, erased, _) = writer();
        let batch = Writer::prepare(
            [
                event("v1", ""),
                event("v2", ""),
                event("v3", "u-42"),
                event("", "u-42"),
                event("", ""),
            ]
            .into_iter(),
        );
        erased.apply(&erasure("v1", ""));
        erased.apply(&erasure("", &user_key("demo", "u-42")));
        assert_eq!(writer.write(&batch, "t").await.unwrap(), 2);
        let kept: Vec<(String, String)> = writer
            .inner()
            .rows()
            .into_iter()
            .map(|r| (r.visitor_id, r.user_id))
            .collect();
        assert_eq!(
            kept,
            [("v2".into(), String::new()), (String::new(), String::new())]
        );
    }

    #[tokio::test]
    async fn a_batch_prepared_before_the_erasure_is_checked_when_it_is_written() {
        let (writer, erased, _) = writer();
        let batch = Writer::prepare([event("v1", ""), event("v2", "")].into_iter());
        erased.apply(&erasure("v1", ""));
        writer.write(&batch, "t").await.unwrap();
        assert_eq!(writer.inner().rows().len(), 1);
    }

    #[tokio::test]
    async fn the_barrier_waits_for_an_insert_in_flight() {
        let (_, _, barrier) = writer();
        let insert = barrier.0.read().await;
        let pass = barrier.pass();
        tokio::pin!(pass);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut pass)
                .await
                .is_err(),
            "the erasure must wait for the insert that checked before it"
        );
        drop(insert);
        tokio::time::timeout(Duration::from_secs(1), pass)
            .await
            .unwrap();
    }

    #[test]
    fn an_erased_visitors_consent_record_keeps_a_pseudonym_and_loses_network_and_browser() {
        let erased = Erased::default();
        erased.apply(&erasure("v1", ""));
        let row = crate::tables::consent_log::tests::row("v1");
        assert!(row.covered(&erased));
        let kept = row.clone().erase().unwrap();
        assert_eq!(kept.subject, pseudonym("demo", "v1"));
        assert!(kept.subject.starts_with("erased:") && kept.subject.len() == 7 + 64);
        assert!(kept.ip_prefix.is_empty() && kept.browser_family.is_empty());
        assert_eq!((kept.record_id, &kept.action), (row.record_id, &row.action));
        assert!(!crate::tables::consent_log::tests::row("v2").covered(&erased));
    }
}
