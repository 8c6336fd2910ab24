//! Work the sink does on ClickHouse besides inserting rows:
//! [`erase_on_withdrawal`] removes the profile of a visitor who withdrew
//! personalization consent as the consent record is stored,
//! [`profile_sweep`] deletes the profile rows of events that were on their
//! way then, [`retention`] deletes rows whose retention period ended,
//! per data type and site (and the visitor's own choice), on a schedule
//! (and runs the sweep after), and [`privacy`] carries out erasure requests
//! and records every privacy request. [`items`] computes the item lists of
//! personalization (related and popular items, each shared by at least k
//! consenting visitors) and publishes them to the items topic.
//!
//! All delete with the best statement the server has: lightweight
//! `DELETE FROM` on current servers, an `ALTER TABLE ... DELETE` mutation on
//! ClickHouse 18.16 (see [`delete_statement`]).

pub mod erase_on_withdrawal;
pub mod items;
pub mod privacy;
pub mod profile_sweep;
pub mod retention;

use crate::schema::ServerFeatures;

/// The statement deleting the rows of `{db}.<table>` that match `predicate`:
/// a lightweight delete where the server has it, else a mutation. Both
/// return once the server accepted the deletion; a mutation finishes in the
/// background, and readers never see a row half deleted. In a cluster, it
/// deletes from the local tables on every server (`ON CLUSTER`; a mutation
/// of a replicated table reaches every replica through ZooKeeper).
#[must_use]
pub fn delete_statement(features: &ServerFeatures, table: &str, predicate: &str) -> String {
    let sql = if features.lightweight_delete() {
        format!("DELETE FROM {{db}}.`{table}` WHERE {predicate}")
    } else {
        format!("ALTER TABLE {{db}}.`{table}` DELETE WHERE {predicate}")
    };
    match &features.cluster {
        None => sql,
        Some(cluster) => cluster.statements(&sql).swap_remove(0),
    }
}

/// `value` as a ClickHouse string literal.
#[must_use]
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_what_would_end_a_literal() {
        assert_eq!(quote(r"a'b\c"), r"'a\'b\\c'");
    }

    #[test]
    fn old_servers_delete_by_mutation_and_new_ones_by_lightweight_delete() {
        let old = ServerFeatures::parse("18.16.1").unwrap();
        let new = ServerFeatures::parse("23.8.1").unwrap();
        assert_eq!(
            delete_statement(&old, "profile_events", "site_id = ?"),
            "ALTER TABLE {db}.`profile_events` DELETE WHERE site_id = ?"
        );
        assert_eq!(
            delete_statement(&new, "profile_events", "site_id = ?"),
            "DELETE FROM {db}.`profile_events` WHERE site_id = ?"
        );
    }
}
