//! URLs, scrubbed and split for analysts: the stored URL loses its user
//! info, query parameters under sensitive keys or holding personal data
//! (e-mail addresses, tokens, IP addresses, phone numbers, IBANs: see
//! [`super::scrub`]), ad click ids and `;jsessionid=`-style path
//! parameters; such data in path segments is replaced by its marker; the
//! path is normalised (repeated and trailing slashes removed). Of the
//! fragment only a hash route's path is kept (`#/orders/42`, for the tag's
//! hash-routed pages), scrubbed like a path: anchors and parameters
//! (`#access_token=...`, `#/cb?code=...`) never reach the enriched topic.
//! Campaign (UTM) fields and which click ids were present are read before
//! anything is removed.

use std::borrow::Cow;

use url::Url;
use url::form_urlencoded;

use super::scrub::{Scrubber, holds_personal_data};

/// Longest URL stored; longer ones are cut.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest UTM value kept; longer ones are cut (they are labels, not payloads).
const MAX_UTM_CHARS: usize = 200;

/// Ad click ids: their names are recorded, their values never kept. `true`
/// marks ids that only paid clicks carry.
const CLICK_IDS: &[(&str, bool)] = &[
    ("gclid", true),
    ("gbraid", true),
    ("wbraid", true),
    ("dclid", true),
    ("msclkid", true),
    ("ttclid", true),
    ("li_fat_id", true),
    ("epik", true),
    ("yclid", true),
    ("sccid", true),
    ("fbclid", false),
    ("twclid", false),
    ("igshid", false),
];

/// Campaign parameters of a URL (the UTM set Google Analytics recognises).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// `utm_source`
    pub source: String,
    /// `utm_medium`
    pub medium: String,
    /// `utm_campaign`
    pub campaign: String,
    /// `utm_term`
    pub term: String,
    /// `utm_content`
    pub content: String,
    /// `utm_id`
    pub id: String,
    /// `utm_source_platform`
    pub source_platform: String,
    /// `utm_creative_format`
    pub creative_format: String,
    /// `utm_marketing_tactic`
    pub marketing_tactic: String,
}

impl Campaign {
    fn slot(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "utm_source" => &mut self.source,
            "utm_medium" => &mut self.medium,
            "utm_campaign" => &mut self.campaign,
            "utm_term" => &mut self.term,
            "utm_content" => &mut self.content,
            "utm_id" => &mut self.id,
            "utm_source_platform" => &mut self.source_platform,
            "utm_creative_format" => &mut self.creative_format,
            "utm_marketing_tactic" => &mut self.marketing_tactic,
            _ => return None,
        })
    }

    /// Whether the URL names a campaign (source, medium or campaign set):
    /// the sessions' "new campaign" rule compares these three.
    #[must_use]
    pub fn is_set(&self) -> bool {
        !(self.source.is_empty() && self.medium.is_empty() && self.campaign.is_empty())
    }
}

/// A URL after scrubbing, with what analysts need from it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The URL to store.
    pub url: String,
    /// Lower-case host, when the URL parses and has one.
    pub host: Option<String>,
    /// Normalised path, `/` at least when the URL parses; empty when it does not.
    pub path: String,
    /// UTM fields.
    pub campaign: Campaign,
    /// Names of the click ids present, in [`CLICK_IDS`] order of first sight.
    pub click_ids: Vec<&'static str>,
    /// Whether one of them is a paid-only click id.
    pub paid_click: bool,
}

/// Scrubs and splits `raw`. A string that is not a hierarchical URL is
/// scrubbed as text and has no host or path.
#[must_use]
pub fn scrub(raw: &str, scrubber: &Scrubber) -> Scrubbed {
    let mut url = match Url::parse(raw.trim()) {
        Ok(url) if !url.cannot_be_a_base() => url,
        _ => {
            return Scrubbed {
                url: cut(&scrubber.text(raw), MAX_URL_CHARS),
                ..Scrubbed::default()
            };
        }
    };
    let mut out = Scrubbed::default();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    let query = url.query().and_then(|query| {
        filter_pairs(query, scrubber, |key, value| {
            if let Some(slot) = out.campaign.slot(key) {
                if slot.is_empty() {
                    *slot = cut(&scrubber.text(value.trim()), MAX_UTM_CHARS);
                }
                return false;
            }
            match CLICK_IDS.iter().find(|(name, _)| *name == key) {
                Some((name, paid)) => {
                    if !out.click_ids.contains(name) {
                        out.click_ids.push(name);
                    }
                    out.paid_click |= paid;
                    true
                }
                None => false,
            }
        })
    });
    if let Some(query) = query {
        url.set_query((!query.is_empty()).then_some(query.as_str()));
    }
    let path = clean_path(url.path(), scrubber);
    if let Cow::Owned(path) = &path {
        url.set_path(path);
    }
    out.path = url.path().to_owned();
    let fragment = url.fragment().map(|f| clean_fragment(f, scrubber));
    if let Some(fragment) = fragment
        && fragment.as_deref() != url.fragment()
    {
        url.set_fragment(fragment.as_deref());
    }
    out.host = url.host_str().map(str::to_ascii_lowercase);
    out.url = cut(url.as_str(), MAX_URL_CHARS);
    out
}

