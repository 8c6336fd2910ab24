//! The schema the sink writes into, brought up to date at start-up before
//! the first message is read: [`ServerFeatures`] says what the server can do,
//! [`migrate`] applies the [`migrations::MIGRATIONS`] not yet recorded in
//! `<db>.schema_migrations`.
//!
//! Safe to run from several sinks at once: every step is idempotent, and a
//! run that loses a race (e.g. two `CREATE TABLE IF NOT EXISTS` at the same
//! instant on an old server) is simply repeated.

pub mod cluster;
pub mod migrations;

use std::collections::BTreeSet;
use std::time::Duration;

use clickhouse::Client;

use self::cluster::Cluster;
use self::migrations::{Migration, Step};

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The server refused a statement or could not be reached.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// `SELECT version()` answered something that is not `major.minor...`.
    #[error("unrecognised server version {0:?}")]
    Version(String),
}

/// What the connected server supports, from `SELECT version()`. Migrations
/// are written for the oldest supported server (18.16); these flags are
/// where newer servers get modern DDL (LowCardinality, TTL, codecs,
/// lightweight deletes, insert dedup tokens) when a migration needs it.
/// With a [`Cluster`], the server is one of a cluster's, and the
/// statements that change tables run across it ([`Self::statements`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFeatures {
    /// The version string as reported, e.g. `18.16.1`.
    pub version: String,
    /// Its first component.
    pub major: u32,
    /// Its second component.
    pub minor: u32,
    /// The cluster the sink's tables span; `None` on a single server.
    pub cluster: Option<Cluster>,
}

impl ServerFeatures {
    /// Asks the server.
    ///
    /// # Errors
    /// When the server cannot be reached or reports an unparsable version.
    pub async fn probe(client: &Client) -> Result<Self, SchemaError> {
        let version: String = client.query_raw("SELECT version()").fetch_one().await?;
        Self::parse(&version).ok_or(SchemaError::Version(version))
    }

    /// Parses `major.minor[.anything]`.
    #[must_use]
    pub fn parse(version: &str) -> Option<Self> {
        let mut parts = version.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Self {
            version: version.trim().to_owned(),
            major,
            minor,
            cluster: None,
        })
    }

    /// The same server as one of `cluster`'s (or a single one for `None`).
    #[must_use]
    pub fn in_cluster(self, cluster: Option<Cluster>) -> Self {
        Self { cluster, ..self }
    }

    /// `sql` (`{db}` unrendered) as it runs here: itself on a single
    /// server, rewritten by [`Cluster::statements`] in a cluster.
    #[must_use]
    pub fn statements(&self, sql: &str) -> Vec<String> {
        match &self.cluster {
            None => vec![sql.to_owned()],
            Some(cluster) if self.replicated_comments() => cluster.statements(sql),
            Some(cluster) => cluster
                .statements(sql)
                .iter()
                .map(|sql| cluster::without_comments(sql))
                .collect(),
        }
    }

    /// Column comments on `Replicated*` tables: 18.16 refuses its own
    /// table ("Table structure in ZooKeeper is too different from local
    /// table structure", seen here), so cluster mode leaves them out there.
    #[must_use]
    pub fn replicated_comments(&self) -> bool {
        self.at_least(19, 1)
    }

    /// Where `table`'s rows are stored on this server (for
    /// `system.mutations` and `system.columns`).
    #[must_use]
    pub fn local_table(&self, table: &str) -> String {
        match &self.cluster {
            None => table.to_owned(),
            Some(_) => Cluster::local(table),
        }
    }

    /// Whether the server is `major.minor` or newer.
    #[must_use]
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// `LowCardinality(T)` without the experimental setting (19.x on; 18.16
    /// needs `allow_experimental_low_cardinality_type`).
    #[must_use]
    pub fn low_cardinality(&self) -> bool {
        self.at_least(19, 1)
    }

    /// Column compression codecs (`CODEC(...)`).
    #[must_use]
    pub fn codecs(&self) -> bool {
        self.at_least(19, 1)
    }

    /// Table and column `TTL`, so retention needs no mutation job.
    #[must_use]
    pub fn ttl(&self) -> bool {
        self.at_least(19, 6)
    }

    /// `DateTime64(3)`, so event times need no separate millisecond column.
    #[must_use]
    pub fn datetime64(&self) -> bool {
        self.at_least(20, 1)
    }

    /// `insert_deduplication_token`, for insert-level dedup of retried batches.
    #[must_use]
    pub fn insert_dedup_token(&self) -> bool {
        self.at_least(22, 2)
    }

    /// Lightweight `DELETE FROM`, so erasure needs no `ALTER ... DELETE` mutation.
    #[must_use]
    pub fn lightweight_delete(&self) -> bool {
        self.at_least(23, 3)
    }
}

impl std::fmt::Display for ServerFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (low_cardinality={}, codecs={}, ttl={}, datetime64={}, insert_dedup_token={}, lightweight_delete={})",
            self.version,
            self.low_cardinality(),
            self.codecs(),
            self.ttl(),
            self.datetime64(),
            self.insert_dedup_token(),
            self.lightweight_delete(),
        )
    }
}

