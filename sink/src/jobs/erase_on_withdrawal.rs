//! Profile erasure on withdrawal: a visitor who withdraws personalization
//! consent loses their profile (the visitors' rights) as soon as the withdrawal
//! is stored, not at the next retention run. When the consent loop stores a
//! record that leaves personalization off after a change of mind
//! (`update`, `withdraw`, `object`, `erase`), the visitor's rows of
//! `profile_events`, the table behind the `profiles` view, are deleted.
//!
//! Why a writer wrapper: [`ErasingWriter`] wraps the `consent_log` writer,
//! so a withdrawal's offset is stored only once its profile is gone; the
//! erasure shares the consume loop's at-least-once retries instead of
//! needing a queue and a job of its own. It inserts the records first, then
//! deletes the profiles they call for, and succeeds only when both did. A failure fails the batch, which the consume loop retries; the
//! re-inserted records collapse on `record_id` and a second delete of the
//! same rows is harmless. A first-time `deny` deletes nothing: no profile
//! can exist without an earlier grant, and a mutation per denial would be
//! costly on ClickHouse 18.16.
//!
//! Events already on their way when the withdrawal was stored (enriched
//! with consent a moment before) can still add rows afterwards. The
//! `profiles` view never shows a visitor whose latest consent record leaves
//! personalization off, so they are not used; [`super::profile_sweep`], run
//! with every retention run, deletes them.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use clickhouse::Client;

use crate::jobs::delete_statement;
use crate::metrics;
use crate::schema::{ServerFeatures, render};
use crate::tables::consent_log::ConsentRow;
use crate::tables::profile_events;
use crate::writer::{RowWriter, WriteError};

/// Whose profile to delete.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    /// The site.
    pub site_id: String,
    /// The tag's visitor id (the consent record's subject).
    pub visitor_id: String,
}

/// The consent actions that, with personalization off, end a profile.
const ENDING_ACTIONS: [&str; 4] = ["update", "withdraw", "object", "erase"];

/// The subject whose profile must go because of `row`, if any.
#[must_use]
pub fn withdrawal(row: &ConsentRow) -> Option<Subject> {
    (row.personalization == 0
        && !row.subject.is_empty()
        && ENDING_ACTIONS.contains(&row.action.as_str()))
    .then(|| Subject {
        site_id: row.site_id.clone(),
        visitor_id: row.subject.clone(),
    })
}

/// Deletes profiles.
pub trait ProfileEraser: Send + Sync + 'static {
    /// Deletes every profile row of `subjects`; `Ok` once the server accepted it.
    fn erase_profiles(
        &self,
        subjects: &[Subject],
    ) -> impl Future<Output = Result<(), WriteError>> + Send;
}

/// [`ProfileEraser`] on ClickHouse: one delete per batch of subjects.
#[derive(Clone)]
pub struct ClickHouseEraser {
    client: Client,
    database: String,
    features: ServerFeatures,
    timeout: Duration,
}

impl ClickHouseEraser {
    /// An eraser for `database` on the server `client` talks to (no database selected).
    #[must_use]
    pub fn new(
        client: Client,
        database: &str,
        features: ServerFeatures,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            database: database.to_owned(),
            features,
            timeout,
        }
    }
}

impl ProfileEraser for ClickHouseEraser {
    async fn erase_profiles(&self, subjects: &[Subject]) -> Result<(), WriteError> {
        if subjects.is_empty() {
            return Ok(());
        }
        let tuples = vec!["(?, ?)"; subjects.len()].join(", ");
        let predicate = format!("(site_id, visitor_id) IN ({tuples})");
        let sql = render(
            &delete_statement(&self.features, profile_events::NAME, &predicate),
            &self.database,
        );
        let mut query = self.client.query(&sql);
        for subject in subjects {
            query = query
                .bind(subject.site_id.as_str())
                .bind(subject.visitor_id.as_str());
        }
        match tokio::time::timeout(self.timeout, query.execute()).await {
            Ok(Ok(())) => {
                ::metrics::counter!(metrics::PROFILES_ERASED).increment(subjects.len() as u64);
                tracing::info!(
                    subjects = subjects.len(),
                    "profiles erased after consent withdrawal"
                );
                Ok(())
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_elapsed) => Err(WriteError::Timeout(self.timeout)),
        }
    }
}

/// Records the subjects it was asked to erase, for unit tests.
#[derive(Debug, Default)]
pub struct MemoryEraser {
    erased: Mutex<Vec<Subject>>,
}

