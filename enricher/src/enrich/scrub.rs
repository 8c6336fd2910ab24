//! PII scrubbing of free text and event properties: e-mail addresses and
//! tokens (JWTs, long random or hex strings) are replaced by `[email]` and
//! `[token]`, and properties under sensitive keys (`email`, `password`,
//! `token`, the site's own list, ...) are removed. URLs use the same
//! detectors through [`super::url`]. What is removed here never reaches
//! Kafka's enriched topic, hence never ClickHouse.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Replaces an e-mail address.
pub const EMAIL: &str = "[email]";
/// Replaces a token.
pub const TOKEN: &str = "[token]";

/// Keys whose values are personal or secret wherever they appear: URL query
/// and fragment parameters, property names. Compared after lower-casing and
/// turning `-` into `_`.
const SENSITIVE_KEYS: &[&str] = &[
    "mail",
    "e_mail",
    "pass",
    "pwd",
    "auth",
    "authorization",
    "api_key",
    "apikey",
    "client_secret",
    "session",
    "session_id",
    "sessionid",
    "sid",
    "jsessionid",
    "phpsessid",
    "code",
    "otp",
    "pin",
    "tel",
    "telephone",
    "mobile",
    "first_name",
    "firstname",
    "last_name",
    "lastname",
    "full_name",
    "fullname",
    "address",
    "street",
    "zip",
    "zipcode",
    "postcode",
    "postal_code",
    "dob",
    "birthdate",
    "birthday",
    "signature",
    "sig",
    "x_amz_credential",
    "x_goog_credential",
    "uid",
    "user_id",
    "userid",
    "customer_id",
    // Per-recipient ids of e-mail tools: they name the subscriber.
    "mc_eid",
    "_hsenc",
    "vero_id",
];

/// Key parts that make any key sensitive (`customer_email`, `reset_token`, ...).
const SENSITIVE_KEY_PARTS: &[&str] = &[
    "email", "password", "passwd", "token", "secret", "ssn", "phone",
];

/// E-mail addresses, also with a percent-encoded `@`.
static EMAIL_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
        .expect("a valid static regex")
});

/// Runs of the characters tokens are made of, which [`is_token`] then judges.
static RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9_\-+/=.~]{24,}").expect("a valid static regex"));

/// Shortest run of token characters judged by [`is_token`].
const MIN_TOKEN_CHARS: usize = 32;

/// Whether a run of token characters is a token: a JWT, a long hex string
/// (hashes, ids), or a long string mixing upper case, lower case and digits
/// the way random ones do (few separators, frequent letter/digit changes),
/// so slugs such as `red-running-shoes-size-42` are left alone.
#[must_use]
pub fn is_token(run: &str) -> bool {
    if run.starts_with("eyJ") && run.matches('.').count() >= 2 {
        return true;
    }
    if run.len() < MIN_TOKEN_CHARS {
        return false;
    }
    let body = run.trim_end_matches('=');
    if body.len() >= MIN_TOKEN_CHARS && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    let (mut upper, mut lower, mut digit, mut separators, mut changes) = (0, 0, 0, 0, 0);
    let mut last_digit = None;
    for b in body.bytes() {
        match b {
            b'A'..=b'Z' => upper += 1,
            b'a'..=b'z' => lower += 1,
            b'0'..=b'9' => digit += 1,
            _ => separators += 1,
        }
        let is_digit = b.is_ascii_digit();
        if last_digit.is_some_and(|d| d != is_digit) {
            changes += 1;
        }
        last_digit = Some(is_digit);
    }
    upper > 0 && lower > 0 && digit > 0 && separators * 10 <= body.len() && changes >= 6
}

/// Cheap pre-check: can `text` hold an e-mail address or a token at all?
fn may_hold_secret(text: &str) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        if b == b'@' || b == b'%' {
            return true;
        }
        if b.is_ascii_alphanumeric() || b"_-+/=.~".contains(&b) {
            run += 1;
            if run >= 24 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Whether `text` contains an e-mail address or a token.
#[must_use]
pub fn holds_secret(text: &str) -> bool {
    may_hold_secret(text)
        && (EMAIL_ADDRESS.is_match(text) || RUN.find_iter(text).any(|m| is_token(m.as_str())))
}

/// The scrubbing rules of one site: the built-in sensitive keys plus its own.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    site_keys: HashSet<String>,
}

