//! Retention per data type (`deploy/clickhouse/README.md`). On servers with TTL the sink
//! sets table TTLs that encode the configured periods, per site, at
//! start-up ([`ttl_statements`]; a metadata change, so it is cheap to repeat),
//! and ClickHouse drops expired rows as it merges. On every server, and on
//! ClickHouse 18.16 as the only means, a job the sink runs on a schedule
//! deletes expired rows itself; on TTL servers it is the backstop for parts
//! written before a TTL change.
//!
//! Periods are in months (days for dead letters), with defaults for every
//! site and overrides per site. Each run counts the expired rows of each data type and scope, then
//! deletes exactly those (same predicate, same cut-off), and reports the
//! count in `fiducia_sink_retention_rows_deleted_total`. Consent records are
//! never deleted: they are the proof of consent. A visitor's own, shorter
//! choice for their identified data is applied by the job too
//! ([`chosen`]).

mod chosen;
mod config;

use std::collections::BTreeMap;

use clickhouse::Client;
use tokio_util::sync::CancellationToken;

pub use self::chosen::{ChoicePlan, LATEST_CHOICES, choice_plans};
pub use self::config::{Periods, RetentionConfig, RetentionSection, site_periods};
use crate::jobs::privacy::{self, statements::Statements};
use crate::jobs::{delete_statement, profile_sweep, quote};
use crate::metrics;
use crate::schema::{SchemaError, ServerFeatures, render};
use crate::tables::{dead_letters, events, profile_events};

/// What a retention period applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataType {
    /// `events` rows that keep a visitor or user id.
    IdentifiedEvents,
    /// `events` rows with neither.
    AnonymousEvents,
    /// `profile_events` rows (a visitor inactive for the period has no profile left).
    Profiles,
    /// `dead_letters` rows.
    DeadLetters,
}

impl DataType {
    /// Every data type, in the order a run handles them.
    pub const ALL: [Self; 4] = [
        Self::IdentifiedEvents,
        Self::AnonymousEvents,
        Self::Profiles,
        Self::DeadLetters,
    ];

    /// The name in configuration and in the `data_type` metric label.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::IdentifiedEvents => "identified_events",
            Self::AnonymousEvents => "anonymous_events",
            Self::Profiles => "profiles",
            Self::DeadLetters => "dead_letters",
        }
    }

    /// The unit of its periods, as in ClickHouse's `addMonths`/`addDays`.
    #[must_use]
    pub fn unit(self) -> &'static str {
        match self {
            Self::DeadLetters => "Days",
            _ => "Months",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::IdentifiedEvents | Self::AnonymousEvents => events::NAME,
            Self::Profiles => profile_events::NAME,
            Self::DeadLetters => dead_letters::NAME,
        }
    }

    /// The column a period counts from.
    fn time_column(self) -> &'static str {
        match self {
            Self::DeadLetters => "failed_at",
            _ => "event_time",
        }
    }

    /// Which rows of the table are of this type.
    fn predicate(self) -> &'static str {
        match self {
            Self::IdentifiedEvents => "(visitor_id != '' OR user_id != '')",
            Self::AnonymousEvents => "visitor_id = '' AND user_id = ''",
            Self::Profiles | Self::DeadLetters => "1",
        }
    }
}

/// One deletion a run makes: a data type, the sites it covers and its period.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    data_type: DataType,
    /// `Ok(site)` for an override; `Err(overridden)` for every other site.
    scope: Result<String, Vec<String>>,
    /// In the data type's unit.
    length: u32,
}

fn plans(config: &RetentionConfig) -> Vec<Plan> {
    let overridden: Vec<String> = config.sites.keys().cloned().collect();
    DataType::ALL
        .into_iter()
        .flat_map(|data_type| {
            let sites = config.sites.iter().map(move |(site, periods)| Plan {
                data_type,
                scope: Ok(site.clone()),
                length: periods.length(data_type),
            });
            std::iter::once(Plan {
                data_type,
                scope: Err(overridden.clone()),
                length: config.defaults.length(data_type),
            })
            .chain(sites)
        })
        .collect()
}

