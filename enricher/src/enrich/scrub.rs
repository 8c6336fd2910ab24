//! PII scrubbing of free text and event properties, the last stop before
//! Kafka's enriched topic (hence ClickHouse). In text, `detect` replaces
//! e-mail addresses (any script, full-width or small `@`, percent-encoded
//! once or twice, HTML entities) by `[email]`, IBANs with a valid checksum
//! by `[iban]`, IPv4 and IPv6 addresses by `[ip]`, phone numbers
//! (international, or national with separators) by `[phone]` and tokens
//! (JWTs, long random or hex strings) by `[token]`, leaving versions,
//! prices, ids, dates and UUIDs alone (`numbers` tells them apart). In
//! properties, values under sensitive keys (`email`, `password`, `token`,
//! `ip`, `username`, `iban`, `phone`, card numbers, the site's own list,
//! ...) are removed at any depth and other strings scrubbed as text, or as
//! URLs when they are ones. URLs use the same detectors and keys through
//! [`super::url`].

mod detect;
mod numbers;

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::Value;

pub use self::detect::{EMAIL, IBAN, IP, PHONE, TOKEN, holds_email, holds_personal_data, is_token};

/// Keys whose values are personal or secret wherever they appear: URL query
/// parameters, property names at any depth. Compared after lower-casing and
/// turning `-` into `_` (so `ipAddress` is `ipaddress`).
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
    "user",
    "login",
    "surname",
    "given_name",
    "family_name",
    "display_name",
    "nickname",
    "ip",
    "client_ip",
    "remote_ip",
    "remote_addr",
    "x_forwarded_for",
    "x_real_ip",
    "account",
    "account_id",
    "account_no",
    "card",
    "cc",
    "tax_id",
    // Per-recipient ids of e-mail tools: they name the subscriber.
    "mc_eid",
    "_hsenc",
    "vero_id",
];

/// Key parts that make any key sensitive (`customer_email`, `reset_token`,
/// `clientIpAddress`, `billing_iban`, ...). Not `name`: the tag's custom
/// events carry their own name under `name`, forms and products theirs; the
/// person-name keys are in [`SENSITIVE_KEYS`]. Nor `ip` or `card` alone,
/// parts of `zip`, `shipping` and `card_type`.
const SENSITIVE_KEY_PARTS: &[&str] = &[
    "email",
    "password",
    "passwd",
    "token",
    "secret",
    "ssn",
    "social_security",
    "phone",
    "ip_addr",
    "ipaddr",
    "username",
    "user_name",
    "iban",
    "account_number",
    "accountnumber",
    "bank_account",
    "credit_card",
    "creditcard",
    "card_number",
    "cardnumber",
    "cc_number",
    "ccnumber",
    "cvv",
    "cvc",
    "passport",
    "national_id",
];

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

    /// `text` with e-mail addresses, IBANs, IP addresses, phone numbers and
    /// tokens replaced by their markers; borrowed when clean.
    #[must_use]
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        detect::scrub(text)
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
                map.retain(|key, _| !self.is_sensitive_key(key) && !holds_personal_data(key));
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

/// Lower case, `-` as `_`.
fn normalise_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_include_the_sites_own() {
        let s = Scrubber::new(&["Loyalty-Card".to_owned()]);
        for (key, sensitive) in [
            ("email", true),
            ("E-Mail", true),
            ("mail", true),
            ("customer_email", true),
            ("newPassword", true),
            ("access_token", true),
            ("Authorization", true),
            ("loyalty_card", true),
            ("LOYALTY-CARD", true),
            ("ip", true),
            ("IP", true),
            ("ipAddress", true),
            ("client_ip_address", true),
            ("x-forwarded-for", true),
            ("username", true),
            ("userName", true),
            ("user_name", true),
            ("login", true),
            ("user", true),
            ("surname", true),
            ("iban", true),
            ("billing_iban", true),
            ("phone", true),
            ("mobile_phone", true),
            ("ssn", true),
            ("card", true),
            ("cc_number", true),
            ("creditCardNumber", true),
            ("cardNumber", true),
            ("cvv", true),
            ("account", true),
            ("bank_account_number", true),
            // Names of things, not of people: custom events, forms, products.
            ("name", false),
            ("page_name", false),
            ("event_name", false),
            ("product_name", false),
            ("user_agent", false),
            ("shipping", false),
            ("tip", false),
            ("ip_country", false),
            ("card_type", false),
            ("account_type", false),
            ("login_method", false),
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
            (
                r#"{"name":"newsletter_signup","ip":"203.0.113.9","phone":"030 1234567","iban":"DE89370400440532013000","note":"call +49 30 1234567 from 203.0.113.9 or 2001:db8::9","pay":"DE89 3704 0044 0532 0130 00"}"#,
                Some(
                    r#"{"name":"newsletter_signup","note":"call [phone] from [ip] or [ip]","pay":"[iban]"}"#,
                ),
            ),
            (
                r#"{"username":"ada","userName":"ada","login":"ada","user":{"id":7},"ipAddress":"x","cardNumber":"4111111111111111","to":"ada＠exämple.de"}"#,
                Some(r#"{"to":"[email]"}"#),
            ),
            (
                r#"{"sku":"123456789","price":"12.99","v":"1.2.3","day":"2026-12-06","id":"0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70"}"#,
                None,
            ),
        ] {
            let got = s.props(json).unwrap();
            let parse = |j: &str| serde_json::from_str::<Value>(j).unwrap();
            assert_eq!(got.as_deref().map(parse), want.map(parse), "{json}");
        }
        assert!(s.props("{not json").is_err());
    }

    proptest::proptest! {
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
