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

use super::scrub::{Scrubber, holds_email, holds_personal_data};

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
    /// Whether `url` was cut to [`MAX_URL_CHARS`] (and scrubbed again): it
    /// need not parse as the host and path below say.
    pub truncated: bool,
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

/// The longest scheme kept as a scheme: registered ones stay under 32
/// characters (`ms-settings-cloudstorage`, `com-eventbrite-attendee`).
pub const MAX_SCHEME_CHARS: usize = 32;

/// Scrubs and splits `raw`. A URL of another scheme than http(s) keeps its
/// scheme and host only (`android-app://com.google.android.gm` stays an app
/// referrer; `javascript:…` and `data:…` become `javascript:` and `data:`,
/// never stored as they came). A string that is not a URL, or whose scheme
/// is longer than [`MAX_SCHEME_CHARS`] (no real scheme is; a cut one would
/// be neither the scheme nor scrubbed text), is scrubbed as text and has no
/// host or path.
#[must_use]
pub fn scrub(raw: &str, scrubber: &Scrubber) -> Scrubbed {
    let mut url = match Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        Ok(url) if url.scheme().len() <= MAX_SCHEME_CHARS => {
            // Cut like any URL: an opaque host is percent-encoded, three
            // characters for each control byte (found by enricher/fuzz).
            let kept = match url.host_str() {
                Some(host) => format!("{}://{}", url.scheme(), host.to_ascii_lowercase()),
                None => format!("{}:", url.scheme()),
            };
            return Scrubbed {
                url: cut(&kept, MAX_URL_CHARS, scrubber),
                ..Scrubbed::default()
            };
        }
        // No URL, or a "scheme" longer than any real one: text.
        _ => {
            return Scrubbed {
                url: cut(&scrubber.text(raw), MAX_URL_CHARS, scrubber),
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
                    *slot = cut(&scrubber.text(value.trim()), MAX_UTM_CHARS, scrubber);
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
    out.truncated = url.as_str().chars().nth(MAX_URL_CHARS).is_some();
    out.url = cut(url.as_str(), MAX_URL_CHARS, scrubber);
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
    let mut kept = Vec::new();
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
            kept.push((key, value));
        }
    }
    if !dropped {
        return None;
    }
    // Rebuilt, a pair's spaces become `+`: a pair that, so written, holds
    // personal data when its pluses are read as pluses (`78 @004.com` ->
    // `78+@004.com`, found by enricher/fuzz) is dropped too.
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in kept {
        let pair = form_urlencoded::Serializer::new(String::new())
            .append_pair(&key, &value)
            .finish();
        if !plus_kept_holds_personal_data(&pair) {
            query.append_pair(&key, &value);
        }
    }
    Some(query.finish())
}

/// Whether a raw `key=value` pair holds personal data when a literal `+`
/// in it, written by a script that does not encode it, is read as a plus
/// rather than a space: an e-mail address with every one (`ada+@example.com`,
/// a sub-address, in the key or the value), or anything with a value's
/// leading one before spaces (`tel=+49+30+1234567`). Only addresses for
/// the first: a browser writes spaces as `+`, and read as pluses they would
/// join the words of a search into something token-like.
fn plus_kept_holds_personal_data(raw: &str) -> bool {
    let (key, value) = raw.split_once('=').unwrap_or((raw, ""));
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    [key, value]
        .into_iter()
        .any(|part| part.contains('+') && holds_email(&decode(part)))
        || value.strip_prefix('+').is_some_and(|rest| {
            holds_personal_data(&format!("+{}", decode(&rest.replace('+', " "))))
        })
}

/// The path without empty segments or `;param` suffixes, personal data in
/// its segments replaced by markers; borrowed when already clean. A
/// segment that is `.` or `..` once its `;param` is cut (`..;jsessionid=1`)
/// is dropped too: kept, the URL would read it as a step up.
fn clean_path<'a>(path: &'a str, scrubber: &Scrubber) -> Cow<'a, str> {
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if matches!(&*decoded, "" | "." | "..") {
            continue;
        }
        out.push('/');
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
/// `text`, already scrubbed, cut to at most `max` characters. A cut can
/// turn what the scrubber leaves alone by design into what it removes: the
/// version-like `192.168.1.1.10` cut to `192.168.1.1` is an address (found
/// by enricher/fuzz), because the detectors judge a word by where it ends.
/// So a cut text is scrubbed once more. Only over-long texts pay for it.
fn cut(text: &str, max: usize, scrubber: &Scrubber) -> String {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return text.to_owned();
    };
    let again = scrubber.text(&text[..end]);
    // A marker may be a character longer than what it replaced.
    match again.char_indices().nth(max) {
        Some((end, _)) => again[..end].to_owned(),
        None => again.into_owned(),
    }
}

#[cfg(test)]
mod tests;
