//! What a contextual answer may know: the current request alone. The page's
//! category and item come from the site's `enrich` rules (`categories`,
//! `items`), the referrer's class from `document.referrer`, the device class
//! from the User-Agent, the time of day from the clock in the site's time
//! zone. No identifier, no cookie, no stored state about the visitor.
//!
//! The `enrich` section is the enricher's, which checks every key of it;
//! the collector reads the four keys it needs with a lenient view
//! ([`EnrichView`]) that ignores the rest, so the enricher stays the one
//! strict checker and a key added there never stops a collector.

use std::borrow::Cow;

use fiducia_runtime::referrer;
use fiducia_runtime::service::sites::category::{Categories, CategoryRule};
use fiducia_runtime::service::sites::items::{ItemRule, Items};
use jiff::tz::TimeZone;
use serde::Deserialize;

/// The keys of a site's `enrich` section the collector reads.
#[derive(Debug, Default, Deserialize)]
pub struct EnrichView {
    time_zone: Option<String>,
    #[serde(default)]
    internal_hosts: Vec<String>,
    #[serde(default)]
    categories: Vec<CategoryRule>,
    #[serde(default)]
    items: Vec<ItemRule>,
}

/// A site's page rules, compiled.
#[derive(Debug, Clone)]
pub struct PageRules {
    /// Page categories by path.
    pub categories: Categories,
    /// Item ids by path.
    pub items: Items,
    /// The site's time zone (time of day).
    pub time_zone: TimeZone,
    /// Hosts besides the page's own whose referrers are internal.
    pub internal_hosts: Vec<String>,
}

impl Default for PageRules {
    fn default() -> Self {
        Self {
            categories: Categories::default(),
            items: Items::default(),
            time_zone: TimeZone::UTC,
            internal_hosts: Vec::new(),
        }
    }
}

impl PageRules {
    /// Compiles a site's view of `enrich`.
    ///
    /// # Errors
    /// `key: reason` (relative to the section) on a time zone, category or
    /// item rule the enricher would refuse too.
    pub fn compile(view: &EnrichView) -> Result<Self, String> {
        let time_zone = match view.time_zone.as_deref() {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|e| format!("time_zone: {name:?}: {e}"))?,
        };
        Ok(Self {
            categories: Categories::compile(&view.categories)
                .map_err(|e| format!("categories: {e}"))?,
            items: Items::compile(&view.items).map_err(|e| format!("items: {e}"))?,
            time_zone,
            internal_hosts: view
                .internal_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        })
    }
}

/// The request's context, as the answer states it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Context {
    /// The page's most specific category (the last matching rule), or
    /// empty.
    pub category: String,
    /// `direct`, `internal`, `search`, `social`, `email` or `other`.
    pub referrer_class: &'static str,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device: &'static str,
    /// `morning` (5-12), `afternoon` (12-18), `evening` (18-23) or
    /// `night`, in the site's time zone.
    pub time_of_day: &'static str,
    /// The page's item, if it is about one (excluded from its items).
    #[serde(skip)]
    pub item: String,
    /// Every category of the page, most specific last.
    #[serde(skip)]
    pub categories: Vec<String>,
}

/// The request facts a context is made of.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The page path (`location.pathname`).
    pub path: &'a str,
    /// `document.referrer` (a URL, or empty).
    pub referrer: &'a str,
    /// The page's host (from `Origin`), for internal referrers.
    pub page_host: Option<&'a str>,
    /// The User-Agent header.
    pub user_agent: &'a str,
    /// The clock now, Unix ms.
    pub now_ms: i64,
}

/// Longest path looked at.
const MAX_PATH_CHARS: usize = 2048;

/// The context of `request` on a site with `rules`.
#[must_use]
pub fn context(rules: &PageRules, request: &Request<'_>) -> Context {
    let path = clean_path(request.path);
    let categories = rules.categories.of(path);
    let referrer_host = url::Url::parse(request.referrer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let class = referrer::classify(
        referrer_host.as_deref(),
        request.page_host,
        "",
        false,
        &rules.internal_hosts,
    )
    .class;
    Context {
        category: categories.last().cloned().unwrap_or_default(),
        referrer_class: match class {
            referrer::ReferrerClass::Paid => "other",
            other => other.as_str(),
        },
        device: crate::accept::strip::device_class(request.user_agent),
        time_of_day: time_of_day(&rules.time_zone, request.now_ms),
        item: rules.items.of(path, "").to_owned(),
        categories,
    }
}

/// The path without query or fragment, bounded.
fn clean_path(path: &str) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.char_indices().nth(MAX_PATH_CHARS) {
        Some((end, _)) => &path[..end],
        None => path,
    }
}

/// The part of the day at `now_ms` in `zone`.
#[must_use]
pub fn time_of_day(zone: &TimeZone, now_ms: i64) -> &'static str {
    let hour = jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| zone.to_datetime(t).hour())
        .unwrap_or(0);
    match hour {
        5..=11 => "morning",
        12..=17 => "afternoon",
        18..=22 => "evening",
        _ => "night",
    }
}

/// The host of an `Origin` value (`scheme://host[:port]`), as a URL parse
/// gives it. What browsers send (a lowercase ASCII name, or a dotted IPv4
/// address) is taken as it stands, without allocating; anything else (upper
/// case, IPv6, a path, a number the URL rules rewrite, such as `0x7f.1`) is
/// parsed. A full parse was 5% of a contextual answer's CPU.
#[must_use]
pub fn origin_host(origin: &str) -> Option<Cow<'_, str>> {
    let plain = origin
        .split_once("://")
        .and_then(|(_, rest)| match rest.split_once(':') {
            None => Some(rest),
            Some((host, port)) => (port.is_empty()
                || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()))
            .then_some(host),
        })
        .filter(|host| is_plain_host(host));
    if let Some(host) = plain {
        return Some(Cow::Borrowed(host));
    }
    let url = url::Url::parse(origin).ok()?;
    url.host_str().map(|host| Cow::Owned(host.to_owned()))
}