/// Cuts a scrubbed URL's query and fragment off (a scrubbed URL has no `?`
/// or `#` before them).
pub fn strip_query(url: &mut String) {
    if let Some(end) = url.find(['?', '#']) {
        url.truncate(end);
    }
}

/// Keeps the pairs of a query that carry nothing personal;
/// `extra_drop(lower-case key, value)` may drop more. `None` when every pair
/// is kept, else the new query (empty when none is left).
fn filter_pairs(
    query: &str,
    scrubber: &Scrubber,
    mut extra_drop: impl FnMut(&str, &str) -> bool,
) -> Option<String> {
    let mut kept = form_urlencoded::Serializer::new(String::new());
    let mut dropped = false;
    for raw in query.split('&').filter(|pair| !pair.is_empty()) {
        let Some((key, value)) = form_urlencoded::parse(raw.as_bytes()).next() else {
            continue;
        };
        let lower = key.to_ascii_lowercase();
        if extra_drop(&lower, &value)
            || scrubber.is_sensitive_key(&lower)
            || holds_personal_data(&key)
            || holds_personal_data(&value)
            || plus_kept_holds_personal_data(raw)
        {
            dropped = true;
        } else {
            kept.append_pair(&key, &value);
        }
    }
    dropped.then(|| kept.finish())
}

/// Whether the value of a raw `key=value` pair that starts with a literal
/// `+` holds personal data when that `+` is read as a plus rather than a
/// space (`tel=+49+30+1234567`, written by a script that does not encode it).
fn plus_kept_holds_personal_data(raw: &str) -> bool {
    let value = raw.split_once('=').map_or("", |(_, value)| value);
    value.strip_prefix('+').is_some_and(|rest| {
        let rest = rest.replace('+', " ");
        let rest = percent_encoding::percent_decode_str(&rest).decode_utf8_lossy();
        holds_personal_data(&format!("+{rest}"))
    })
}

/// The path without empty segments or `;param` suffixes, personal data in
/// its segments replaced by markers; borrowed when already clean.
fn clean_path<'a>(path: &'a str, scrubber: &Scrubber) -> Cow<'a, str> {
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        match scrubber.text(&decoded) {
            Cow::Borrowed(_) => out.push_str(segment),
            Cow::Owned(clean) => out.push_str(&clean),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    }
}

/// What is kept of a fragment: only a hash route's path (`/a/b` or
/// `!/a/b`), cleaned like a path and cut before anything query-like (`?`,
/// `&`, a segment with `=`, encoded or not). Anchors (`#reviews`) and
/// parameters (`#access_token=...`) are dropped. `None` when nothing is left.
fn clean_fragment(fragment: &str, scrubber: &Scrubber) -> Option<String> {
    let (bang, route) = match fragment.strip_prefix('!') {
        Some(route) => ("!", route),
        None => ("", fragment),
    };
    if !route.starts_with('/') {
        return None;
    }
    // Decoded first, so an encoded `%3F` or `%3D` is cut too.
    let route = percent_encoding::percent_decode_str(route).decode_utf8_lossy();
    let route = route.split(['?', '&']).next().unwrap_or_default();
    let route = match route.find('=') {
        Some(equals) => &route[..route[..equals].rfind('/').unwrap_or(0)],
        None => route,
    };
    Some(format!("{bang}{}", clean_path(route, scrubber)))
}