/// The period of `data_type` as an expression over `site_id`.
fn length_expression(config: &RetentionConfig, data_type: DataType) -> String {
    let default = config.defaults.length(data_type);
    let overrides: Vec<String> = config
        .sites
        .iter()
        .filter(|(_, periods)| periods.length(data_type) != default)
        .map(|(site, periods)| format!("site_id = {}, {}", quote(site), periods.length(data_type)))
        .collect();
    if overrides.is_empty() {
        default.to_string()
    } else {
        format!("multiIf({}, {default})", overrides.join(", "))
    }
}

/// The `ALTER TABLE ... MODIFY TTL` statements that make ClickHouse enforce
/// `config` itself, one per table, for servers with TTL (`{db}` unrendered).
#[must_use]
pub fn ttl_statements(config: &RetentionConfig) -> Vec<String> {
    let rule = |data_type: DataType| {
        format!(
            "add{}({}, {}) WHERE {}",
            data_type.unit(),
            data_type.time_column(),
            length_expression(config, data_type),
            data_type.predicate()
        )
    };
    vec![
        format!(
            "ALTER TABLE {{db}}.{} MODIFY TTL {}, {}",
            events::NAME,
            rule(DataType::IdentifiedEvents),
            rule(DataType::AnonymousEvents)
        ),
        format!(
            "ALTER TABLE {{db}}.{} MODIFY TTL {}",
            profile_events::NAME,
            rule(DataType::Profiles)
        ),
        format!(
            "ALTER TABLE {{db}}.{} MODIFY TTL {}",
            dead_letters::NAME,
            rule(DataType::DeadLetters)
        ),
    ]
}

/// Runs retention against one database.
#[derive(Clone)]
pub struct RetentionJob {
    client: Client,
    database: String,
    features: ServerFeatures,
    config: RetentionConfig,
}

impl RetentionJob {
    /// A job for `database` on the server `client` talks to (no database selected).
    #[must_use]
    pub fn new(
        client: Client,
        database: &str,
        features: ServerFeatures,
        config: RetentionConfig,
    ) -> Self {
        Self {
            client,
            database: database.to_owned(),
            features,
            config,
        }
    }

    /// Deletes what expired as of `now` (Unix seconds) and returns the rows
    /// deleted per data type.
    ///
    /// # Errors
    /// When a count or a delete fails; what ran before stays deleted.
    pub async fn run_once(&self, now: u32) -> Result<BTreeMap<DataType, u64>, SchemaError> {
        let mut deleted = BTreeMap::new();
        for plan in plans(&self.config) {
            let rows = self.apply(&plan, now).await?;
            ::metrics::counter!(metrics::RETENTION_ROWS_DELETED, "data_type" => plan.data_type.name())
                .increment(rows);
            *deleted.entry(plan.data_type).or_insert(0) += rows;
        }
        let choices: Vec<(String, String, u8)> = self
            .client
            .query_raw(&render(LATEST_CHOICES, &self.database))
            .fetch_all()
            .await?;
        for plan in choice_plans(&self.config, &choices) {
            let rows = self
                .delete_counted(plan.data_type.table(), &plan.predicate(now), &[])
                .await?;
            if rows > 0 {
                tracing::info!(
                    data_type = plan.data_type.name(),
                    site = %plan.site,
                    period = plan.months,
                    visitors = plan.visitors.len(),
                    rows,
                    "rows past the retention their visitors chose deleted"
                );
            }
            ::metrics::counter!(metrics::RETENTION_ROWS_DELETED, "data_type" => plan.data_type.name())
                .increment(rows);
            *deleted.entry(plan.data_type).or_insert(0) += rows;
        }
        Ok(deleted)
    }

    /// Counts the rows of `table` matching `predicate`, deletes them when
    /// there are any, and returns the count. `binds` are the predicate's
    /// `?` parameters; without any, it is sent as written (its literals
    /// may hold a `?`).
    async fn delete_counted(
        &self,
        table: &str,
        predicate: &str,
        binds: &[&str],
    ) -> Result<u64, SchemaError> {
        let query = |sql: &str| {
            let sql = render(sql, &self.database);
            if binds.is_empty() {
                return self.client.query_raw(&sql);
            }
            binds
                .iter()
                .fold(self.client.query(&sql), |query, value| query.bind(*value))
        };
        let count: u64 = query(&format!(
            "SELECT count() FROM {{db}}.`{table}` WHERE {predicate}"
        ))
        .fetch_one()
        .await?;
        if count > 0 {
            query(&delete_statement(&self.features, table, predicate))
                .execute()
                .await?;
        }
        Ok(count)
    }