impl Scrubber {
    /// Rules with the site's extra sensitive keys (any case).
    #[must_use]
    pub fn new(site_keys: &[String]) -> Self {
        Self {
            site_keys: site_keys.iter().map(|k| normalise_key(k)).collect(),
        }
    }

    /// Whether values under `key` must not be kept.
    #[must_use]
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        let key = normalise_key(key);
        SENSITIVE_KEYS.contains(&key.as_str())
            || SENSITIVE_KEY_PARTS.iter().any(|part| key.contains(part))
            || self.site_keys.contains(&key)
    }

    /// `text` with e-mail addresses and tokens replaced; borrowed when clean.
    #[must_use]
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !may_hold_secret(text) {
            return Cow::Borrowed(text);
        }
        // E-mail addresses first: a run of token characters may end inside one.
        let text = match EMAIL_ADDRESS.replace_all(text, EMAIL) {
            Cow::Borrowed(text) => text,
            Cow::Owned(clean) => {
                return Cow::Owned(tokens(&clean).into_owned());
            }
        };
        tokens(text)
    }

    /// A string value: URLs are scrubbed as URLs, other text as text.
    #[must_use]
    pub fn value<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.starts_with("http://") || text.starts_with("https://") {
            Cow::Owned(super::url::scrub(text, self).url)
        } else {
            self.text(text)
        }
    }

    /// The event's properties (a JSON object) scrubbed: sensitive keys
    /// removed at any depth, string values scrubbed. `None` when nothing
    /// changed, so the original text is kept as is.
    ///
    /// # Errors
    /// When `json` is not valid JSON (validation rejects that earlier).
    pub fn props(&self, json: &str) -> Result<Option<String>, serde_json::Error> {
        if json.is_empty() || json == "{}" {
            return Ok(None);
        }
        let mut value: Value = serde_json::from_str(json)?;
        if self.scrub_value(&mut value) {
            Ok(Some(serde_json::to_string(&value)?))
        } else {
            Ok(None)
        }
    }

    /// Scrubs in place; true when anything changed.
    fn scrub_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(text) => match self.value(text) {
                Cow::Borrowed(_) => false,
                Cow::Owned(clean) => {
                    *text = clean;
                    true
                }
            },
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.scrub_value(item);
                }
                changed
            }
            Value::Object(map) => {
                let before = map.len();
                map.retain(|key, _| !self.is_sensitive_key(key) && !holds_secret(key));
                let mut changed = map.len() != before;
                for item in map.values_mut() {
                    changed |= self.scrub_value(item);
                }
                changed
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
}

/// `text` with its tokens replaced.
fn tokens(text: &str) -> Cow<'_, str> {
    RUN.replace_all(text, |c: &regex::Captures<'_>| {
        let run = &c[0];
        if is_token(run) {
            TOKEN.to_owned()
        } else {
            run.to_owned()
        }
    })
}