/// A capability a migration step can require ([`migrations::Step::If`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// [`ServerFeatures::low_cardinality`].
    LowCardinality,
    /// [`ServerFeatures::codecs`].
    Codecs,
    /// [`ServerFeatures::ttl`].
    Ttl,
    /// [`ServerFeatures::insert_dedup_token`].
    InsertDedupToken,
}

impl ServerFeatures {
    /// Whether the server has `feature`.
    #[must_use]
    pub fn has(&self, feature: Feature) -> bool {
        match feature {
            Feature::LowCardinality => self.low_cardinality(),
            Feature::Codecs => self.codecs(),
            Feature::Ttl => self.ttl(),
            Feature::InsertDedupToken => self.insert_dedup_token(),
        }
    }

    /// `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` (absent from 18.16).
    #[must_use]
    pub fn add_column_if_not_exists(&self) -> bool {
        self.at_least(19, 1)
    }
}

/// The statements `history` runs on an empty database of a server with
/// `features`, in order: what `deploy/clickhouse/test_chdb.py` replays on a
/// current engine. Columns are added with `ADD COLUMN IF NOT EXISTS` where
/// the server has it, else with a plain `ADD COLUMN` (the database is empty;
/// [`migrate`] checks `system.columns` first instead).
/// In a cluster, each step is rewritten by [`Cluster::statements`].
#[must_use]
pub fn plan(history: &[Migration], features: &ServerFeatures, database: &str) -> Vec<String> {
    history
        .iter()
        .flat_map(|m| m.steps)
        .filter_map(|step| match *step {
            Step::Sql(sql) => Some(sql.to_owned()),
            Step::If { feature, sql } => features.has(feature).then(|| sql.to_owned()),
            Step::AddColumn {
                table,
                column,
                definition,
            } => {
                let guard = if features.add_column_if_not_exists() {
                    "IF NOT EXISTS "
                } else {
                    ""
                };
                Some(format!(
                    "ALTER TABLE {{db}}.`{table}` ADD COLUMN {guard}`{column}` {definition}"
                ))
            }
        })
        .flat_map(|sql| features.statements(&sql))
        .map(|sql| render(&sql, database))
        .collect()
}

/// How often a migration run that lost a race is repeated before start-up fails.
const ATTEMPTS: u32 = 5;

/// Applies [`migrations::MIGRATIONS`] to `database`; see [`migrate_with`].
///
/// # Errors
/// When a statement keeps failing.
pub async fn migrate(client: &Client, database: &str) -> Result<Vec<u32>, SchemaError> {
    migrate_with(client, database, migrations::MIGRATIONS).await
}

/// Applies [`migrations::MIGRATIONS`] to `database` on a single server
/// (`cluster` `None`) or across `cluster`; see [`migrate_with`].
///
/// # Errors
/// When a statement keeps failing.
pub async fn migrate_in(
    client: &Client,
    database: &str,
    cluster: Option<&Cluster>,
) -> Result<Vec<u32>, SchemaError> {
    migrate_history(client, database, cluster, migrations::MIGRATIONS).await
}

/// Applies the migrations of `history` not yet recorded in
/// `<database>.schema_migrations`, in order, and returns the versions this
/// call applied. `client` must not select a database (it may not exist yet).
///
/// # Errors
/// When a statement still fails after a few attempts.
pub async fn migrate_with(
    client: &Client,
    database: &str,
    history: &[Migration],
) -> Result<Vec<u32>, SchemaError> {
    migrate_history(client, database, None, history).await
}

