//! Carrying out one privacy request on ClickHouse, state by state (see
//! [`super::request`]), each state recorded as a `privacy_requests` row
//! once it holds:
//!
//! 1. `received`: the workflow has it.
//! 2. `enforced`: this sink's deny-list holds the subject (the follower of
//!    the privacy topic applied it) and the [`Barrier`] was passed, so no
//!    insert of the subject can happen any more. The subject is resolved
//!    (for a request by user key: the visitor ids that carried that user
//!    id) and its rows counted per table; the row records the counts.
//! 3. `deleted`: a delete per table of `HOLDERS` with
//!    [`OnErasure::Delete`] (`events` last: it is where a user key's
//!    visitors are resolved from), consent records pseudonymised (copied
//!    with a pseudonym as subject, then the originals deleted).
//! 4. `verified`: a count of the subject's rows is zero in every table and
//!    view (`Delete`, `Follows`) and no consent record names it. On 18.16 a
//!    delete is a mutation that finishes in the background: the count is
//!    repeated until it is zero, and a delete is issued again when rows are
//!    left once the table has no unfinished mutation (a row inserted
//!    between, which the barrier should make impossible).
//!
//! Safe to repeat from any point (a redelivered request, a sink killed
//! mid-way): states already written are skipped, deletes and the
//! pseudonymising copy are idempotent (copies collapse on their sorting
//! key), and the counts of a second run come from the `enforced` row.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::Client;
use fiducia_proto::privacy::{HOLDERS, OnErasure};
use fiducia_proto::time::now_ms;
use fiducia_runtime::erased::Erased;
use tokio_util::sync::CancellationToken;

use super::request::{Kind, Request, State, remaining};
use super::statements::{Counts, Statements, verified_holders};
use super::subject::Subject;
use crate::deny::Barrier;
use crate::metrics;
use crate::schema::{ServerFeatures, render};

/// Why a request could not be carried through now; the batch is retried.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// ClickHouse refused a statement or could not be reached.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The deny-list follower has not applied the request in time.
    #[error("the deny-list has not applied the request after {0:?}")]
    NotDenied(Duration),
    /// Rows of the subject were still there at the deadline.
    #[error("rows of the subject still in {table} after {waited:?}")]
    NotVerified {
        /// The first table still holding rows.
        table: &'static str,
        /// How long verification waited.
        waited: Duration,
    },
    /// The sink is stopping.
    #[error("shut down mid-request")]
    Shutdown,
}

/// How long the workflow waits, and how often it looks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long to wait for the deny-list to apply a request.
    pub deny_wait: Duration,
    /// How long to wait for the deletes to show (mutations on 18.16).
    pub verify_wait: Duration,
    /// How often to look again.
    pub poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            deny_wait: Duration::from_secs(60),
            verify_wait: Duration::from_secs(600),
            poll: Duration::from_millis(100),
        }
    }
}

/// What the workflow reads back of a state row.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct StateRow {
    status: String,
    tables: Vec<String>,
    rows: Vec<u64>,
}

/// The workflow on one database.
#[derive(Clone)]
pub struct Workflow {
    client: Client,
    database: String,
    sql: Statements,
    erased: Arc<Erased>,
    barrier: Arc<Barrier>,
    timing: Timing,
}

impl Workflow {
    /// A workflow for `database` on the server `client` talks to (no
    /// database selected), enforcing through `erased` and `barrier` (the
    /// deny filter's).
    #[must_use]
    pub fn new(
        client: Client,
        database: &str,
        features: ServerFeatures,
        erased: Arc<Erased>,
        barrier: Arc<Barrier>,
        timing: Timing,
    ) -> Self {
        Self {
            sql: Statements::new(client.clone(), database, features),
            client,
            database: database.to_owned(),
            erased,
            barrier,
            timing,
        }
    }

