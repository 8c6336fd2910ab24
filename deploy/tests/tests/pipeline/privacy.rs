//! Nothing personal reaches ClickHouse: raw events full of e-mail addresses
//! (in any script and encoding), tokens, IP addresses, phone numbers,
//! IBANs, secret query keys and fragment parameters go through the real
//! enricher and the real sink into ClickHouse, and queries over every text
//! column, as stored and URL-decoded, find none of them, nor the client
//! network.

use std::io::Write as _;
use std::time::Duration;

use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::topics::Topics;
use fiducia_proto::v1::RawEvent;
use fiducia_testkit::{infra, raw, unique};

use crate::stack::{Running, Stack};

/// A consented page view of `visitor`, yesterday at 16:00 UTC plus `minutes`.
fn raw_event(visitor: &str, minutes: i64) -> RawEvent {
    raw::page_view(
        visitor,
        midnight_days_ago_ms(1) + (16 * 60 + minutes) * 60_000,
    )
}

const EMAIL: &str = "ada.lovelace@example.com";
const TOKEN: &str = "d41d8cd98f00b204e9800998ecf8427e";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2lnbmF0dXJl";
const SECRET_KEY_VALUE: &str = "loyalty-9f8e7d";

const IPV4: &str = "198.51.100.23";
const IPV6: &str = "2001:db8:85a3::8a2e:370:7334";
const PHONE_INTERNATIONAL: &str = "+49 30 90182734";
const PHONE_NATIONAL: &str = "030 9018-2735";
const IBAN_GROUPED: &str = "DE89 3704 0044 0532 0130 00";
const IBAN: &str = "GB82WEST12345698765432";
/// E-mail addresses that only a Unicode- and encoding-aware detector finds.
const EMAILS: [&str; 8] = [
    "ada@exämple.de",
    "adä.byron@example.com",
    "ada＠example.com",
    "ada﹫example.com",
    "ada%40example.com",
    "ada%2540example.com",
    "ada&#64;example.com",
    "ada@例子.广告",
];
/// The value of every property under a sensitive key.
const KEYED: &str = "keyed-7f3a";

/// An e-mail address in any of the forms above, as stored or decoded.
const ANY_EMAIL: &str = r"[\\p{L}\\p{N}._%+-]+(@|＠|﹫|%(25)*40|&#0*64;|&#x0*40;|&commat;)[\\p{L}\\p{N}-]+[.。][\\p{L}]{2,}";

/// The real enricher and sink processes on a test's own topics and database.
struct Pipeline {
    stack: Stack,
    database: String,
    _enricher: Running,
    _sink: Running,
    _sites: tempfile::NamedTempFile,
    _geo: tempfile::NamedTempFile,
}

impl Pipeline {
    /// Starts both with `sites` as their sites file.
    async fn start(sites: &str) -> Self {
        let geo = fiducia_testkit::mmdb::write(&[["203.0.113.0/24", "IT", "62", "Rome"]]);
        let mut sites_file = tempfile::NamedTempFile::new().expect("a sites file");
        sites_file.write_all(sites.as_bytes()).expect("write it");
        let stack = Stack::new(infra(), Topics::with_suffix(&unique("privacy")))
            .with_env(
                "FIDUCIA_SITES_FILE",
                sites_file.path().display().to_string(),
            )
            .with_env(
                "FIDUCIA_ENRICHER_GEOIP_DB",
                geo.path().display().to_string(),
            );
        let sink = stack.sink().await;
        let enricher = stack.enricher().await;
        Self {
            database: stack.database.clone(),
            stack,
            _enricher: enricher,
            _sink: sink,
            _sites: sites_file,
            _geo: geo,
        }
    }

    /// Produces `events` to the raw topic and waits until ClickHouse has them.
    async fn send(&self, events: &[RawEvent]) {
        let producer = fiducia_testkit::producer(&self.stack.brokers, "privacy-test");
        for event in events {
            raw::produce(&producer, &self.stack.topics.raw, event).await;
        }
        let rows = format!("SELECT count() FROM `{}`.events FINAL", self.database);
        let count = u64::try_from(events.len()).expect("a count");
        self.stack
            .clickhouse
            .wait_for_count(&rows, count, Duration::from_secs(90))
            .await;
    }

    /// `sql`'s trimmed answer.
    async fn query(&self, sql: &str) -> String {
        self.stack.clickhouse.query(sql).await
    }