    /// [`Self::run_once`], then the sweeps: profiles of withdrawn visitors
    /// ([`profile_sweep::sweep`]), rows of erased subjects that arrived
    /// after their erasure ([`privacy::sweep::sweep`]).
    async fn run_once_and_sweep(
        &self,
        now: u32,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.run_once(now).await?;
        profile_sweep::sweep(&self.client, &self.database, &self.features).await?;
        let statements =
            Statements::new(self.client.clone(), &self.database, self.features.clone());
        privacy::sweep::sweep(&statements).await?;
        Ok(())
    }

    async fn apply(&self, plan: &Plan, now: u32) -> Result<u64, SchemaError> {
        let scope = match &plan.scope {
            Ok(_) => "site_id = ?".to_owned(),
            Err(others) if others.is_empty() => "1".to_owned(),
            Err(others) => format!("site_id NOT IN ({})", vec!["?"; others.len()].join(", ")),
        };
        let predicate = format!(
            "{scope} AND {} AND {} < subtract{}(toDateTime({now}, 'UTC'), {})",
            plan.data_type.predicate(),
            plan.data_type.time_column(),
            plan.data_type.unit(),
            plan.length
        );
        let table = plan.data_type.table();
        let binds: Vec<&str> = match &plan.scope {
            Ok(site) => vec![site.as_str()],
            Err(others) => others.iter().map(String::as_str).collect(),
        };
        let count = self.delete_counted(table, &predicate, &binds).await?;
        if count > 0 {
            tracing::info!(
                data_type = plan.data_type.name(),
                site = plan.scope.as_ref().map_or("*", String::as_str),
                period = plan.length,
                unit = plan.data_type.unit(),
                rows = count,
                "expired rows deleted"
            );
        }
        Ok(count)
    }

    /// Sets the table TTLs of [`ttl_statements`] where the server has TTL;
    /// does nothing elsewhere. Existing parts are not rewritten
    /// (`materialize_ttl_after_modify = 0`): the job expires them.
    ///
    /// # Errors
    /// When the server refuses a statement.
    pub async fn apply_ttl(&self) -> Result<bool, SchemaError> {
        if !self.features.ttl() {
            return Ok(false);
        }
        for sql in ttl_statements(&self.config)
            .iter()
            .flat_map(|sql| self.features.statements(sql))
        {
            self.client
                .query_raw(&render(&sql, &self.database))
                .with_setting("materialize_ttl_after_modify", "0")
                .execute()
                .await?;
        }
        Ok(true)
    }

    /// Sets the TTLs (where the server has them), then runs now and every
    /// interval until `shutdown`; failures are logged and counted, and the
    /// next run tries again.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) {
        let mut ttl_set = false;
        loop {
            if !ttl_set {
                let applied = tokio::select! {
                    applied = self.apply_ttl() => applied,
                    () = shutdown.cancelled() => return,
                };
                match applied {
                    Ok(applied) => {
                        ttl_set = true;
                        if applied {
                            tracing::info!(database = %self.database, "retention TTLs set");
                        }
                    }
                    Err(error) => {
                        ::metrics::counter!(metrics::RETENTION_ERRORS).increment(1);
                        tracing::warn!(%error, "setting retention TTLs failed; retrying next run");
                    }
                }
            }
            let now = u32::try_from(fiducia_proto::time::now_ms() / 1000).unwrap_or(u32::MAX);
            ::metrics::counter!(metrics::RETENTION_RUNS).increment(1);
            // Stopping mid-run is safe: a run only deletes what expired, and
            // the next sink's run finishes the job.
            let result = tokio::select! {
                result = self.run_once_and_sweep(now) => result,
                () = shutdown.cancelled() => return,
            };
            match result {
                Ok(_) => ::metrics::gauge!(metrics::RETENTION_LAST_SUCCESS).set(f64::from(now)),
                Err(error) => {
                    ::metrics::counter!(metrics::RETENTION_ERRORS).increment(1);
                    tracing::warn!(%error, "retention run failed; the next run tries again");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.interval) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
