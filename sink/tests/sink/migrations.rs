//! Schema migrations: from empty, twice and concurrently, and from the
//! previous version.

use fiducia_sink::schema::migrations::{MIGRATIONS, Migration, Step};
use fiducia_sink::schema::{ServerFeatures, migrate_with};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_from_empty_twice_and_concurrently() {
    let setup = Setup::new().await;
    // The migrations alone, as `Application::build` runs them first (the
    // start-up tests build whole applications): two sinks starting at once.
    let client = setup.clickhouse();
    let (first, second) = tokio::join!(
        migrate_with(&client, &setup.database, MIGRATIONS),
        migrate_with(&client, &setup.database, MIGRATIONS),
    );
    let mut applied = [first.unwrap(), second.unwrap()].concat();
    applied.sort_unstable();
    applied.dedup();
    let every: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied, every,
        "every version applied by one or both, nothing else"
    );
    eprintln!("server: {}", ServerFeatures::probe(&client).await.unwrap());

    let again = migrate_with(&client, &setup.database, MIGRATIONS)
        .await
        .unwrap();
    assert!(again.is_empty(), "nothing left to apply");
    let tables = "SELECT count() FROM system.tables WHERE database = '{db}' AND name IN ('events', 'consent_log', 'schema_migrations', 'sessions', 'profile_events', 'profile_events_mv', 'profiles', 'privacy_requests')";
    assert_eq!(
        setup
            .count(&tables.replace("'{db}'", &format!("'{}'", setup.database)))
            .await,
        8
    );
    assert_eq!(
        setup
            .count("SELECT uniqExact(version) FROM {db}.schema_migrations")
            .await,
        every.len() as u64
    );

    // The way later migrations extend the schema on 18.16 (no ADD COLUMN IF
    // NOT EXISTS) is idempotent and race-safe too.
    let next = [Migration {
        version: every.len() as u32 + 1,
        name: "test: add a column",
        steps: &[Step::AddColumn {
            table: "events",
            column: "test_extra",
            definition: "String DEFAULT ''",
        }],
    }];
    let history = [MIGRATIONS, &next].concat();
    let (a, b) = tokio::join!(
        migrate_with(&client, &setup.database, &history),
        migrate_with(&client, &setup.database, &history),
    );
    assert!(a.unwrap().len() + b.unwrap().len() >= 1);
    assert!(
        migrate_with(&client, &setup.database, &history)
            .await
            .unwrap()
            .is_empty()
    );
    let columns = format!(
        "SELECT count() FROM system.columns WHERE database = '{}' AND table = 'events' AND name = 'test_extra'",
        setup.database
    );
    assert_eq!(setup.count(&columns).await, 1);
    assert_eq!(
        setup
            .count("SELECT uniqExact(version) FROM {db}.schema_migrations")
            .await,
        history.len() as u64
    );
    setup.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_upgrade_a_database_of_the_previous_version() {
    let setup = Setup::new().await;
    let client = setup.clickhouse();
    let previous = &MIGRATIONS[..MIGRATIONS.len() - 1];
    let applied = migrate_with(&client, &setup.database, previous)
        .await
        .unwrap();
    assert_eq!(applied.len(), previous.len());
    let (a, b) = tokio::join!(
        migrate_with(&client, &setup.database, MIGRATIONS),
        migrate_with(&client, &setup.database, MIGRATIONS),
    );
    let mut upgraded = [a.unwrap(), b.unwrap()].concat();
    upgraded.dedup();
    assert_eq!(
        upgraded,
        [MIGRATIONS.len() as u32],
        "only the newest version"
    );
    assert!(
        migrate_with(&client, &setup.database, MIGRATIONS)
            .await
            .unwrap()
            .is_empty()
    );
    // The view made again by migration 12 carries an event's item into
    // profile_events (its columns matched by name, the new one last).
    client
        .query_raw(&fiducia_sink::schema::render(
            "INSERT INTO {db}.events (event_id, site_id, event_time, received_at, visitor_id, consent_personalization, page_categories, item_id) \
             SELECT generateUUIDv4(), 'demo', now(), now(), 'v1', 1, ['shoes', 'sale'], 'sku-1'",
            &setup.database,
        ))
        .execute()
        .await
        .unwrap();
    assert_eq!(
        setup
            .count("SELECT count() FROM {db}.profile_events WHERE item_id = 'sku-1' AND visitor_id = 'v1' AND category IN ('shoes', 'sale')")
            .await,
        2
    );
    setup.drop_database().await;
}