/// `text` cut to at most `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &str) -> Scrubbed {
        scrub(raw, &Scrubber::new(&["ref".to_owned()]))
    }

    #[test]
    fn paths_and_campaigns_are_split_out() {
        let page = s(
            "https://Shop.Example/p/42?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=red+shoes&utm_content=hero&utm_id=7&utm_source_platform=sa360&utm_creative_format=banner&utm_marketing_tactic=prospecting&x=1#top",
        );
        assert_eq!(page.host.as_deref(), Some("shop.example"));
        assert_eq!(page.path, "/p/42");
        assert_eq!(
            page.campaign,
            Campaign {
                source: "news".into(),
                medium: "email".into(),
                campaign: "spring sale".into(),
                term: "red shoes".into(),
                content: "hero".into(),
                id: "7".into(),
                source_platform: "sa360".into(),
                creative_format: "banner".into(),
                marketing_tactic: "prospecting".into(),
            }
        );
        // Nothing personal: the URL is kept as it came, less its anchor.
        assert_eq!(
            page.url,
            "https://shop.example/p/42?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=red+shoes&utm_content=hero&utm_id=7&utm_source_platform=sa360&utm_creative_format=banner&utm_marketing_tactic=prospecting&x=1"
        );
    }

    #[test]
    fn utm_edge_cases() {
        for (url, source) in [
            ("https://a.example/?UTM_SOURCE=Caps", "Caps"),
            (
                "https://a.example/?utm_source=first&utm_source=second",
                "first",
            ),
            ("https://a.example/?utm_source=", ""),
            ("https://a.example/?utm_source=%20padded%20", "padded"),
            ("https://a.example/?utm_source=a%40b.example", "[email]"),
            ("https://a.example/#utm_source=fragment", ""),
            ("https://a.example/", ""),
        ] {
            assert_eq!(s(url).campaign.source, source, "{url}");
        }
        assert_eq!(
            s(&format!("https://a.example/?utm_term={}", "x".repeat(500)))
                .campaign
                .term
                .len(),
            200
        );
        assert!(s("https://a.example/?utm_medium=cpc").campaign.is_set());
        assert!(!s("https://a.example/?utm_term=x").campaign.is_set());
    }

    #[test]
    fn click_ids_are_noted_and_removed() {
        let page = s("https://a.example/p?gclid=Cj0KCQ&fbclid=IwAR2&GCLID=again&x=1");
        assert_eq!(page.click_ids, ["gclid", "fbclid"]);
        assert!(page.paid_click);
        assert_eq!(page.url, "https://a.example/p?x=1");
        let organic = s("https://a.example/?fbclid=IwAR2");
        assert!(!organic.paid_click);
        assert_eq!(organic.url, "https://a.example/");
    }

    #[test]
    fn personal_data_is_scrubbed_from_urls() {
        for (raw, want) in [
            // Sensitive and configured keys, secret values, user info.
            (
                "https://shop.example/login?email=ada%40example.com&next=%2Fcart",
                "https://shop.example/login?next=%2Fcart",
            ),
            (
                "https://shop.example/?q=shoes&Token=abc&ref=friend42",
                "https://shop.example/?q=shoes",
            ),
            (
                "https://shop.example/?contact=ada@example.com",
                "https://shop.example/",
            ),
            (
                "https://shop.example/?k=d41d8cd98f00b204e9800998ecf8427e&page=2",
                "https://shop.example/?page=2",
            ),
            ("https://ada:secret@shop.example/", "https://shop.example/"),
            // Path segments and matrix parameters.
            (
                "https://shop.example/unsubscribe/ada@example.com",
                "https://shop.example/unsubscribe/[email]",
            ),
            (
                "https://shop.example/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl/done",
                "https://shop.example/reset/[token]/done",
            ),
            (
                "https://shop.example/cart;jsessionid=0AAB6C8DE415",
                "https://shop.example/cart",
            ),
            // IP addresses, phone numbers, IBANs and e-mail addresses in
            // any form: query pairs holding them go, path segments get markers.
            (
                "https://shop.example/?q=shoes&from=203.0.113.42",
                "https://shop.example/?q=shoes",
            ),
            (
                "https://shop.example/?v=2001:db8::1&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/ip/203.0.113.42/details",
                "https://shop.example/ip/[ip]/details",
            ),
            (
                "https://shop.example/q/%5B2001:db8::1%5D",
                "https://shop.example/q/[[ip]]",
            ),
            (
                "https://shop.example/?q=%2B49%2030%201234567&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/?t=+49+30+1234567&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/call/030-1234567",
                "https://shop.example/call/[phone]",
            ),
            (
                "https://shop.example/?x=DE89370400440532013000&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/pay/DE89%203704%200044%200532%200130%2000",
                "https://shop.example/pay/[iban]",
            ),
            (
                "https://shop.example/?to=ada%2540example.com&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/?to=ada@ex%C3%A4mple.de&page=2",
                "https://shop.example/?page=2",
            ),
            (
                "https://shop.example/u/ada%EF%BC%A0example.com",
                "https://shop.example/u/[email]",
            ),
            (
                "https://shop.example/?ip=10.0.0.1&user=ada&username=ada&login=ada&page=2",
                "https://shop.example/?page=2",
            ),
            // What only looks like it stays: versions, prices, ids, dates.
            (
                "https://shop.example/p/123456789?v=1.2.3&price=12.99&day=2026-12-06",
                "https://shop.example/p/123456789?v=1.2.3&price=12.99&day=2026-12-06",
            ),
            // Fragments: only a hash route's path is kept.
            (
                "https://app.example/cb#access_token=abc&token_type=bearer&expires_in=3600",
                "https://app.example/cb",
            ),
            (
                "https://app.example/#/account/ada@example.com?tab=1&session=x",
                "https://app.example/#/account/[email]",
            ),
            (
                "https://app.example/#!/orders/42/",
                "https://app.example/#!/orders/42",
            ),
            (
                "https://app.example/#/cb/access_token=x/more",
                "https://app.example/#/cb",
            ),
            (
                "https://app.example/#/search&q=ada",
                "https://app.example/#/search",
            ),
            (
                "https://app.example/#/from/203.0.113.42",
                "https://app.example/#/from/[ip]",
            ),
            ("https://app.example/p#reviews", "https://app.example/p"),
            (
                "https://app.example/p#ada@example.com",
                "https://app.example/p",
            ),
            ("https://app.example/p#", "https://app.example/p"),
            ("https://app.example/p#?a=1", "https://app.example/p"),
            // Text that is not a URL is scrubbed as text.
            ("mailto:ada@example.com", "mailto:[email]"),
            ("not a url ada@example.com", "not a url [email]"),
        ] {
            assert_eq!(s(raw).url, want, "{raw}");
        }
    }

    #[test]
    fn paths_are_normalised() {
        for (raw, path) in [
            ("https://a.example", "/"),
            ("https://a.example/", "/"),
            ("https://a.example//shop///shoes/", "/shop/shoes"),
            ("https://a.example/a/./b/../c", "/a/c"),
            ("https://a.example/caf%C3%A9/", "/caf%C3%A9"),
            ("not a url", ""),
            ("", ""),
        ] {
            assert_eq!(s(raw).path, path, "{raw}");
        }
    }

    #[test]
    fn long_and_hostile_urls_are_bounded() {
        let long = format!("https://a.example/{}", "é".repeat(5000));
        assert!(s(&long).url.chars().count() <= MAX_URL_CHARS);
        for raw in [
            "https://",
            "http://[::1",
            "https://a.example/%zz",
            "#",
            "?=",
        ] {
            let _ = s(raw);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_scrubbed_without_panicking(raw in ".{0,300}") {
            let out = s(&raw);
            proptest::prop_assert!(out.url.chars().count() <= MAX_URL_CHARS);
        }

        #[test]
        fn a_kept_fragment_is_a_route_without_parameters(fragment in "[ -~]{0,60}") {
            let out = s(&format!("https://app.example/p#{fragment}")).url;
            if let Some((_, kept)) = out.split_once('#') {
                proptest::prop_assert!(
                    kept.trim_start_matches('!').starts_with('/') && !kept.contains(['?', '&', '=']),
                    "#{fragment} -> {out}"
                );
            }
        }

        #[test]
        fn an_email_anywhere_in_a_url_is_removed(
            segments in proptest::collection::vec("[a-zA-Z0-9._~-]{0,12}", 0..4),
            key in "[a-z]{1,8}",
            value in "[a-zA-Z0-9 ]{0,12}",
            place in 0_usize..4,
        ) {
            let email = "ada.lovelace@example.com";
            let mut path = segments.join("/");
            let mut query = format!("{key}={value}");
            let mut fragment = String::from("top");
            match place {
                0 => path.push_str(&format!("/{email}")),
                1 => query.push_str(&format!("&{key}x={email}")),
                2 => fragment = format!("/route/{email}"),
                _ => query.push_str(&format!("&note={value}%20{}", email.replace('@', "%40"))),
            }
            let raw = format!("https://shop.example/{path}?{query}#{fragment}");
            let out = s(&raw).url;
            let decoded = percent_encoding::percent_decode_str(&out).decode_utf8_lossy().into_owned();
            proptest::prop_assert!(!decoded.contains("lovelace@example"), "{raw} -> {out}");
        }
    }
}
