//! Nothing personal reaches ClickHouse: raw events full of e-mail addresses,
//! tokens and secret query keys go through the real enricher and the real
//! sink into ClickHouse, and queries over every text column find none of
//! them, nor the client network.

use std::time::Duration;

use fiducia_enricher::sites::Sites;
use fiducia_proto::testkit::unique;
use fiducia_sink::config::ClickHouseConfig;

use crate::helpers::{Running, Setup, raw_event};
use crate::mmdb;

const EMAIL: &str = "ada.lovelace@example.com";
const TOKEN: &str = "d41d8cd98f00b204e9800998ecf8427e";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2lnbmF0dXJl";
const SECRET_KEY_VALUE: &str = "loyalty-9f8e7d";

/// POSTs `sql` to ClickHouse's HTTP interface; the trimmed answer.
async fn query(url: &str, sql: &str) -> String {
    let response = reqwest::Client::new()
        .post(url)
        .body(sql.to_owned())
        .send()
        .await
        .expect("ClickHouse answers");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "{sql}: {status} {text}");
    text.trim().to_owned()
}

#[tokio::test]
async fn no_raw_ip_email_or_token_reaches_clickhouse() {
    let setup = Setup::new().await;
    let database = unique("fiducia_enricher_test");
    let geo = mmdb::write(&[["203.0.113.0/24", "IT", "62", "Rome"]]);
    let mut config = setup.config(&unique("enricher"));
    config.sites = Sites::parse("[sites.demo]\nscrub_query_keys = [\"card\"]\n", "test").unwrap();
    config.geoip_db = Some(geo.path().to_owned());
    let enricher = Running::start(config).await;
    let mut sink_config = fiducia_sink::Config::new(
        setup.kafka(),
        ClickHouseConfig {
            url: setup.infra.clickhouse_url.clone(),
            database: database.clone(),
            ..ClickHouseConfig::default()
        },
    );
    sink_config.admin_addr = ([127, 0, 0, 1], 0).into();
    sink_config.group_id = unique("sink");
    sink_config.batch.max_wait = Duration::from_millis(100);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sink = fiducia_sink::Application::build(sink_config, shutdown.clone())
        .await
        .expect("the sink starts");
    let sink = tokio::spawn(sink.run_until_stopped());

    let producer = setup.producer();
    let urls = [
        format!("https://shop.example/login?email={EMAIL}&next=%2Fcart"),
        format!("https://shop.example/reset/{TOKEN}"),
        format!("https://shop.example/cb#access_token={JWT}&state=ok"),
        format!("https://shop.example/p/1?card={SECRET_KEY_VALUE}&utm_content={EMAIL}"),
        format!("https://ada:{TOKEN}@shop.example/unsubscribe/{EMAIL}"),
    ];
    let count = urls.len();
    for (i, url) in urls.iter().enumerate() {
        let mut event = raw_event(&format!("v{i}"), 0);
        let context = event.context.as_mut().unwrap();
        context.url.clone_from(url);
        context.referrer = format!("https://mail.example/read?to={EMAIL}&t={TOKEN}");
        context.title = format!("Welcome back {EMAIL}");
        event.props_json = format!(
            r#"{{"email":"{EMAIL}","note":"token {JWT}","href":"{url}","nested":{{"password":"x","ok":1}}}}"#
        );
        setup.produce_raw(&producer, &event).await;
    }

    let url = &setup.infra.clickhouse_url;
    let rows = format!("SELECT count() FROM `{database}`.events FINAL");
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    while query(url, &rows).await.parse::<usize>().unwrap_or(0) < count {
        assert!(tokio::time::Instant::now() < deadline, "rows never arrived");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Every text column of the table, whatever migrations added.
    let columns = query(
        url,
        &format!(
            "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = 'events' FORMAT TabSeparated"
        ),
    )
    .await;
    let texts: Vec<String> = columns
        .lines()
        .filter_map(|line| {
            let (name, kind) = line.split_once('\t')?;
            match kind {
                "String" => Some(format!("`{name}`")),
                "Array(String)" => Some(format!("arrayStringConcat(`{name}`, ' ')")),
                _ => None,
            }
        })
        .collect();
    assert!(texts.len() > 20, "{columns}");
    let all = format!("concat({})", texts.join(", ' ', "));
    let matching = |pattern: &str| {
        format!("SELECT count() FROM `{database}`.events WHERE match({all}, '{pattern}')")
    };
    // The query does see the text columns: the shop's host is in every row.
    assert_eq!(
        query(url, &matching(r"shop\\.example")).await,
        count.to_string()
    );
    for (what, pattern) in [
        (
            "an e-mail address",
            r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+\\.[A-Za-z]{2,}",
        ),
        ("the hex token", TOKEN),
        ("the JWT", "eyJhbGciOiJIUzI1NiJ9"),
        ("the configured secret key's value", SECRET_KEY_VALUE),
        ("the client network", r"203\\.0\\.113"),
        ("a password property", "password"),
    ] {
        let found = query(url, &matching(pattern)).await;
        assert_eq!(found, "0", "{what} reached ClickHouse");
    }
    // What is kept is still useful: the place from the network, scrubbed
    // paths, the page's own parameters.
    let kept = query(
        url,
        &format!(
            "SELECT country, city, path, url FROM `{database}`.events FINAL WHERE path LIKE '/reset/%' OR path LIKE '/unsubscribe/%' ORDER BY path FORMAT TabSeparated"
        ),
    )
    .await;
    assert_eq!(
        kept,
        "IT\tRome\t/reset/[token]\thttps://shop.example/reset/[token]\nIT\tRome\t/unsubscribe/[email]\thttps://shop.example/unsubscribe/[email]"
    );
    let fragment = query(
        url,
        &format!("SELECT url FROM `{database}`.events FINAL WHERE path = '/cb'"),
    )
    .await;
    assert_eq!(fragment, "https://shop.example/cb#state=ok");

    enricher.stop().await;
    shutdown.cancel();
    sink.await.unwrap().unwrap();
    query(url, &format!("DROP DATABASE IF EXISTS `{database}`")).await;
}