/// [`migrate_with`], across `cluster` when there is one
/// ([`Cluster::statements`]).
async fn migrate_history(
    client: &Client,
    database: &str,
    cluster: Option<&Cluster>,
    history: &[Migration],
) -> Result<Vec<u32>, SchemaError> {
    let mut attempt = 1;
    loop {
        match migrate_once(client, database, cluster, history).await {
            Ok(applied) => return Ok(applied),
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, database, "schema migration failed; retrying");
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn migrate_once(
    client: &Client,
    database: &str,
    cluster: Option<&Cluster>,
    history: &[Migration],
) -> Result<Vec<u32>, SchemaError> {
    let features = ServerFeatures::probe(client)
        .await?
        .in_cluster(cluster.cloned());
    let done = applied_versions(client, database).await?;
    let mut applied = Vec::new();
    for migration in history.iter().filter(|m| !done.contains(&m.version)) {
        for step in migration.steps {
            run_step(client, database, &features, step).await?;
        }
        client
            .query(&render(
                "INSERT INTO {db}.schema_migrations (version, name, applied_at) VALUES (?, ?, now())",
                database,
            ))
            .bind(migration.version)
            .bind(migration.name)
            .execute()
            .await?;
        tracing::info!(
            database,
            version = migration.version,
            name = migration.name,
            "schema migration applied"
        );
        applied.push(migration.version);
    }
    Ok(applied)
}

/// Versions recorded in `schema_migrations`; none when it does not exist yet.
async fn applied_versions(client: &Client, database: &str) -> Result<BTreeSet<u32>, SchemaError> {
    let exists: u64 = client
        .query(
            "SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'",
        )
        .bind(database)
        .fetch_one()
        .await?;
    if exists == 0 {
        return Ok(BTreeSet::new());
    }
    let versions: Vec<u32> = client
        .query_raw(&render(
            "SELECT version FROM {db}.schema_migrations GROUP BY version",
            database,
        ))
        .fetch_all()
        .await?;
    Ok(versions.into_iter().collect())
}

async fn run_step(
    client: &Client,
    database: &str,
    features: &ServerFeatures,
    step: &Step,
) -> Result<(), SchemaError> {
    match *step {
        Step::Sql(sql) => execute(client, database, &features.statements(sql)).await?,
        Step::If { feature, sql } => {
            if features.has(feature) {
                execute(client, database, &features.statements(sql)).await?;
            }
        }
        Step::AddColumn {
            table,
            column,
            definition,
        } => {
            // In a cluster: the local table's `ALTER ... ON CLUSTER`, then
            // its `Distributed` table made again, each unless done already.
            let sql = format!("ALTER TABLE {{db}}.`{table}` ADD COLUMN `{column}` {definition}");
            let statements = features.statements(&sql);
            let (alter, redistribute) = statements.split_at(1);
            if !has_column(client, database, &features.local_table(table), column).await? {
                execute(client, database, alter).await?;
            }
            if !redistribute.is_empty() && !has_column(client, database, table, column).await? {
                execute(client, database, redistribute).await?;
            }
        }
    }
    Ok(())
}

/// Runs `statements` (`{db}` unrendered) in order.
async fn execute(
    client: &Client,
    database: &str,
    statements: &[String],
) -> Result<(), SchemaError> {
    for sql in statements {
        client.query_raw(&render(sql, database)).execute().await?;
    }
    Ok(())
}

/// Whether `database.table` has `column` on the server `client` talks to.
async fn has_column(
    client: &Client,
    database: &str,
    table: &str,
    column: &str,
) -> Result<bool, SchemaError> {
    let exists: u64 = client
        .query("SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?")
        .bind(database)
        .bind(table)
        .bind(column)
        .fetch_one()
        .await?;
    Ok(exists > 0)
}

/// `sql` with `{db}` replaced by the back-quoted database name (validated by
/// the config: letters, digits and `_`).
#[must_use]
pub fn render(sql: &str, database: &str) -> String {
    sql.replace("{db}", &format!("`{database}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_what_servers_report() {
        let old = ServerFeatures::parse("18.16.1").unwrap();
        assert_eq!((old.major, old.minor), (18, 16));
        let new = ServerFeatures::parse("23.8.2.7\n").unwrap();
        assert_eq!(
            (new.major, new.minor, new.version.as_str()),
            (23, 8, "23.8.2.7")
        );
        for bad in ["", "18", "x.y", "18.x"] {
            assert_eq!(ServerFeatures::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_old_server_gets_none_of_the_modern_ddl() {
        let old = ServerFeatures::parse("18.16.1").unwrap();
        assert!(!old.low_cardinality() && !old.codecs() && !old.ttl() && !old.datetime64());
        assert!(!old.insert_dedup_token() && !old.lightweight_delete());
        let lts = ServerFeatures::parse("23.8.1").unwrap();
        assert!(lts.low_cardinality() && lts.codecs() && lts.ttl() && lts.datetime64());
        assert!(lts.insert_dedup_token() && lts.lightweight_delete());
    }

    #[test]
    fn the_old_server_plan_has_no_modern_storage_and_the_new_one_has_it() {
        let old = ServerFeatures::parse("18.16.1").unwrap();
        let new = ServerFeatures::parse("23.8.1").unwrap();
        let old_plan = plan(migrations::MIGRATIONS, &old, "f").join(";\n");
        let new_plan = plan(migrations::MIGRATIONS, &new, "f").join(";\n");
        assert!(!old_plan.contains("LowCardinality") && !old_plan.contains("CODEC"));
        assert!(new_plan.contains("LowCardinality") && new_plan.contains("CODEC"));
        assert!(new_plan.contains("ADD COLUMN IF NOT EXISTS `bot_score`"));
        assert!(new_plan.starts_with("CREATE DATABASE IF NOT EXISTS `f`"));
    }

    #[test]
    fn the_database_placeholder_is_back_quoted() {
        assert_eq!(
            render("CREATE DATABASE IF NOT EXISTS {db}", "fiducia"),
            "CREATE DATABASE IF NOT EXISTS `fiducia`"
        );
        assert_eq!(
            render("SELECT 1 FROM {db}.events", "t_1"),
            "SELECT 1 FROM `t_1`.events"
        );
    }
}
