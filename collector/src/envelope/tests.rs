//! Envelopes the tag sends, and the malformed ones it must not.

use super::*;
use crate::config::Limits;

const ID: &str = "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70";

// Times in these bodies (the contract's example instant) are only
// parsed and checked for sign, never compared with a clock.
fn body(events: &str) -> String {
    format!(
        r#"{{"site":"demo","sent_at":1764000000000,"consent":{{"measurement":"granted"}},
           "visitor":{{"id":"v-1"}},"context":{{"url":"https://shop.example/"}},"events":{events}}}"#
    )
}

fn event(id: &str) -> String {
    format!(r#"{{"id":"{id}","type":"page_view","ts":1764000000000,"seq":1,"props":{{}}}}"#)
}

fn check(text: &str) -> Result<Vec<Checked>, ApiError> {
    parse(text.as_bytes())?.validate(&Limits::default())
}

fn reason_and_field(text: &str) -> (&'static str, Option<String>) {
    let error = check(text).unwrap_err();
    let field = match &error {
        ApiError::InvalidField { field, .. } | ApiError::PropsTooLarge { field, .. } => {
            Some(field.clone())
        }
        _ => None,
    };
    (error.reason(), field)
}

#[test]
fn the_spec_example_envelope_is_accepted() {
    let spec = r#"{
      "site": "demo", "sent_at": 1764000000000,
      "consent": {"measurement": "granted", "personalization": "denied", "functional": "denied",
                  "source": "api", "notice_version": "2026-01", "tcf": "CQ", "gpp": "DB", "gpc": false},
      "visitor": {"id": "0193abc", "user_id": null},
      "context": {"url": "https://shop.example/p/42?utm_source=news", "referrer": "https://www.google.com/",
                  "title": "Red shoes", "lang": "it-IT", "tz": "Europe/Rome",
                  "screen": [1920, 1080], "viewport": [1280, 800]},
      "events": [{"id": "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", "type": "page_view", "ts": 1764000000000, "seq": 1, "props": {}}]
    }"#;
    let ids = check(spec).unwrap();
    assert_eq!(ids.len(), 1);
    let envelope = parse(spec.as_bytes()).unwrap();
    assert_eq!(envelope.consent.measurement, Some(ConsentValue::Granted));
    // An unknown value is read as denied, never as a grant or an error.
    let newer = parse(
        spec.replace("\"denied\", \"functional\"", "\"exempt\", \"functional\"")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(newer.consent.personalization, Some(ConsentValue::Unknown));
    assert_eq!(envelope.context.viewport, Some([1280, 800]));
}

#[test]
fn each_malformed_input_has_its_reason_and_field() {
    let two = format!("[{},{}]", event(ID), event(ID));
    let v4 = event("9b2c1f6e-8d1a-4c3b-9f10-2b3c4d5e6f70");
    let big_props = r#"[{"id":"0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70","type":"click","ts":1,"props":{"k":"XXXX"}}]"#
        .replace("XXXX", &"x".repeat(3000));
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{".into(), "invalid_json", None),
        ("[]".into(), "invalid_field", Some("(root)")),
        (body("[]"), "empty_batch", None),
        (body(&two), "invalid_field", Some("events[1].id")),
        (
            body(&format!("[{v4}]")),
            "invalid_field",
            Some("events[0].id"),
        ),
        (
            body(&format!("[{}]", event(ID).replace("page_view", "teleport"))),
            "invalid_field",
            Some("events[0].type"),
        ),
        (
            body(&format!(
                "[{}]",
                event(ID).replace("1764000000000", "\"soon\"")
            )),
            "invalid_field",
            Some("events[0].ts"),
        ),
        (
            body(&format!(
                "[{}]",
                event(ID).replace(r#""ts":1764000000000,"#, "")
            )),
            "invalid_field",
            Some("events[0]"),
        ),
        (
            body(&big_props),
            "props_too_large",
            Some("events[0].props.k"),
        ),
        (
            body(&format!("[{}]", event(ID))).replace("\"granted\"", "7"),
            "invalid_field",
            Some("consent.measurement"),
        ),
        (
            body(&format!("[{}]", event(ID)))
                .replace("\"granted\"", "\"granted\",\"source\":\"a b\""),
            "invalid_field",
            Some("consent.source"),
        ),
        (
            body(&format!("[{}]", event(ID))).replace("v-1", "v 1"),
            "invalid_field",
            Some("visitor.id"),
        ),
        (
            body(&format!("[{}]", event(ID))).replace("1764000000000,\"consent", "-5,\"consent"),
            "invalid_field",
            Some("sent_at"),
        ),
        (
            body(&format!("[{}]", event(ID))) + "garbage",
            "invalid_json",
            None,
        ),
    ];
    for (text, reason, field) in cases {
        let (got_reason, got_field) = reason_and_field(&text);
        assert_eq!(got_reason, reason, "{text}");
        if let Some(field) = field {
            assert_eq!(got_field.as_deref(), Some(field), "{text}");
        }
    }
}

#[test]
fn a_page_url_is_http_or_https_or_nothing() {
    let with_url = |url: &str| {
        body(&format!("[{}]", event(ID))).replace(
            r#""url":"https://shop.example/""#,
            &format!(r#""url":{}"#, serde_json::Value::from(url)),
        )
    };
    for url in [
        "",
        "https://shop.example/p/1",
        "http://127.0.0.1:8000/",
        "HTTPS://Shop.Example/",
    ] {
        assert!(check(&with_url(url)).is_ok(), "{url}");
    }
    for url in [
        "javascript:alert(document.cookie)",
        "JavaScript:void(0)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "about:blank",
        " https://shop.example/",
        "//shop.example/",
        "https:",
    ] {
        assert_eq!(
            reason_and_field(&with_url(url)),
            ("invalid_field", Some("context.url".to_owned())),
            "{url}"
        );
    }
}

#[test]
fn properties_pass_through_as_sent_in_one_json_object() {
    let props = r#"{"b": [1, {"x": null}], "a\"q": "v", "n": 4.50}"#;
    let envelope = parse(
        body(&format!(
            "[{}]",
            event(ID).replace(r#""props":{}"#, &format!(r#""props":{props}"#))
        ))
        .as_bytes(),
    )
    .unwrap();
    let json = envelope.events[0].props_json();
    assert_eq!(json, r#"{"a\"q":"v","b":[1, {"x": null}],"n":4.50}"#);
    let reparsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reparsed["b"][1]["x"], serde_json::Value::Null);
    assert_eq!(
        parse(body(&format!("[{}]", event(ID))).as_bytes())
            .unwrap()
            .events[0]
            .props_json(),
        "{}"
    );
}

#[test]
fn too_many_events_and_too_many_props_are_refused() {
    let limits = Limits {
        max_events_per_batch: 2,
        max_props_per_event: 1,
        ..Limits::default()
    };
    let ids: Vec<String> = (0..3)
        .map(|_| event(&uuid::Uuid::now_v7().to_string()))
        .collect();
    let envelope = parse(body(&format!("[{}]", ids.join(","))).as_bytes()).unwrap();
    assert_eq!(
        envelope.validate(&limits).unwrap_err().reason(),
        "too_many_events"
    );
    let props = event(ID).replace(r#""props":{}"#, r#""props":{"a":1,"b":2}"#);
    let envelope = parse(body(&format!("[{props}]")).as_bytes()).unwrap();
    assert_eq!(
        envelope.validate(&limits).unwrap_err().reason(),
        "props_too_large"
    );
}

#[test]
fn invalid_utf8_is_its_own_reason() {
    assert_eq!(
        parse(b"{\"site\":\"\xff\"}").unwrap_err().reason(),
        "invalid_utf8"
    );
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let text = body(&format!("[{}]", event(ID))).replacen('{', r#"{"future_field":{"x":1},"#, 1);
    assert_eq!(check(&text).unwrap().len(), 1);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
}

#[test]
fn a_property_nests_at_most_32_deep_and_holds_only_unicode_text() {
    let with_props = |props: &str| {
        body(&format!(
            "[{}]",
            event(ID).replace(r#""props":{}"#, &format!(r#""props":{{"k":{props}}}"#))
        ))
    };
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for props in [
        r#""\ud83d\ude00""#.to_owned(), // a surrogate pair: one character
        r#"{"a":[1,-2.5e3,true,null,"\u00e9"]}"#.to_owned(),
        nested(32),
    ] {
        assert!(check(&with_props(&props)).is_ok(), "{props}");
    }
    for props in [
        r#""\ud800""#.to_owned(),       // lone high surrogate
        r#"["x","\udc00"]"#.to_owned(), // lone low surrogate
        r#"{"\ud800":1}"#.to_owned(),   // in a nested key
        "1e400".to_owned(),             // no reader holds it
        nested(33),
    ] {
        assert_eq!(
            reason_and_field(&with_props(&props)),
            ("invalid_field", Some("events[0].props.k".to_owned())),
            "{props}"
        );
    }
}

#[test]
fn the_envelope_and_its_parts_are_objects_never_arrays_of_their_fields() {
    let valid = body(&format!("[{}]", event(ID)));
    for (array, field) in [
        (r#"["demo",1764000000000,{},{},{},[]]"#.to_owned(), "(root)"),
        (
            valid.replace(r#"{"measurement":"granted"}"#, r#"["granted"]"#),
            "consent",
        ),
        (valid.replace(r#"{"id":"v-1"}"#, r#"["v-1"]"#), "visitor"),
        (
            valid.replace(
                r#"{"url":"https://shop.example/"}"#,
                r#"["https://shop.example/"]"#,
            ),
            "context",
        ),
        (
            valid.replace(
                &event(ID),
                &format!(r#"["{ID}","page_view",1764000000000]"#),
            ),
            "events[0]",
        ),
    ] {
        assert_eq!(
            reason_and_field(&array),
            ("invalid_field", Some(field.to_owned())),
            "{array}"
        );
    }
}