    /// Takes `request` through its remaining states.
    ///
    /// # Errors
    /// When ClickHouse fails, a wait runs out or `shutdown` is cancelled;
    /// the request is then taken up again from where it stopped.
    pub async fn run(
        &self,
        request: &Request,
        shutdown: &CancellationToken,
    ) -> Result<(), WorkflowError> {
        let reached = self.reached(request).await?;
        let todo = remaining(
            request.kind,
            &reached.iter().map(|r| r.0).collect::<Vec<_>>(),
        );
        if todo.is_empty() {
            return Ok(());
        }
        if request.kind == Kind::Access {
            return self.record(request, State::Completed, &[], "").await;
        }
        if todo.contains(&State::Received) {
            self.record(request, State::Received, &[], "").await?;
        }
        self.wait_denied(request, shutdown).await?;
        self.barrier.pass().await;
        let subject = self.resolve(request).await?;
        let detail = if subject.user_keys.is_empty() {
            String::new()
        } else {
            format!(
                "visitor ids resolved from the user key: {}",
                subject.visitors.len()
            )
        };
        let counts = match reached.iter().find(|r| r.0 == State::Enforced) {
            Some((_, counts)) => counts.clone(),
            None => {
                let counts = self.sql.count(&subject).await?;
                self.record(request, State::Enforced, &counts, &detail)
                    .await?;
                counts
            }
        };
        if todo.contains(&State::Deleted) {
            self.sql.delete(&subject).await?;
            self.record(request, State::Deleted, &counts, &detail)
                .await?;
            for (table, rows) in &counts {
                ::metrics::counter!(metrics::ERASURE_ROWS_DELETED, "table" => *table)
                    .increment(*rows);
            }
        }
        self.verify(&subject, shutdown).await?;
        self.record(request, State::Verified, &[], "").await
    }

