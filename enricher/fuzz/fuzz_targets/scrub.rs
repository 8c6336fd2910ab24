//! Arbitrary text through everything the enricher does to page URLs,
//! referrers, titles and properties before they reach the enriched topic:
//! `url::scrub`, `Scrubber::text` and `Scrubber::props`. Nothing may panic,
//! and what comes out must obey the rules of `enrich::url` and
//! `enrich::scrub`, read here with independent checks:
//!
//! * no e-mail address or stand-alone IPv4 address that a simple regex
//!   finds is left in scrubbed text, in a scrubbed URL after its host
//!   (percent-decoded; the host is the site's, kept as it is), in campaign
//!   values or properties;
//! * scrubbing text twice changes nothing (a scrubbed text holds nothing the
//!   detectors find: the rule the detectors' property tests state);
//! * an http(s) URL keeps no user info, no empty path segment, no query
//!   pair under a sensitive or click-id key or holding personal
//!   data, and of its fragment only a hash route without parameters
//!   (`?`, `&`, `=`, encoded or not); a URL of another scheme keeps only
//!   its scheme and host; text that is no URL is scrubbed as text;
//! * properties keep no sensitive key at any depth.
#![no_main]

use std::sync::LazyLock;

use fiducia_enricher::enrich::scrub::{Scrubber, holds_personal_data};
use fiducia_enricher::enrich::url::{MAX_SCHEME_CHARS, MAX_URL_CHARS, Scrubbed, scrub};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use regex::Regex;
use serde_json::Value;
use url::Url;

/// An e-mail address as a simple tool finds one: ASCII, a literal `@`.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}").unwrap()
});

/// A dotted quad standing alone: each part at most 255 without a leading
/// zero, the first not 0, between spaces or punctuation. Quads glued to
/// letters, digits or dots (`v2.0.1.4`, `1.2.3.4.5`) are versions, left
/// alone by design, so this does not look for them.
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let first = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]?)";
    Regex::new(&format!(
        r#"(?:^|[\s,;:()<>\[\]"'=/]){first}(?:\.{octet}){{3}}(?:$|[\s,;:()<>\[\]"'/?&#])"#
    ))
    .unwrap()
});

/// The ad click ids (`enrich::url`): their names are noted, their pairs
/// never stay in a URL.
const CLICK_IDS: &[&str] = &[
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "epik",
    "yclid",
    "sccid",
    "fbclid",
    "twclid",
    "igshid",
];

/// Longest UTM value kept (`enrich::url`).
const MAX_UTM_CHARS: usize = 200;

fn assert_clean(what: &str, input: &str, out: &str) {
    assert!(
        !EMAIL.is_match(out),
        "{what} keeps an e-mail address: {input:?} -> {out:?}"
    );
    assert!(
        !IPV4.is_match(out),
        "{what} keeps an IPv4 address: {input:?} -> {out:?}"
    );
}

/// A stored URL after its host: path, query and fragment.
fn after_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find(['/', '?', '#']).map_or("", |at| &rest[at..])
}

fn check_url(input: &str, out: &Scrubbed, scrubber: &Scrubber) {
    assert!(
        out.url.chars().count() <= MAX_URL_CHARS,
        "{input:?}: too long"
    );
    for value in [
        &out.campaign.source,
        &out.campaign.medium,
        &out.campaign.campaign,
        &out.campaign.term,
        &out.campaign.content,
        &out.campaign.id,
        &out.campaign.source_platform,
        &out.campaign.creative_format,
        &out.campaign.marketing_tactic,
    ] {
        assert!(value.chars().count() <= MAX_UTM_CHARS);
        assert_clean("a campaign value", input, value);
    }
    let parsed = Url::parse(input.trim());
    let web = parsed
        .as_ref()
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
    match parsed {
        Ok(_) if web => check_web_url(input, out, scrubber),
        // Another scheme: only scheme and host are kept.
        Ok(url) if url.scheme().len() <= MAX_SCHEME_CHARS => {
            let rest = out
                .url
                .strip_prefix(url.scheme())
                .and_then(|rest| rest.strip_prefix(':'))
                .unwrap_or_else(|| panic!("{input:?} -> {:?}: scheme lost", out.url));
            let host = rest.strip_prefix("//").unwrap_or(rest);
            assert!(
                (rest.is_empty() || rest.starts_with("//")) && !host.contains(['/', '?', '#']),
                "{input:?} -> {:?}: more than scheme and host",
                out.url
            );
            assert_eq!((out.host.as_deref(), out.path.as_str()), (None, ""));
        }
        // No URL, or a scheme too long to be one: text.
        _ => {
            assert_eq!((out.host.as_deref(), out.path.as_str()), (None, ""));
            assert_clean("text that is no URL", input, &out.url);
        }
    }
}

