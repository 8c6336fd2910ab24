//! Every query of the analyst guide (`deploy/clickhouse/README.md`) runs as
//! written on the real ClickHouse, against generated events, and returns
//! rows, and every column the migrations create is in the guide. Queries and
//! columns are read from the guide and the server, so they cannot drift.

use std::time::Duration;

use fiducia_proto::v1::{Decision, EnrichedEvent};
use fiducia_sink::consent_rows::ConsentRow;
use fiducia_sink::dead_letter_rows::DeadLetterRow;
use fiducia_sink::rows::EventRow;
use fiducia_sink::schema::{migrate, render};
use fiducia_sink::writer::RowWriter;
use fiducia_sink::writer::clickhouse::{ClickHouseHealth, ClickHouseWriter};
use uuid::Uuid;

use super::Setup;

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

/// 30 days of a small shop: 3 visitors a day over 2 sessions each, walking
/// home → product → cart → checkout, from a few campaigns and referrers,
/// with a bot and a consent record per visitor.
pub fn generated_events(start: u32) -> (Vec<EventRow>, Vec<ConsentRow>) {
    let paths = ["/", "/p/red-shoes", "/cart", "/checkout"];
    let referrers = ["search", "social", "direct", "email"];
    let campaigns = ["spring", "", "newsletter"];
    let mut events = Vec::new();
    let mut consents = Vec::new();
    for day in 0..30u32 {
        for visitor in 0..3u32 {
            let visitor_id = format!("v{}", (day * 3 + visitor) % 20);
            for session in 0..2u32 {
                let session_id = format!("s{day}-{visitor}-{session}");
                let steps = 1 + (day + visitor + session) % 4;
                for (step, path) in paths.iter().take(steps as usize).enumerate() {
                    let step = u32::try_from(step).unwrap();
                    let at = i64::from(
                        start + day * 86_400 + visitor * 3_600 + session * 1_800 + step * 60,
                    ) * 1000;
                    for event_type in ["page_view", "scroll", "engagement"] {
                        let props = match event_type {
                            "scroll" => format!(r#"{{"depth":{}}}"#, 25 * (1 + step)),
                            "engagement" => format!(r#"{{"ms":{}}}"#, 5_000 * (1 + step)),
                            _ => "{}".to_owned(),
                        };
                        let event = EnrichedEvent {
                            event_id: Uuid::now_v7().as_bytes().to_vec(),
                            site_id: "demo".into(),
                            event_type: event_type.into(),
                            event_time_ms: at,
                            received_at_ms: at + 200,
                            seq: step,
                            visitor_id: visitor_id.clone(),
                            session_id: session_id.clone(),
                            url: format!("https://shop.example{path}"),
                            path: (*path).into(),
                            referrer_class: referrers[(visitor + session) as usize % 4].into(),
                            utm_source: if session == 0 {
                                "newsletter".into()
                            } else {
                                String::new()
                            },
                            utm_medium: if session == 0 {
                                "email".into()
                            } else {
                                String::new()
                            },
                            utm_campaign: campaigns[(day + session) as usize % 3].into(),
                            country: ["IT", "DE", "FR"][visitor as usize].into(),
                            browser: "Firefox".into(),
                            os: "Linux".into(),
                            device: ["desktop", "mobile", "tablet"][visitor as usize].into(),
                            is_bot: visitor == 2 && day % 5 == 0,
                            bot_reasons: if visitor == 2 && day % 5 == 0 {
                                vec!["headless".into()]
                            } else {
                                Vec::new()
                            },
                            consent_measurement: true,
                            consent_personalization: visitor != 1,
                            decision: Decision::Keep.into(),
                            props_json: props,
                            page_categories: vec!["shoes".into()],
                            ..EnrichedEvent::default()
                        };
                        events.push(EventRow::try_from(event).unwrap());
                    }
                }
            }
            consents.push(ConsentRow {
                record_id: Uuid::now_v7(),
                site_id: "demo".into(),
                subject: visitor_id.clone(),
                action: ["grant", "deny", "update"][visitor as usize].into(),
                measurement: 1,
                personalization: u8::from(visitor != 1),
                functional: u8::from(visitor == 0),
                contextual: 1,
                source: "tag:api".into(),
                notice_version: "2026-01".into(),
                notice_hash: String::new(),
                tcf: String::new(),
                gpp: String::new(),
                gpc: 0,
                dnt: 0,
                client_time: start + day * 86_400 + visitor * 3_600,
                server_time: start + day * 86_400 + visitor * 3_600,
                server_ms: 0,
                ip_prefix: "203.0.113.0/24".into(),
                browser_family: "Firefox".into(),
                expires_at: start + 400 * 86_400,
            });
        }
    }
    (events, consents)
}

/// A few dead letters of the last days, from both stages.
fn dead_letters(now: u32) -> Vec<DeadLetterRow> {
    (0..6u32)
        .map(|i| DeadLetterRow {
            failed_at: now - i * 86_400,
            failed_ms: 0,
            stage: ["enricher", "sink"][i as usize % 2].into(),
            reason: ["missing_field", "undecodable", "unknown_site"][i as usize % 3].into(),
            field: if i % 3 == 0 {
                "site_id".into()
            } else {
                String::new()
            },
            detail: "generated".into(),
            site_id: "demo".into(),
            schema: "fiducia.v1.RawEvent".into(),
            event_type: "page_view".into(),
            topic: "fiducia.raw.v1".into(),
            partition: 0,
            offset: i.into(),
            payload_bytes: 400,
        })
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
    let config = setup.config();
    let client = setup.clickhouse();
    migrate(&client, &setup.database).await.unwrap();
    let writer = ClickHouseWriter::new(
        &config.clickhouse,
        ClickHouseHealth::new(Duration::from_secs(5)),
    );
    let now = u32::try_from(fiducia_proto::time::now_ms() / 1000).unwrap();
    let (events, consents) = generated_events(now - 32 * 86_400);
    writer.write(events, None).await.unwrap();
    writer.write(consents, None).await.unwrap();
    writer.write(dead_letters(now), None).await.unwrap();

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