impl MemoryEraser {
    /// Every subject erased so far, in order.
    ///
    /// # Panics
    /// If a test thread panicked while erasing.
    #[must_use]
    pub fn erased(&self) -> Vec<Subject> {
        self.erased.lock().expect("not poisoned").clone()
    }
}

impl ProfileEraser for MemoryEraser {
    async fn erase_profiles(&self, subjects: &[Subject]) -> Result<(), WriteError> {
        self.erased
            .lock()
            .expect("not poisoned")
            .extend_from_slice(subjects);
        Ok(())
    }
}

/// The `consent_log` writer: inserts through `W`, then erases the profiles
/// the inserted records withdraw.
#[derive(Clone)]
pub struct ErasingWriter<W, E> {
    inner: W,
    eraser: E,
}

impl<W, E> ErasingWriter<W, E> {
    /// `inner` for the rows, `eraser` for the profiles.
    pub fn new(inner: W, eraser: E) -> Self {
        Self { inner, eraser }
    }

    /// The profile eraser (tests inspect the in-memory one).
    pub fn eraser(&self) -> &E {
        &self.eraser
    }
}

impl<W: RowWriter<ConsentRow>, E: ProfileEraser> RowWriter<ConsentRow> for ErasingWriter<W, E> {
    /// The rows for `W`, and the subjects they withdraw.
    type Prepared = (W::Prepared, Vec<Subject>);

    fn prepare(rows: impl Iterator<Item = ConsentRow>) -> Self::Prepared {
        let mut withdrawn = BTreeSet::new();
        let rows = W::prepare(rows.inspect(|row| withdrawn.extend(withdrawal(row))));
        (rows, withdrawn.into_iter().collect())
    }

    async fn write(
        &self,
        (rows, withdrawn): &Self::Prepared,
        token: &str,
    ) -> Result<u64, WriteError> {
        let written = self.inner.write(rows, token).await?;
        self.eraser.erase_profiles(withdrawn).await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;
    use uuid::Uuid;

    use super::*;
    use crate::writer::memory::MemoryWriter;

    fn row(subject: &str, action: &str, personalization: u8) -> ConsentRow {
        let yesterday = u32::try_from(midnight_days_ago_ms(1) / 1000).unwrap();
        ConsentRow {
            record_id: Uuid::now_v7(),
            site_id: "shop".into(),
            subject: subject.into(),
            action: action.into(),
            measurement: 1,
            personalization,
            functional: 0,
            contextual: 0,
            source: "tag:api".into(),
            notice_version: String::new(),
            notice_hash: String::new(),
            tcf: String::new(),
            gpp: String::new(),
            gpc: 0,
            dnt: 0,
            client_time: yesterday,
            server_time: yesterday,
            server_ms: 0,
            ip_prefix: String::new(),
            browser_family: String::new(),
            expires_at: 0,
            user_key: String::new(),
            retention_months: 0,
        }
    }

    #[test]
    fn only_a_change_of_mind_that_leaves_personalization_off_ends_a_profile() {
        let rows = [
            row("a", "withdraw", 0),
            row("b", "update", 0),
            row("c", "object", 0),
            row("d", "erase", 0),
            row("e", "deny", 0),
            row("f", "grant", 1),
            row("g", "update", 1),
            row("", "withdraw", 0),
            row("a", "erase", 0),
        ];
        let subjects: BTreeSet<String> = rows
            .iter()
            .filter_map(withdrawal)
            .map(|s| s.visitor_id)
            .collect();
        assert_eq!(
            subjects,
            BTreeSet::from(["a", "b", "c", "d"].map(String::from))
        );
    }

    #[tokio::test]
    async fn records_are_stored_before_the_profiles_they_withdraw_are_erased() {
        let writer = ErasingWriter::new(MemoryWriter::default(), MemoryEraser::default());
        writer.inner.set_down(true);
        let rows = ErasingWriter::<MemoryWriter<ConsentRow>, MemoryEraser>::prepare(
            [row("a", "withdraw", 0), row("b", "grant", 1)].into_iter(),
        );
        assert!(writer.write(&rows, "").await.is_err());
        assert!(
            writer.eraser().erased().is_empty(),
            "nothing erased before the insert"
        );
        writer.inner.set_down(false);
        assert_eq!(writer.write(&rows, "").await.unwrap(), 2);
        assert_eq!(writer.inner.rows().len(), 2);
        assert_eq!(
            writer.eraser().erased(),
            [Subject {
                site_id: "shop".into(),
                visitor_id: "a".into()
            }]
        );
    }
}