    /// How many rows have `pattern` (RE2, escaped for a SQL string) in any
    /// text column, whatever migrations added, as stored or URL-decoded.
    async fn rows_matching(&self, pattern: &str) -> usize {
        let database = &self.database;
        let columns = self
            .query(&format!(
                "SELECT name, type FROM system.columns WHERE database = '{database}' AND table = 'events' FORMAT TabSeparated"
            ))
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
        let found = self
            .query(&format!(
                "SELECT count() FROM `{database}`.events WHERE match({all}, '{pattern}') OR match(decodeURLComponent({all}), '{pattern}')"
            ))
            .await;
        found.parse().expect("a count")
    }

    /// Asserts that no row holds any of `(what, pattern)`.
    async fn assert_none(&self, checks: &[(&str, &str)]) {
        for (what, pattern) in checks {
            let found = self.rows_matching(pattern).await;
            assert_eq!(found, 0, "{what} reached ClickHouse ({pattern})");
        }
    }

    async fn stop(self) {
        self.stack.drop_database().await;
    }
}

#[tokio::test]
async fn no_raw_ip_email_or_token_reaches_clickhouse() {
    let pipeline = Pipeline::start("[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\nscrub_query_keys = [\"card\"]\n").await;
    let urls = [
        format!("https://shop.example/login?email={EMAIL}&next=%2Fcart"),
        format!("https://shop.example/reset/{TOKEN}"),
        format!("https://shop.example/cb#access_token={JWT}&state=ok"),
        format!("https://shop.example/p/1?card={SECRET_KEY_VALUE}&utm_content={EMAIL}"),
        format!("https://ada:{TOKEN}@shop.example/unsubscribe/{EMAIL}"),
    ];
    let events: Vec<RawEvent> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let mut event = raw_event(&format!("v{i}"), 0);
            let context = event.context.as_mut().unwrap();
            context.url.clone_from(url);
            context.referrer = format!("https://mail.example/read?to={EMAIL}&t={TOKEN}");
            context.title = format!("Welcome back {EMAIL}");
            event.props_json = format!(
                r#"{{"email":"{EMAIL}","note":"token {JWT}","href":"{url}","nested":{{"password":"x","ok":1}}}}"#
            );
            event
        })
        .collect();
    pipeline.send(&events).await;

    // The query does see the text columns: the shop's host is in every row.
    assert_eq!(
        pipeline.rows_matching(r"shop\\.example").await,
        events.len()
    );
    pipeline
        .assert_none(&[
            (
                "an e-mail address",
                r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+\\.[A-Za-z]{2,}",
            ),
            ("the hex token", TOKEN),
            ("the JWT", "eyJhbGciOiJIUzI1NiJ9"),
            ("the configured secret key's value", SECRET_KEY_VALUE),
            ("the client network", r"203\\.0\\.113"),
            ("a password property", "password"),
        ])
        .await;
    // What is kept is still useful: the place from the network, scrubbed
    // paths, the page's own parameters.
    let database = &pipeline.database;
    let kept = pipeline
        .query(&format!(
            "SELECT country, city, path, url FROM `{database}`.events FINAL WHERE path LIKE '/reset/%' OR path LIKE '/unsubscribe/%' ORDER BY path FORMAT TabSeparated"
        ))
        .await;
    assert_eq!(
        kept,
        "IT\tRome\t/reset/[token]\thttps://shop.example/reset/[token]\nIT\tRome\t/unsubscribe/[email]\thttps://shop.example/unsubscribe/[email]"
    );
    // Not even the fragment's harmless parameters are kept.
    let fragment = pipeline
        .query(&format!(
            "SELECT url FROM `{database}`.events FINAL WHERE path = '/cb'"
        ))
        .await;
    assert_eq!(fragment, "https://shop.example/cb");
    pipeline.stop().await;
}

