//! The deny filter: no row of an erased subject is inserted once the
//! erasure is known (`proto/README.md`, Erasure). Every sink follows the
//! whole privacy topic into an [`Erased`] list (`fiducia_runtime::erased`);
//! the handlers of the tables whose rows belong to a subject
//! ([`TableRow::DENIED`](crate::tables::TableRow::DENIED): `events`,
//! `consent_log`) check each batch against the list right before the
//! insert ([`Deny`]): an event of an erased visitor or user is dropped and
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
//! ahead, up to a batch earlier). So a prepared batch keeps the payloads of
//! its messages that became rows (one buffer for the batch) and each row's
//! site, visitor and user id ([`Subjects`], another); the rare batch that
//! holds an erased subject is decoded again and encoded without it.

use std::sync::Arc;

use fiducia_proto::privacy::user_key;
use fiducia_runtime::erased::Erased;
use tokio::sync::{RwLock, RwLockReadGuard};

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

    /// Held by an insert from its check to its acknowledgement.
    pub async fn insert(&self) -> RwLockReadGuard<'_, ()> {
        self.0.read().await
    }
}

/// What a handler needs to deny: the list and the barrier, shared with
/// the erasure workflow.
#[derive(Debug, Clone)]
pub struct Deny {
    /// The erased subjects, followed from the privacy topic.
    pub erased: Arc<Erased>,
    /// Shared with the workflow.
    pub barrier: Arc<Barrier>,
}

/// Each row's site, visitor id and user id, in one buffer.
#[derive(Debug, Default)]
pub struct Subjects {
    text: String,
    /// Per row: where its site, visitor id and user id end in `text`.
    ends: Vec<[usize; 3]>,
}

impl Subjects {
    /// Adds the next row's subject.
    pub fn push(&mut self, (site, visitor, user): (&str, &str, &str)) {
        let mut ends = [0; 3];
        for (end, part) in ends.iter_mut().zip([site, visitor, user]) {
            self.text.push_str(part);
            *end = self.text.len();
        }
        self.ends.push(ends);
    }

    /// Which rows `erased` covers, in order.
    #[must_use]
    pub fn covered(&self, erased: &Erased) -> Vec<bool> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&[site, visitor, user]| {
                let text = &self.text;
                let covered = erased.covers(
                    &text[start..site],
                    &text[site..visitor],
                    &text[visitor..user],
                );
                start = user;
                covered
            })
            .collect()
    }

    /// Rows recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no row was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
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

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use fiducia_proto::v1::{PrivacyRequest, PrivacyRequestKind};

    use super::*;
    use crate::tables::TableRow as _;

    pub(crate) fn erasure(subject: &str, user_key: &str) -> PrivacyRequest {
        PrivacyRequest {
            site_id: "demo".into(),
            subject: subject.into(),
            user_key: user_key.into(),
            kind: PrivacyRequestKind::Erasure.into(),
            ..PrivacyRequest::default()
        }
    }

    #[test]
    fn subjects_keep_each_rows_ids_apart() {
        let erased = Erased::default();
        erased.apply(&erasure("v1", ""));
        erased.apply(&erasure("", &user_key("demo", "u-42")));
        let mut subjects = Subjects::default();
        for subject in [
            ("demo", "v1", ""),
            ("demo", "v", "1"),
            ("demo", "v2", "u-42"),
            ("dem", "ov1", ""),
            ("demo", "", ""),
        ] {
            subjects.push(subject);
        }
        assert_eq!(subjects.len(), 5);
        assert_eq!(subjects.covered(&erased), [true, false, true, false, false]);
    }

    #[tokio::test]
    async fn the_barrier_waits_for_an_insert_in_flight() {
        let barrier = Barrier::default();
        let insert = barrier.insert().await;
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
        let row = crate::tables::consent_log::tests::row("v1");
        let kept = row.clone().erase().unwrap();
        assert_eq!(kept.subject, pseudonym("demo", "v1"));
        assert!(kept.subject.starts_with("erased:") && kept.subject.len() == 7 + 64);
        assert!(kept.ip_prefix.is_empty() && kept.browser_family.is_empty());
        assert_eq!((kept.record_id, &kept.action), (row.record_id, &row.action));
    }
}
