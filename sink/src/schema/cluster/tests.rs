use super::*;
use crate::schema::{ServerFeatures, migrations, plan};

fn cluster() -> Cluster {
    Cluster::new("c", "f")
}

#[test]
fn a_table_becomes_a_replicated_local_table_and_a_distributed_one_keyed_by_visitor() {
    let all = cluster().statements(events::CREATE);
    assert_eq!(all.len(), 2);
    assert!(all[0].starts_with("CREATE TABLE IF NOT EXISTS {db}.events_local ON CLUSTER c\n("));
    assert!(all[0].contains(
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/f/events_local', '{replica}')\nPARTITION BY"
    ));
    assert_eq!(
        all[1],
        format!(
            "CREATE TABLE IF NOT EXISTS {{db}}.events ON CLUSTER c AS {{db}}.events_local\n\
             ENGINE = Distributed(c, 'f', events_local, {VISITOR_KEY})"
        )
    );
}

#[test]
fn engine_arguments_follow_the_replication_ones() {
    let all = cluster().statements(privacy_requests::CREATE_FIRST);
    assert!(all[0].contains(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/f/privacy_requests_local', '{replica}', updated_at)"
    ));
    let audit = cluster().statements(admin_audit::CREATE);
    assert!(audit[0].contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/f/admin_audit_local', '{replica}')\n"));
}

#[test]
fn the_migration_history_is_replicated_to_every_server() {
    let all = cluster().statements(migrations::CREATE_SCHEMA_MIGRATIONS);
    assert_eq!(all.len(), 1);
    assert!(all[0].starts_with("CREATE TABLE IF NOT EXISTS {db}.schema_migrations ON CLUSTER c\n"));
    assert!(all[0].contains(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/all/f/schema_migrations', '{shard}-{replica}')"
    ));
}

#[test]
fn views_read_local_tables_behind_a_distributed_table_without_key() {
    let all = cluster().statements(profiles::CREATE_CONSENT_AWARE);
    assert!(all[0].starts_with("CREATE VIEW IF NOT EXISTS {db}.profiles_local ON CLUSTER c AS\n"));
    assert!(all[0].contains("FROM {db}.profile_events_local FINAL"));
    assert!(all[0].contains("FROM {db}.consent_log_local FINAL"));
    assert!(!all[0].contains("{db}.consent_log "));
    assert!(all[1].ends_with("ENGINE = Distributed(c, 'f', profiles_local)"));
}

#[test]
fn the_materialized_view_keeps_its_name_and_feeds_the_local_table_from_the_local_one() {
    let all = cluster().statements(profile_events::CREATE_MV_WITH_ITEMS);
    assert_eq!(all.len(), 1);
    assert!(all[0].starts_with(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.profile_events_mv ON CLUSTER c TO {db}.profile_events_local AS\n"
    ));
    assert!(all[0].contains("FROM {db}.events_local\n"));
    assert_eq!(
        cluster().statements(profile_events::DROP_MV),
        ["DROP TABLE IF EXISTS {db}.profile_events_mv ON CLUSTER c"]
    );
}

#[test]
fn a_column_change_alters_the_local_table_and_makes_the_distributed_one_again() {
    let all = cluster().statements("ALTER TABLE {db}.`events` ADD COLUMN `x` String DEFAULT ''");
    assert_eq!(
        all[..2],
        [
            "ALTER TABLE {db}.events_local ON CLUSTER c ADD COLUMN `x` String DEFAULT ''",
            "DROP TABLE IF EXISTS {db}.events ON CLUSTER c",
        ]
    );
    assert!(
        all[2].starts_with(
            "CREATE TABLE IF NOT EXISTS {db}.events ON CLUSTER c AS {db}.events_local"
        )
    );
    let setting = cluster().statements(
        "ALTER TABLE {db}.events MODIFY SETTING non_replicated_deduplication_window = 1000",
    );
    assert_eq!(setting.len(), 1);
}

#[test]
fn deletions_run_on_the_local_tables_of_every_server() {
    let old = ServerFeatures::parse("18.16.1")
        .unwrap()
        .in_cluster(Some(cluster()));
    assert_eq!(
        crate::jobs::delete_statement(&old, "events", "site_id = 's'"),
        "ALTER TABLE {db}.events_local ON CLUSTER c DELETE WHERE site_id = 's'"
    );
    let new = ServerFeatures::parse("23.8.1")
        .unwrap()
        .in_cluster(Some(cluster()));
    assert_eq!(
        crate::jobs::delete_statement(&new, "consent_log", "subject = 'v'"),
        "DELETE FROM {db}.consent_log_local ON CLUSTER c WHERE subject = 'v'"
    );
    assert_eq!(
        cluster().statements("DROP TABLE IF EXISTS {db}.privacy_requests"),
        [
            "DROP TABLE IF EXISTS {db}.privacy_requests ON CLUSTER c",
            "DROP TABLE IF EXISTS {db}.privacy_requests_local ON CLUSTER c",
        ]
    );
}

#[test]
fn queries_and_inserts_are_left_to_the_distributed_tables() {
    for sql in [
        "SELECT count() FROM {db}.events FINAL",
        "INSERT INTO {db}.`consent_log` (`record_id`) SELECT `record_id` FROM {db}.`consent_log` WHERE p",
    ] {
        assert_eq!(cluster().statements(sql), [sql]);
    }
}

#[test]
fn the_single_server_plan_is_unchanged_and_the_cluster_plan_creates_every_object_on_the_cluster() {
    for version in ["18.16.1", "23.8.1"] {
        let single = ServerFeatures::parse(version).unwrap();
        let in_cluster = single.clone().in_cluster(Some(cluster()));
        let cluster_plan = plan(migrations::MIGRATIONS, &in_cluster, "f");
        for sql in &cluster_plan {
            let head = sql.lines().next().unwrap();
            assert!(head.contains(" ON CLUSTER c"), "{head}");
            assert!(!sql.contains("ENGINE = ReplacingMergeTree"), "{head}");
            assert!(!sql.contains("ENGINE = MergeTree"), "{head}");
        }
        assert!(
            plan(migrations::MIGRATIONS, &single, "f")
                .iter()
                .all(|sql| !sql.contains("ON CLUSTER"))
        );
    }
}

#[test]
fn comments_are_cut_whole_escaped_quotes_included() {
    assert_eq!(
        without_comments(
            "(\n    a UInt8 COMMENT 'it\\'s 0-100',\n    b String DEFAULT '' COMMENT 'x'\n)"
        ),
        "(\n    a UInt8,\n    b String DEFAULT ''\n)"
    );
    let old = ServerFeatures::parse("18.16.1")
        .unwrap()
        .in_cluster(Some(cluster()));
    assert!(
        old.statements(events::CREATE)
            .iter()
            .all(|s| !s.contains("COMMENT"))
    );
    let new = ServerFeatures::parse("23.8.1")
        .unwrap()
        .in_cluster(Some(cluster()));
    assert!(new.statements(events::CREATE)[0].contains("COMMENT"));
}