/// Whether a URL parse leaves `host` as it is: non-empty dot-separated
/// labels of lowercase letters, digits and `-`, the last one a name (not a
/// number, which the URL rules read as part of an IPv4 address), or four
/// decimal numbers of 0-255 without leading zeros.
fn is_plain_host(host: &str) -> bool {
    let labels = || host.split('.');
    let name_chars = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let decimal_octet =
        |label: &str| label.parse::<u8>().is_ok() && (label == "0" || !label.starts_with('0'));
    let Some(last) = labels().next_back() else {
        return false;
    };
    let last_is_name = last.bytes().any(|b| b.is_ascii_lowercase() || b == b'-')
        && !(last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if last_is_name {
        return labels().all(name_chars);
    }
    labels().count() == 4 && labels().all(decimal_octet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PageRules {
        let view: EnrichView = toml::from_str(
            r#"
            time_zone = "Europe/Rome"
            scrub_query_keys = ["ref"]
            [[categories]]
            name = "product"
            path_prefix = "/p/"
            [[categories]]
            name = "shoes"
            path_prefix = "/p/shoes/"
            [[items]]
            path_regex = "^/p/[^/]+/([^/]+)"
            "#,
        )
        .unwrap();
        PageRules::compile(&view).unwrap()
    }

    const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

    #[test]
    fn the_context_comes_from_the_request_alone() {
        // 2026-12-07 19:30 UTC, 20:30 in Rome.
        let now = 1_796_671_800_000;
        let context = context(
            &rules(),
            &Request {
                path: "/p/shoes/runner-7?utm_source=x#top",
                referrer: "https://www.google.com/search?q=shoes",
                page_host: Some("shop.example"),
                user_agent: PHONE,
                now_ms: now,
            },
        );
        assert_eq!(context.category, "shoes");
        assert_eq!(context.categories, ["product", "shoes"]);
        assert_eq!(context.item, "runner-7");
        assert_eq!(context.referrer_class, "search");
        assert_eq!(context.device, "mobile");
        assert_eq!(context.time_of_day, "evening");
    }

    #[test]
    fn referrers_are_classed() {
        for (referrer, class) in [
            ("", "direct"),
            ("not a url", "direct"),
            ("https://shop.example/p/hats/", "internal"),
            ("https://www.facebook.com/", "social"),
            ("https://blog.example/", "other"),
        ] {
            let got = context(
                &rules(),
                &Request {
                    path: "/",
                    referrer,
                    page_host: Some("shop.example"),
                    user_agent: "",
                    now_ms: 0,
                },
            );
            assert_eq!(got.referrer_class, class, "{referrer}");
            assert_eq!(got.category, "");
        }
    }

    #[test]
    fn hours_map_to_parts_of_the_day_in_the_sites_zone() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        let hour = |h: i64| 1_796_601_600_000 + h * 3_600_000; // 2026-12-07 00:00 UTC
        assert_eq!(time_of_day(&rome, hour(4)), "morning"); // 05:00 Rome
        assert_eq!(time_of_day(&rome, hour(11)), "afternoon");
        assert_eq!(time_of_day(&rome, hour(17)), "evening");
        assert_eq!(time_of_day(&rome, hour(22)), "night");
        assert_eq!(time_of_day(&TimeZone::UTC, hour(22)), "evening");
    }

    #[test]
    fn the_enrichers_other_keys_are_ignored_and_bad_rules_refused() {
        let bad: EnrichView = toml::from_str("time_zone = \"Mars/Olympus\"").unwrap();
        assert!(
            PageRules::compile(&bad)
                .unwrap_err()
                .starts_with("time_zone:")
        );
    }

    mod origin_host {
        use std::borrow::Cow;

        use proptest::prelude::*;

        use super::super::origin_host;

        /// What the URL parse of the whole value gives: the oracle.
        fn parsed(origin: &str) -> Option<String> {
            url::Url::parse(origin).ok()?.host_str().map(str::to_owned)
        }

        #[test]
        fn browser_origins_are_read_without_a_parse_and_agree_with_one() {
            for origin in [
                "https://shop.example",
                "http://127.0.0.1:8080",
                "https://xn--bcher-kva.example",
                "http://localhost:3000",
                "https://a-b.c9.example",
            ] {
                let host = origin_host(origin).expect(origin);
                assert!(matches!(host, Cow::Borrowed(_)), "{origin}");
                assert_eq!(Some(host.into_owned()), parsed(origin), "{origin}");
            }
        }

        #[test]
        fn other_origins_are_parsed() {
            for origin in [
                "HTTPS://SHOP.EXAMPLE",
                "http://0x7f.1",
                "http://1.2.3",
                "http://010.0.0.1",
                "http://[::1]:8080",
                "https://shop.example/path",
                "https://shop.example.",
                "http://a:%",
                "http://a:99999",
                "http://a:",
                "null",
                "",
            ] {
                assert_eq!(
                    origin_host(origin).map(Cow::into_owned),
                    parsed(origin),
                    "{origin}"
                );
            }
        }

        proptest! {
            /// Any value made of the characters an origin's host can hold
            /// gives the host a URL parse gives.
            #[test]
            fn the_host_is_the_url_parses(
                scheme in "(http|https|HTTP|ftp)",
                host in "[a-zA-Z0-9.\\-x:\\[\\]/%]{0,24}",
            ) {
                let origin = format!("{scheme}://{host}");
                prop_assert_eq!(origin_host(&origin).map(Cow::into_owned), parsed(&origin));
            }
        }
    }
}
