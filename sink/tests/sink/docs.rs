//! Every query of the analyst guide (`deploy/clickhouse/README.md`) runs as
//! written on the real ClickHouse, against the generated demo traffic, and returns
//! rows, and every column the migrations create is in the guide. Queries and
//! columns are read from the guide and the server, so they cannot drift.

use fiducia_sink::schema::{migrate, render};

use crate::helpers::Setup;

/// The demo traffic generator, relative to this crate.
const GENERATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/clickhouse/generate.sql"
);

/// The guide, relative to this crate.
const GUIDE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/clickhouse/README.md"
);

/// The ```` ```sql ```` blocks of `markdown`, in order.
fn sql_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The demo traffic of `deploy/clickhouse/generate.sql` (the one the chDB
/// test and the query timings use) for `events` rows, as statements for
/// `database`: comments dropped, split on `;`, as `guide.py` does.
fn generate_statements(database: &str, events: u32) -> Vec<String> {
    let text = std::fs::read_to_string(GENERATE).unwrap();
    let text: Vec<&str> = text.lines().filter(|l| !l.starts_with("--")).collect();
    render(&text.join("\n"), database)
        .replace("{events}", &events.to_string())
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_is_documented_and_every_documented_query_returns_rows() {
    let guide = std::fs::read_to_string(GUIDE).unwrap();
    let queries = sql_blocks(&guide);
    assert!(
        queries.len() >= 10,
        "{} queries in the guide",
        queries.len()
    );

    let setup = Setup::new().await;
    let client = setup.clickhouse();
    migrate(&client, &setup.database).await.unwrap();
    for statement in generate_statements(&setup.database, 36_000) {
        client.query_raw(&statement).execute().await.unwrap();
    }

    let columns: Vec<(String, String)> = client
        .query("SELECT table, name FROM system.columns WHERE database = ? AND table != 'profile_events_mv'")
        .bind(&setup.database)
        .fetch_all()
        .await
        .unwrap();
    assert!(columns.len() > 80, "{} columns", columns.len());
    for (table, column) in columns {
        assert!(
            guide.contains(&format!("`{column}`")),
            "{table}.{column} is not in the guide"
        );
    }

    for query in queries {
        let sql = render(&query.replace("fiducia.", "{db}."), &setup.database);
        let body = sql.trim().trim_end_matches(';');
        let rows: u64 = client
            .query_raw(&format!("SELECT count() FROM ({body})"))
            .fetch_one()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{query}"));
        assert!(rows > 0, "no rows from\n{query}");
    }
    setup.drop_database().await;
}

#[test]
fn sql_blocks_are_read_in_order_and_other_blocks_are_skipped() {
    let md = "a\n```sql\nSELECT 1\nFROM t\n```\n```sh\nls\n```\n```sql\nSELECT 2\n```\n";
    assert_eq!(sql_blocks(md), ["SELECT 1\nFROM t\n", "SELECT 2\n"]);
}