/// Lower case, `-` as `_`.
fn normalise_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_from_slugs_and_ids() {
        for (run, token) in [
            // JWT
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                true,
            ),
            ("d41d8cd98f00b204e9800998ecf8427e", true), // md5
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                true,
            ), // sha256
            ("Xk9mQ2vL7pR4tY8wZ3nB6cF1hJ5sD0gA", true), // random base62
            ("AbCdEf12GhIj34KlMn56OpQr78StUv90WxYz", true),
            ("red-running-shoes-for-men-size-42-black", false),
            ("MyProduct-Name-2024-Edition-Special-Blue", false),
            ("0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", false), // a UUID stays an id
            ("averyveryverylongwordwithoutanydigitsatall", false),
            ("short1A", false),
        ] {
            assert_eq!(is_token(run), token, "{run}");
        }
    }

    #[test]
    fn text_loses_emails_and_tokens_and_keeps_the_rest() {
        let s = Scrubber::default();
        for (text, want) in [
            ("Welcome back, ada@example.com!", "Welcome back, [email]!"),
            ("ADA.Lovelace+news@Mail.Example.CO.UK", "[email]"),
            ("contact%40example.com", "[email]"),
            // A run of token characters that ends inside an address.
            ("aAAAaAaaA0A/ada@example.com", "aAAAaAaaA0A/[email]"),
            (
                "reset with d41d8cd98f00b204e9800998ecf8427e today",
                "reset with [token] today",
            ),
            ("Red shoes | Shop", "Red shoes | Shop"),
            (
                "order 0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70",
                "order 0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70",
            ),
            ("50% off", "50% off"),
            ("", ""),
        ] {
            assert_eq!(s.text(text), want, "{text}");
        }
        assert!(matches!(s.text("Red shoes"), Cow::Borrowed(_)));
    }

    #[test]
    fn sensitive_keys_include_the_sites_own() {
        let s = Scrubber::new(&["Loyalty-Card".to_owned()]);
        for (key, sensitive) in [
            ("email", true),
            ("E-Mail", true),
            ("customer_email", true),
            ("newPassword", true),
            ("access_token", true),
            ("Authorization", true),
            ("loyalty_card", true),
            ("LOYALTY-CARD", true),
            ("product_id", false),
            ("utm_source", false),
            ("q", false),
        ] {
            assert_eq!(s.is_sensitive_key(key), sensitive, "{key}");
        }
    }

    #[test]
    fn properties_lose_sensitive_keys_and_secrets_at_any_depth() {
        let s = Scrubber::default();
        for (json, want) in [
            ("{}", None),
            ("", None),
            (r#"{"product":"shoes","price":42}"#, None),
            (
                r#"{"email":"a@b.example","product":"shoes"}"#,
                Some(r#"{"product":"shoes"}"#),
            ),
            (
                r#"{"note":"mail me at a@b.example","n":[1,"x"]}"#,
                Some(r#"{"n":[1,"x"],"note":"mail me at [email]"}"#),
            ),
            (
                r#"{"form":{"fields":[{"password":"hunter2","name":"login"}]}}"#,
                Some(r#"{"form":{"fields":[{"name":"login"}]}}"#),
            ),
            (
                r#"{"href":"https://shop.example/reset?token=abc&x=1"}"#,
                Some(r#"{"href":"https://shop.example/reset?x=1"}"#),
            ),
            (r#"{"a@b.example":1}"#, Some("{}")),
        ] {
            let got = s.props(json).unwrap();
            let parse = |j: &str| serde_json::from_str::<Value>(j).unwrap();
            assert_eq!(got.as_deref().map(parse), want.map(parse), "{json}");
        }
        assert!(s.props("{not json").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_text_keeps_an_email_or_a_token(text in ".{0,200}") {
            let clean = Scrubber::default().text(&text).into_owned();
            proptest::prop_assert!(!holds_secret(&clean), "{text:?} -> {clean:?}");
        }

        #[test]
        fn an_email_anywhere_in_text_is_removed(
            before in "[ -~]{0,40}",
            after in "[ -~]{0,40}",
        ) {
            let text = format!("{before}ada.lovelace@example.com{after}");
            let clean = Scrubber::default().text(&text).into_owned();
            proptest::prop_assert!(!clean.contains("lovelace@example"), "{text:?} -> {clean:?}");
        }

        #[test]
        fn properties_never_panic_and_lose_their_emails(key in "[a-z]{1,12}", value in "[ -~]{0,40}") {
            let json = serde_json::json!({ key.clone(): format!("{value} ada@example.com"), "n": [value] });
            let clean = Scrubber::default().props(&json.to_string()).unwrap().unwrap_or_default();
            proptest::prop_assert!(!clean.contains("ada@example.com"), "{json} -> {clean}");
        }
    }
}
