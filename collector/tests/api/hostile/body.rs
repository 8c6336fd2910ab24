//! Bodies that are not the envelope they claim to be: malformed, truncated
//! or mistyped JSON, deep nesting, text that is not Unicode, duplicate keys,
//! and page URLs of other schemes. Each is a `400` with its reason (and the
//! field, where there is one), counted, and nothing of it is published.

use super::{answer, assert_refused, good, refused, spawn, spawn_with, still_serves};

/// `body` with the first `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    let body = good();
    assert!(body.contains(from), "{from} not in {body}");
    body.replacen(from, to, 1)
}

#[tokio::test]
async fn malformed_truncated_and_mistyped_json_is_400_naming_the_field() {
    let collector = spawn();
    let body = good();
    let cases = vec![
        refused("empty", "", 400, "invalid_json"),
        refused("not json", "{nope", 400, "invalid_json"),
        refused(
            "truncated",
            body.as_bytes()[..body.len() / 2].to_vec(),
            400,
            "invalid_json",
        ),
        refused("trailing garbage", format!("{body}}}"), 400, "invalid_json"),
        refused(
            "two envelopes",
            format!("{body}{body}"),
            400,
            "invalid_json",
        ),
        refused("null", "null", 400, "invalid_field").field("(root)"),
        refused("an array", "[]", 400, "invalid_field").field("(root)"),
        // serde's derive would read a struct from its fields in order.
        refused(
            "the envelope as an array of its fields",
            r#"["demo",1764000000000,{},{},{},[]]"#,
            400,
            "invalid_field",
        )
        .field("(root)"),
        refused(
            "consent as an array",
            edit(r#""consent":{"#, r#""consent":["granted"],"c":{"#),
            400,
            "invalid_field",
        )
        .field("consent"),
        refused(
            "an event as an array",
            edit(
                r#""events":["#,
                r#""events":[["0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70","click",1]],"e":["#,
            ),
            400,
            "invalid_field",
        )
        .field("events[0]"),
        refused(
            "site a number",
            edit(r#""site":"demo""#, r#""site":5"#),
            400,
            "invalid_field",
        )
        .field("site"),
        refused(
            "sent_at a string",
            edit(r#""sent_at":"#, r#""sent_at":"1","x":"#),
            400,
            "invalid_field",
        )
        .field("sent_at"),
        refused(
            "consent a string",
            edit(r#""consent":{"#, r#""consent":"granted","c":{"#),
            400,
            "invalid_field",
        )
        .field("consent"),
        refused(
            "events an object",
            edit(r#""events":["#, r#""events":{"x":1},"e":["#),
            400,
            "invalid_field",
        )
        .field("events"),
        refused(
            "props an array",
            edit(r#""props":{"el":"a#buy"}"#, r#""props":["a#buy"]"#),
            400,
            "invalid_field",
        )
        .field("events[0].props"),
        refused(
            "seq negative",
            edit(r#""seq":0"#, r#""seq":-1"#),
            400,
            "invalid_field",
        )
        .field("events[0].seq"),
        refused(
            "ts beyond i64",
            edit(r#""ts":"#, r#""ts":99999999999999999999,"t":"#),
            400,
            "invalid_field",
        )
        .field("events[0].ts"),
        refused(
            "a number no reader holds",
            edit(r#""sent_at":"#, r#""sent_at":1e400,"x":"#),
            400,
            "invalid_json",
        ),
        refused(
            "screen of one",
            edit(r#""context":{"#, r#""context":{"screen":[1],"#),
            400,
            "invalid_field",
        )
        .field("context.screen"),
        refused(
            "visitor id a number",
            edit(r#""id":"visitor-1""#, r#""id":7"#),
            400,
            "invalid_field",
        )
        .field("visitor.id"),
    ];
    assert_refused(&collector, cases).await;
    still_serves(&collector).await;
}

#[tokio::test]
async fn deep_nesting_never_reaches_the_stack_and_is_refused_by_its_limit() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep = nested(100_000);
    let in_props = |value: &str| edit(r#""el":"a#buy""#, &format!(r#""el":{value}"#));
    // Bodies past 200 kB: the limit on the body is raised so the parser is what meets them.
    let collector = spawn_with(|c| {
        c.limits.max_body_bytes = 1 << 20;
        c.limits.max_prop_bytes = 1 << 20;
    });
    let cases = vec![
        refused(
            "100k arrays in a property",
            in_props(&deep),
            400,
            "invalid_field",
        )
        .field("events[0].props.el"),
        refused(
            "33 arrays in a property",
            in_props(&nested(33)),
            400,
            "invalid_field",
        )
        .field("events[0].props.el"),
        refused(
            "100k arrays as the envelope",
            deep.clone(),
            400,
            "invalid_field",
        )
        .field("(root)"),
        refused(
            "100k arrays as the context",
            edit(r#""context":{"#, &format!(r#""context":{deep},"c":{{"#)),
            400,
            "invalid_field",
        )
        .field("context"),
        refused(
            "100k objects in a property",
            in_props(&format!(
                "{}1{}",
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            )),
            400,
            "invalid_field",
        )
        .field("events[0].props.el"),
    ];
    assert_refused(&collector, cases).await;
    // Nesting the collector does not read (an unknown field) is skipped
    // without recursion, and stored nowhere.
    let ignored = edit(r#""site":"#, &format!(r#""future":{deep},"site":"#));
    assert_eq!(answer(&collector, ignored, &[]).await, (204, String::new()));
    // 32 levels is what a property may nest.
    assert_eq!(answer(&collector, in_props(&nested(32)), &[]).await.0, 204);
    still_serves(&collector).await;
    // With the default limits, the body's own limit meets the deep one first.
    let collector = spawn();
    assert_eq!(
        answer(&collector, in_props(&deep), &[]).await,
        (413, "too_large".to_owned())
    );
}

#[tokio::test]
async fn text_that_is_not_unicode_is_refused_wherever_it_is() {
    let collector = spawn();
    let mut never_utf8 = good().into_bytes();
    let at = never_utf8.windows(3).position(|w| w == b"Red").unwrap();
    never_utf8[at] = 0xFF;
    let mut overlong = good().into_bytes();
    let at = overlong.windows(4).position(|w| w == b"demo").unwrap();
    overlong.splice(at..at + 4, [0xC0, 0xAF]); // "/" encoded in two bytes
    let cases = vec![
        refused(
            "a byte that is never UTF-8",
            never_utf8,
            400,
            "invalid_utf8",
        ),
        refused("an overlong encoding", overlong, 400, "invalid_utf8"),
        refused(
            "a lone surrogate in a string",
            edit("Red shoes", r"Red \ud800 shoes"),
            400,
            "invalid_json",
        ),
        refused(
            "a lone low surrogate in a key",
            edit(r#""el":"#, r#""\udc00":1,"el":"#),
            400,
            "invalid_json",
        ),
        refused(
            "a lone surrogate in a property",
            edit(r#""a#buy""#, r#""\ud800""#),
            400,
            "invalid_field",
        )
        .field("events[0].props.el"),
        refused(
            "deep in a property",
            edit(r#""a#buy""#, r#"{"x":["\udfff"]}"#),
            400,
            "invalid_field",
        )
        .field("events[0].props.el"),
    ];
    assert_refused(&collector, cases).await;
    // A surrogate pair is one character, and welcome.
    let emoji = edit("Red shoes", r"Red \ud83d\udc60");
    assert_eq!(answer(&collector, emoji, &[]).await.0, 204);
}

#[tokio::test]
async fn a_duplicate_key_never_lets_a_second_value_decide() {
    let collector = spawn();
    let grant = r#""measurement":"granted""#;
    let cases = vec![
        refused(
            "site twice",
            edit(r#""site":"demo""#, r#""site":"nosuch","site":"demo""#),
            400,
            "invalid_field",
        )
        .field("(root)"),
        refused(
            "consent twice",
            edit(
                r#""consent":{"#,
                r#""consent":{"measurement":"denied"},"consent":{"#,
            ),
            400,
            "invalid_field",
        )
        .field("(root)"),
        refused(
            "a purpose twice",
            edit(grant, r#""measurement":"denied","measurement":"granted""#),
            400,
            "invalid_field",
        )
        .field("consent"),
        refused(
            "updated_at twice",
            edit(r#""updated_at":"#, r#""updated_at":1,"updated_at":"#),
            400,
            "invalid_field",
        )
        .field("consent"),
        refused(
            "visitor id twice",
            edit(r#""id":"visitor-1""#, r#""id":"a","id":"visitor-1""#),
            400,
            "invalid_field",
        )
        .field("visitor"),
        refused(
            "events twice",
            edit(r#""events":["#, r#""events":[],"events":["#),
            400,
            "invalid_field",
        )
        .field("(root)"),
        refused(
            "an event's type twice",
            edit(r#""type":"click""#, r#""type":"consent","type":"click""#),
            400,
            "invalid_field",
        )
        .field("events[0]"),
    ];
    // The field named is the object that holds the key twice.
    assert_refused(&collector, cases).await;
    // Properties are data, not decisions: the last value of a key wins,
    // and the event carries each key once.
    let props = edit(r#""el":"a#buy""#, r#""el":"first","el":"last""#);
    assert_eq!(answer(&collector, props, &[]).await.0, 204);
    let published = collector.publisher.published();
    assert_eq!(published[0].1.props_json, r#"{"el":"last"}"#);
}

#[tokio::test]
async fn a_page_url_that_is_not_http_is_refused() {
    let collector = spawn();
    let page = "https://shop.example/p/42?utm_source=news";
    let cases = vec![
        refused(
            "javascript:",
            edit(page, "javascript:alert(document.cookie)"),
            400,
            "invalid_field",
        )
        .field("context.url"),
        refused(
            "data:",
            edit(page, "data:text/html;base64,PHNjcmlwdD4="),
            400,
            "invalid_field",
        )
        .field("context.url"),
        refused(
            "file:",
            edit(page, "file:///etc/passwd"),
            400,
            "invalid_field",
        )
        .field("context.url"),
    ];
    assert_refused(&collector, cases).await;
    still_serves(&collector).await;
}