    /// The states `request` already has rows for, with their counts.
    async fn reached(&self, request: &Request) -> Result<Vec<(State, Counts)>, WorkflowError> {
        let rows: Vec<StateRow> = self
            .client
            .query(&render(
                "SELECT status, tables, rows FROM {db}.privacy_requests \
                 WHERE site_id = ? AND toString(request_id) = ?",
                &self.database,
            ))
            .bind(request.message.site_id.as_str())
            .bind(request.id.to_string())
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(
                |StateRow {
                     status,
                     tables,
                     rows,
                 }| {
                    let counts = tables
                        .iter()
                        .filter_map(|t| known_table(t))
                        .zip(rows)
                        .collect();
                    Some((State::parse(&status)?, counts))
                },
            )
            .collect())
    }

    /// Writes the row of `state`.
    async fn record(
        &self,
        request: &Request,
        state: State,
        counts: &[(&'static str, u64)],
        detail: &str,
    ) -> Result<(), WorkflowError> {
        let now = now_ms();
        let requested = if request.message.requested_at_ms > 0 {
            request.message.requested_at_ms
        } else {
            now
        };
        let (requested_s, requested_ms) = split(requested);
        let (updated_s, updated_ms) = split(now);
        let message = &request.message;
        let tables: Vec<&str> = counts.iter().map(|c| c.0).collect();
        let rows: Vec<u64> = counts.iter().map(|c| c.1).collect();
        self.client
            .query(&render(
                "INSERT INTO {db}.privacy_requests (request_id, site_id, subject, user_key, kind, \
                 channel, status, requested_at, requested_ms, updated_at, updated_ms, tables, rows, detail) \
                 SELECT toUUID(?), ?, ?, ?, ?, ?, ?, toDateTime(?, 'UTC'), ?, toDateTime(?, 'UTC'), ?, \
                 CAST(? AS Array(String)), CAST(? AS Array(UInt64)), ?",
                &self.database,
            ))
            .bind(request.id.to_string())
            .bind(message.site_id.as_str())
            .bind(message.subject.as_str())
            .bind(message.user_key.as_str())
            .bind(request.kind.name())
            .bind(request.channel())
            .bind(state.name())
            .bind(requested_s)
            .bind(requested_ms)
            .bind(updated_s)
            .bind(updated_ms)
            .bind(tables)
            .bind(rows)
            .bind(detail)
            .execute()
            .await?;
        ::metrics::counter!(metrics::PRIVACY_REQUESTS, "kind" => request.kind.name(), "state" => state.name())
            .increment(1);
        #[allow(clippy::cast_precision_loss)] // milliseconds since a request: far below 2^52
        let seconds = (now - requested).max(0) as f64 / 1000.0;
        ::metrics::histogram!(metrics::PRIVACY_STATE_SECONDS, "kind" => request.kind.name(), "state" => state.name())
            .record(seconds);
        tracing::info!(
            request_id = %request.id,
            site = %message.site_id,
            kind = request.kind.name(),
            state = state.name(),
            seconds,
            "privacy request state reached"
        );
        Ok(())
    }

    /// Waits until the deny-list follower applied `request`.
    async fn wait_denied(
        &self,
        request: &Request,
        shutdown: &CancellationToken,
    ) -> Result<(), WorkflowError> {
        let started = Instant::now();
        while !self.erased.contains(&request.message) {
            if started.elapsed() > self.timing.deny_wait {
                return Err(WorkflowError::NotDenied(self.timing.deny_wait));
            }
            self.pause(shutdown).await?;
        }
        Ok(())
    }

    async fn pause(&self, shutdown: &CancellationToken) -> Result<(), WorkflowError> {
        tokio::select! {
            () = tokio::time::sleep(self.timing.poll) => Ok(()),
            () = shutdown.cancelled() => Err(WorkflowError::Shutdown),
        }
    }

    /// The subject with, for a request by user key, the visitor ids that
    /// carried the user id.
    async fn resolve(&self, request: &Request) -> Result<Subject, WorkflowError> {
        let message = &request.message;
        let mut visitors = Vec::new();
        if !message.subject.is_empty() {
            visitors.push(message.subject.clone());
        }
        let user_keys: Vec<String> = [&message.user_key]
            .into_iter()
            .filter(|key| !key.is_empty())
            .cloned()
            .collect();
        for key in &user_keys {
            for visitor in self.sql.carried(&message.site_id, key).await? {
                if !visitors.contains(&visitor) {
                    visitors.push(visitor);
                }
            }
        }
        Ok(Subject {
            site_id: message.site_id.clone(),
            visitors,
            user_keys,
        })
    }

    /// Waits until no table or view holds a row of the subject, deleting
    /// again where rows are left after every mutation finished.
    async fn verify(
        &self,
        subject: &Subject,
        shutdown: &CancellationToken,
    ) -> Result<(), WorkflowError> {
        let started = Instant::now();
        loop {
            let mut left = None;
            for holder in verified_holders() {
                let Some(predicate) = subject.predicate(holder) else {
                    continue;
                };
                if self.sql.count_where(holder.name, &predicate).await? == 0 {
                    continue;
                }
                left.get_or_insert(holder.name);
                // Counted again once no mutation is pending: the last one
                // may have finished between the count and the look.
                if holder.on_erasure != OnErasure::Follows
                    && self.sql.mutations_pending(holder.name).await? == 0
                    && self.sql.count_where(holder.name, &predicate).await? > 0
                {
                    tracing::warn!(
                        table = holder.name,
                        "rows of an erased subject left; deleting again"
                    );
                    ::metrics::counter!(metrics::ERASURE_REDELETES).increment(1);
                    self.sql.delete_in(holder, &predicate).await?;
                }
            }
            let Some(table) = left else { return Ok(()) };
            if started.elapsed() > self.timing.verify_wait {
                return Err(WorkflowError::NotVerified {
                    table,
                    waited: self.timing.verify_wait,
                });
            }
            self.pause(shutdown).await?;
        }
    }
}

/// The `&'static` name of a table the workflow counts.
fn known_table(name: &str) -> Option<&'static str> {
    HOLDERS.iter().map(|h| h.name).find(|n| *n == name)
}

/// Unix milliseconds as `DateTime` seconds and the millisecond part.
fn split(ms: i64) -> (u32, u16) {
    crate::tables::split_ms("ms", ms).unwrap_or((0, 0))
}