fn check_web_url(input: &str, out: &Scrubbed, scrubber: &Scrubber) {
    // Read as an analyst reads it: percent-decoded.
    let rest = percent_decode_str(after_host(&out.url)).decode_utf8_lossy();
    assert_clean("a URL", input, &rest);
    if out.truncated {
        return; // Cut: what is left need not parse as it did.
    }
    let url = Url::parse(&out.url).unwrap_or_else(|e| panic!("{input:?} -> {:?}: {e}", out.url));
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{input:?} -> {:?}: user info kept",
        out.url
    );
    assert_eq!(out.host, url.host_str().map(str::to_ascii_lowercase));
    assert_eq!(out.path, url.path());
    assert!(
        out.path == "/" || (!out.path.contains("//") && !out.path.ends_with('/')),
        "{input:?} -> {:?}: path not normalised",
        out.url
    );
    for (key, value) in url.query_pairs() {
        let lower = key.to_ascii_lowercase();
        assert!(
            !CLICK_IDS.contains(&lower.as_str())
                && !scrubber.is_sensitive_key(&lower)
                && !holds_personal_data(&key)
                && !holds_personal_data(&value),
            "{input:?} -> {:?}: the pair {key:?}={value:?} kept",
            out.url
        );
    }
    if let Some(fragment) = url.fragment() {
        let decoded = percent_decode_str(fragment).decode_utf8_lossy();
        assert!(
            fragment.trim_start_matches('!').starts_with('/') && !decoded.contains(['?', '&', '=']),
            "{input:?} -> {:?}: the fragment is no route without parameters",
            out.url
        );
    }
}

fn check_props(input: &str, value: &Value, scrubber: &Scrubber) {
    match value {
        Value::String(text) if text.starts_with("http://") || text.starts_with("https://") => {
            let rest = percent_decode_str(after_host(text)).decode_utf8_lossy();
            assert_clean("a URL property", input, &rest);
        }
        Value::String(text) => {
            assert_clean("a text property", input, text);
            assert!(!holds_personal_data(text), "{input:?}: {text:?} kept");
        }
        Value::Array(items) => items.iter().for_each(|v| check_props(input, v, scrubber)),
        Value::Object(map) => {
            for (key, item) in map {
                assert!(
                    !scrubber.is_sensitive_key(key) && !holds_personal_data(key),
                    "{input:?}: the key {key:?} kept"
                );
                check_props(input, item, scrubber);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let scrubber = Scrubber::new(&["loyalty-card".to_owned()]);

    let text = scrubber.text(input);
    assert_clean("text", input, &text);
    assert_eq!(
        scrubber.text(&text),
        text,
        "{input:?}: scrubbed twice, changed again"
    );

    check_url(input, &scrub(input, &scrubber), &scrubber);

    let props = match scrubber.props(input) {
        Ok(Some(json)) => serde_json::from_str(&json).expect("props write JSON"),
        // Nothing changed: the input as it is must obey the rules.
        Ok(None) => serde_json::from_str(input).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    check_props(input, &props, &scrubber);
});