#[tokio::test]
async fn no_ip_phone_iban_or_disguised_email_reaches_clickhouse() {
    let pipeline = Pipeline::start("[sites.demo.collect]\nallowed_origins = []\n").await;
    // `&#64;` (EMAILS[6]) only in text: in a URL its `&` and `#` split it.
    let [e0, e1, e2, e3, e4, e5, _, e7] = EMAILS;
    let urls = [
        format!("https://shop.example/from/{IPV4}?v={IPV6}&page=2"),
        format!("https://shop.example/call/{PHONE_NATIONAL}?t={PHONE_INTERNATIONAL}&page=2"),
        format!("https://shop.example/pay/{IBAN}?to={IBAN_GROUPED}&page=2"),
        format!("https://shop.example/u/{e0}?a={e1}&b={e2}&c={e5}&page=2"),
        format!("https://shop.example/w/{e3}?d={e4}&page=2#{e7}"),
        format!(
            "https://shop.example/app#/orders/42/{IPV4}?tab=open&email={e0}&access_token={JWT}"
        ),
        format!("https://shop.example/p/7#tel={PHONE_INTERNATIONAL}&iban={IBAN}&state=ok"),
    ];
    let title = format!(
        "from {IPV4} and {IPV6}, call {PHONE_INTERNATIONAL} or {PHONE_NATIONAL}, pay {IBAN_GROUPED} or {IBAN}, write {}",
        EMAILS.join(" ")
    );
    let events: Vec<RawEvent> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let mut event = raw_event(&format!("v{i}"), 0);
            event.event_type = "custom".into();
            let context = event.context.as_mut().unwrap();
            context.url.clone_from(url);
            // An internal referrer keeps its (scrubbed) query and hash route.
            context.referrer = format!(
                "https://shop.example/account/{PHONE_NATIONAL}?ip={IPV6}&u={e5}&page=1#/r/{IPV4}?x={IBAN}&tab=1"
            );
            context.title.clone_from(&title);
            event.props_json = serde_json::json!({
                "name": "newsletter_signup",
                "ip": KEYED,
                "ip_address": KEYED,
                "username": KEYED,
                "userName": KEYED,
                "login": KEYED,
                "user": { "id": KEYED },
                "iban": KEYED,
                "phone": KEYED,
                "mail": KEYED,
                "cardNumber": KEYED,
                "account": KEYED,
                "note": title,
                "nested": { "href": url, "list": [PHONE_INTERNATIONAL, IBAN, IPV6, e2] },
            })
            .to_string();
            event
        })
        .collect();
    pipeline.send(&events).await;

    // The query does see the text columns, and what is kept is still there.
    for kept in [r"shop\\.example", "newsletter_signup", r"page=[12]"] {
        assert_eq!(pipeline.rows_matching(kept).await, events.len(), "{kept}");
    }
    pipeline
        .assert_none(&[
            ("an IPv4 address", r"198\\.51\\.100\\.23"),
            ("an IPv6 address", r"(?i)2001:0?db8"),
            ("a phone number", r"9018\\D{0,3}273[45]"),
            ("an IBAN", r"DE89|3704\\D?0044|WEST\\D?1234"),
            ("an e-mail address", ANY_EMAIL),
            ("a value under a sensitive key", KEYED),
            ("a token from a fragment", "eyJhbGciOiJIUzI1NiJ9"),
            ("the client network", r"203\\.0\\.113"),
        ])
        .await;
    let database = &pipeline.database;
    let select = |what: &str, rest: &str| {
        format!("SELECT {what} FROM `{database}`.events FINAL {rest} FORMAT TabSeparated")
    };
    // No stored URL or referrer keeps a fragment parameter.
    let parameters = pipeline
        .query(&select(
            "countIf(match(url, '#.*[?&=]') OR match(referrer, '#.*[?&=]'))",
            "",
        ))
        .await;
    assert_eq!(parameters, "0", "a fragment parameter reached ClickHouse");
    let title = pipeline.query(&select("DISTINCT title", "")).await;
    assert_eq!(
        title,
        "from [ip] and [ip], call [phone] or [phone], pay [iban] or [iban], write [email] [email] [email] [email] [email] [email] [email] [email]"
    );
    let referrer = pipeline.query(&select("DISTINCT referrer", "")).await;
    assert_eq!(
        referrer,
        "https://shop.example/account/[phone]?page=1#/r/[ip]"
    );
    let urls = pipeline.query(&select("url, path", "ORDER BY path")).await;
    assert_eq!(
        urls,
        [
            "https://shop.example/app#/orders/42/[ip]\t/app",
            "https://shop.example/call/[phone]?page=2\t/call/[phone]",
            "https://shop.example/from/[ip]?page=2\t/from/[ip]",
            "https://shop.example/p/7\t/p/7",
            "https://shop.example/pay/[iban]?page=2\t/pay/[iban]",
            "https://shop.example/u/[email]?page=2\t/u/[email]",
            "https://shop.example/w/[email]?page=2\t/w/[email]",
        ]
        .join("\n")
    );
    pipeline.stop().await;
}
