//! Cluster mode (`FIDUCIA_SINK_CLICKHOUSE_CLUSTER`): the same migration
//! history and the same job statements, rewritten for a ClickHouse cluster
//! as they are run. Unset, nothing here is used and every statement runs as
//! written.
//!
//! The layout, for every table and view `T` the analysts and the sink use:
//!
//! * `T_local` on every server, created `ON CLUSTER`: tables with the
//!   `Replicated*` form of their engine (the same dedup: a
//!   `ReplicatedReplacingMergeTree` collapses redelivered `event_id`s on
//!   every replica; the replicas' block checksums also drop a retried
//!   identical insert), at `/clickhouse/tables/{shard}/<db>/T_local` with
//!   replica `{replica}` (the servers' macros); views over the local tables.
//! * `T` itself, a `Distributed` table over `T_local`: what the sink inserts
//!   into and analysts query, so neither changes. Inserts are sharded by
//!   [`SHARDED`]'s key: one visitor's events, consent records and profile
//!   signals land on one shard, so a session, a profile and the consent
//!   filter of the `profiles` view are computed inside one shard.
//! * `schema_migrations` is replicated to every server (ZooKeeper path
//!   without `{shard}`, replica `{shard}-{replica}`): each sink reads the
//!   history from the server it talks to.
//! * A materialized view keeps its name and reads and writes local tables:
//!   each server's inserts feed its own shard's signals.
//!
//! Statements that change storage (`CREATE`, `ALTER`, `DROP`, `DELETE
//! FROM`) run `ON CLUSTER` against the local tables; a column change also
//! creates the `Distributed` table again (18.16 refuses `ALTER ... ON
//! CLUSTER` of a `Distributed` table in a replicated cluster). Queries and
//! inserts are left alone: they go through the `Distributed` tables.
//!
//! Cluster mode is chosen before the first start: a database made by a
//! single server is not converted (deploy/OPERATIONS.md).

use crate::tables::{
    admin_audit, consent_log, dead_letters, events, privacy_requests, profile_events, profiles,
    sessions,
};

/// A table or view that is `<name>_local` on every server with a
/// `Distributed` `<name>` over it.
#[derive(Debug, Clone, Copy)]
pub struct Sharded {
    /// The name analysts and the sink use.
    pub name: &'static str,
    /// The sharding key of inserts; `None` for what is never inserted into
    /// through its `Distributed` table (views, the materialized view's target).
    pub key: Option<&'static str>,
}

/// The shard of a visitor: the key the enricher partitions by (site and
/// visitor, else session), so one visitor's rows meet on one shard; an
/// event with neither (anonymous measurement) is spread by its id.
pub const VISITOR_KEY: &str = "cityHash64(site_id, if(visitor_id != '', visitor_id, if(session_id != '', session_id, toString(event_id))))";

/// Every object in cluster mode, with its sharding key.
pub const SHARDED: &[Sharded] = &[
    Sharded {
        name: events::NAME,
        key: Some(VISITOR_KEY),
    },
    // Beside the subject's events: the `profiles` view filters by it per shard.
    Sharded {
        name: consent_log::NAME,
        key: Some("cityHash64(site_id, subject)"),
    },
    Sharded {
        name: profile_events::NAME,
        key: None,
    },
    Sharded {
        name: dead_letters::NAME,
        key: Some("cityHash64(topic, partition, offset)"),
    },
    Sharded {
        name: privacy_requests::NAME,
        key: Some("cityHash64(site_id, toString(request_id))"),
    },
    Sharded {
        name: admin_audit::NAME,
        key: Some("cityHash64(site_id, toString(call_id))"),
    },
    Sharded {
        name: sessions::NAME,
        key: None,
    },
    Sharded {
        name: profiles::NAME,
        key: None,
    },
];

/// The table replicated whole to every server.
const EVERYWHERE: &str = "schema_migrations";

/// A cluster from `remote_servers` and the database the sink uses on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    name: String,
    database: String,
}

impl Cluster {
    /// `name` as in the servers' `remote_servers` and `database` (both
    /// validated by the config: letters, digits and `_`).
    #[must_use]
    pub fn new(name: &str, database: &str) -> Self {
        Self {
            name: name.to_owned(),
            database: database.to_owned(),
        }
    }

    /// The cluster's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of `table`'s storage on each server: `<table>_local` for
    /// the [`SHARDED`] objects, else `table`.
    #[must_use]
    pub fn local(table: &str) -> String {
        if sharded(table).is_some() {
            format!("{table}_local")
        } else {
            table.to_owned()
        }
    }

