//! The statements of an erasure on one database, shared by the workflow
//! ([`super::workflow`]) and the sweep ([`super::sweep`]): count a
//! subject's rows, delete them (pseudonymise consent records), and look
//! for unfinished mutations.

use clickhouse::Client;
use fiducia_proto::privacy::{HOLDERS, Holder, OnErasure};

use super::subject::{Subject, pseudonymise_statement, user_key_sql};
use super::workflow::WorkflowError;
use crate::columns::Columns as _;
use crate::jobs::delete_statement;
use crate::schema::{ServerFeatures, render};
use crate::tables::consent_log::ConsentRow;
use crate::tables::{events, privacy_requests};

/// Rows per table.
pub type Counts = Vec<(&'static str, u64)>;

/// Runs an erasure's statements against one database.
#[derive(Clone)]
pub struct Statements {
    client: Client,
    database: String,
    features: ServerFeatures,
}

impl Statements {
    /// For `database` on the server `client` talks to (no database selected).
    #[must_use]
    pub fn new(client: Client, database: &str, features: ServerFeatures) -> Self {
        Self {
            client,
            database: database.to_owned(),
            features,
        }
    }

    /// The client, selecting no database.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The database the statements run in.
    #[must_use]
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The visitor ids that carried a user id of `user_key` on `site`.
    pub(super) async fn carried(
        &self,
        site: &str,
        user_key: &str,
    ) -> Result<Vec<String>, WorkflowError> {
        Ok(self
            .client
            .query(&render(
                &format!(
                    "SELECT DISTINCT visitor_id FROM {{db}}.events WHERE site_id = ? \
                     AND visitor_id != '' AND user_id != '' AND {} = ? ORDER BY visitor_id",
                    user_key_sql("user_id")
                ),
                &self.database,
            ))
            .bind(site)
            .bind(user_key)
            .fetch_all()
            .await?)
    }

    /// Rows of `table` matching `predicate`.
    pub(super) async fn count_where(
        &self,
        table: &str,
        predicate: &str,
    ) -> Result<u64, WorkflowError> {
        Ok(self
            .client
            .query_raw(&render(
                &format!("SELECT count() FROM {{db}}.`{table}` WHERE {predicate}"),
                &self.database,
            ))
            .fetch_one()
            .await?)
    }

    /// The subject's rows in each table the erasure changes.
    pub(super) async fn count(&self, subject: &Subject) -> Result<Counts, WorkflowError> {
        let mut counts = Vec::new();
        for holder in changed_holders() {
            let rows = match subject.predicate(holder) {
                Some(predicate) => self.count_where(holder.name, &predicate).await?,
                None => 0,
            };
            counts.push((holder.name, rows));
        }
        Ok(counts)
    }

    /// Runs `sql` (`{db}` unrendered).
    pub(super) async fn execute(&self, sql: &str) -> Result<(), WorkflowError> {
        self.client
            .query_raw(&render(sql, &self.database))
            .execute()
            .await?;
        Ok(())
    }

    /// Issues the deletion in `holder` (the pseudonymising copy first for
    /// consent records).
    pub(super) async fn delete_in(
        &self,
        holder: &Holder,
        predicate: &str,
    ) -> Result<(), WorkflowError> {
        if holder.on_erasure == OnErasure::Pseudonymise {
            self.execute(&pseudonymise_statement(
                holder.name,
                ConsentRow::COLUMNS,
                holder.visitor_column,
                &["ip_prefix", "browser_family"],
                predicate,
            ))
            .await?;
        }
        self.execute(&delete_statement(&self.features, holder.name, predicate))
            .await
    }

    /// Issues every deletion.
    pub(super) async fn delete(&self, subject: &Subject) -> Result<(), WorkflowError> {
        for holder in changed_holders() {
            if let Some(predicate) = subject.predicate(holder) {
                self.delete_in(holder, &predicate).await?;
            }
        }
        Ok(())
    }

    /// Unfinished mutations of `table`.
    pub(super) async fn mutations_pending(&self, table: &str) -> Result<u64, WorkflowError> {
        Ok(self
            .client
            .query(
                "SELECT count() FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0",
            )
            .bind(self.database.as_str())
            .bind(self.features.local_table(table))
            .fetch_one()
            .await?)
    }
}

/// The tables an erasure changes, in the order it changes them: `events`
/// last, as the visitors of a user key are resolved from it.
pub(super) fn changed_holders() -> impl Iterator<Item = &'static Holder> {
    let changed = |h: &&Holder| matches!(h.on_erasure, OnErasure::Delete | OnErasure::Pseudonymise);
    HOLDERS
        .iter()
        .filter(changed)
        .filter(|h| h.name != events::NAME)
        .chain(
            HOLDERS
                .iter()
                .filter(changed)
                .filter(|h| h.name == events::NAME),
        )
}

/// Where a count of the subject's rows must be zero: every table and view
/// except the request audit itself (for `consent_log`, rows still naming
/// the subject rather than its pseudonym).
pub(super) fn verified_holders() -> impl Iterator<Item = &'static Holder> {
    HOLDERS
        .iter()
        .filter(|h| h.on_erasure != OnErasure::Keep && h.name != privacy_requests::NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_deleted_last_and_the_audit_is_kept() {
        let changed: Vec<&str> = changed_holders().map(|h| h.name).collect();
        assert_eq!(changed.last(), Some(&"events"));
        assert!(changed.contains(&"profile_events") && changed.contains(&"consent_log"));
        assert!(!changed.contains(&"privacy_requests") && !changed.contains(&"sessions"));
        let verified: Vec<&str> = verified_holders().map(|h| h.name).collect();
        for table in [
            "events",
            "sessions",
            "profile_events",
            "profiles",
            "consent_log",
        ] {
            assert!(verified.contains(&table), "{table}");
        }
        assert!(!verified.contains(&"privacy_requests"));
    }
}