    /// `sql` (`{db}` unrendered) as it runs on the cluster: one statement
    /// or several, in order (see the module's rules).
    #[must_use]
    pub fn statements(&self, sql: &str) -> Vec<String> {
        let on = format!(" ON CLUSTER {}", self.name);
        if sql.starts_with("CREATE DATABASE") {
            return vec![format!("{sql}{on}")];
        }
        let unquoted = unquote_names(sql);
        let Some((head, name, rest)) = split_object(&unquoted) else {
            return vec![sql.to_owned()];
        };
        let shard = sharded(name);
        let local = Self::local(name);
        let rest = localize(rest);
        match (head, shard) {
            ("CREATE TABLE IF NOT EXISTS", _) if name == EVERYWHERE => vec![format!(
                "{head} {{db}}.{name}{on}{}",
                replicated(
                    &rest,
                    &format!("/clickhouse/tables/all/{}/{name}", self.database),
                    "{shard}-{replica}"
                )
            )],
            ("CREATE TABLE IF NOT EXISTS", Some(shard)) => vec![
                format!(
                    "{head} {{db}}.{local}{on}{}",
                    replicated(
                        &rest,
                        &format!("/clickhouse/tables/{{shard}}/{}/{local}", self.database),
                        "{replica}"
                    )
                ),
                self.distributed(shard),
            ],
            ("CREATE VIEW IF NOT EXISTS", Some(shard)) => vec![
                format!("{head} {{db}}.{local}{on}{rest}"),
                self.distributed(shard),
            ],
            ("ALTER TABLE", Some(shard)) => {
                let mut all = vec![format!("{head} {{db}}.{local}{on}{rest}")];
                let action = rest.trim_start();
                if ["ADD COLUMN", "MODIFY COLUMN", "DROP COLUMN"]
                    .iter()
                    .any(|a| action.starts_with(a))
                {
                    all.extend(self.redistribute(shard));
                }
                all
            }
            ("DROP TABLE IF EXISTS", Some(_)) => vec![
                format!("{head} {{db}}.{name}{on}{rest}"),
                format!("{head} {{db}}.{local}{on}{rest}"),
            ],
            // `DELETE FROM` a table, statements about the materialized
            // view, and anything about an object that is not sharded.
            _ => vec![format!("{head} {{db}}.{local}{on}{rest}")],
        }
    }

    /// The `Distributed` table of `shard` dropped and created again, so it
    /// has the columns its local table has now.
    #[must_use]
    pub fn redistribute(&self, shard: &Sharded) -> [String; 2] {
        [
            format!(
                "DROP TABLE IF EXISTS {{db}}.{} ON CLUSTER {}",
                shard.name, self.name
            ),
            self.distributed(shard),
        ]
    }

    fn distributed(&self, shard: &Sharded) -> String {
        let key = shard.key.map(|k| format!(", {k}")).unwrap_or_default();
        format!(
            "CREATE TABLE IF NOT EXISTS {{db}}.{name} ON CLUSTER {cluster} AS {{db}}.{name}_local\n\
             ENGINE = Distributed({cluster}, '{database}', {name}_local{key})",
            name = shard.name,
            cluster = self.name,
            database = self.database,
        )
    }
}

/// `body` (a `CREATE TABLE` after its name) with the `Replicated` form of
/// its engine at `path` for `replica`.
fn replicated(body: &str, path: &str, replica: &str) -> String {
    let Some(at) = body.find("ENGINE = ") else {
        return body.to_owned();
    };
    let engine_at = at + "ENGINE = ".len();
    let tail = &body[engine_at..];
    let name_len = tail
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(tail.len());
    let (engine, after) = tail.split_at(name_len);
    let (args, after) = match after.strip_prefix('(') {
        Some(inner) => {
            let close = inner.find(')').unwrap_or(inner.len());
            (format!(", {}", &inner[..close]), &inner[close + 1..])
        }
        None => (String::new(), after),
    };
    format!(
        "{}Replicated{engine}('{path}', '{replica}'{args}){after}",
        &body[..engine_at]
    )
}

/// The [`SHARDED`] entry of `name`.
#[must_use]
pub fn sharded(name: &str) -> Option<&'static Sharded> {
    SHARDED.iter().find(|s| s.name == name)
}

/// Statement heads that name one object right after them.
const HEADS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS",
    "CREATE VIEW IF NOT EXISTS",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS",
    "ALTER TABLE",
    "DROP TABLE IF EXISTS",
    "DELETE FROM",
];

/// (head, object name, everything after the name) of a statement that
/// changes one object in `{db}`.
fn split_object(sql: &str) -> Option<(&'static str, &str, &str)> {
    let head = HEADS.iter().find(|h| sql.starts_with(*h))?;
    let after = sql[head.len()..].strip_prefix(" {db}.")?;
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    Some((head, &after[..end], &after[end..]))
}

/// `sql` without its column comments (`COMMENT '...'`).
#[must_use]
pub fn without_comments(sql: &str) -> String {
    const COMMENT: &str = " COMMENT '";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(COMMENT) {
        out.push_str(&rest[..at]);
        let mut chars = rest[at + COMMENT.len()..].char_indices();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '\'' => {
                    end = at + COMMENT.len() + i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `sql` with the name `n` of every `{db}.n` or `` {db}.`n` `` written as
/// `{db}.<to(n)>`, unquoted (names are plain identifiers).
fn map_names(sql: &str, to: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("{db}.") {
        let name_at = at + "{db}.".len();
        out.push_str(&rest[..name_at]);
        let tail = &rest[name_at..];
        let (quoted, tail) = match tail.strip_prefix('`') {
            Some(inner) => (true, inner),
            None => (false, tail),
        };
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push_str(&to(&tail[..end]));
        rest = &tail[end..];
        if quoted {
            rest = rest.strip_prefix('`').unwrap_or(rest);
        }
    }
    out.push_str(rest);
    out
}

/// `{db}.`name`` written as `{db}.name`.
fn unquote_names(sql: &str) -> String {
    map_names(sql, str::to_owned)
}

/// `sql` reading and writing the local tables: every `{db}.T` of a
/// [`SHARDED`] `T` becomes `{db}.T_local`.
fn localize(sql: &str) -> String {
    map_names(sql, Cluster::local)
}

#[cfg(test)]
mod tests;
