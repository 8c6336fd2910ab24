//! The tag's JSON envelope (SPEC section 4): parsing with field paths in every
//! error, and validation against the request limits. These field names are
//! the wire contract: extend, never rename. Unknown fields are ignored so an
//! older collector accepts a newer tag's envelope.

use std::collections::BTreeMap;

use fiducia_proto::consent::{EventType, Purpose};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::Limits;
use crate::error::ApiError;

/// Longest accepted string in the page context (URLs, titles).
const MAX_CONTEXT_CHARS: usize = 4096;
/// Longest accepted visitor or user id.
const MAX_ID_CHARS: usize = 128;

/// One request body.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Site id, e.g. `demo`.
    pub site: String,
    /// When the tag sent the batch (client clock, Unix ms).
    pub sent_at: i64,
    /// Consent snapshot; absent means everything denied.
    #[serde(default)]
    pub consent: Consent,
    /// Visitor identifiers, present only with consent.
    #[serde(default)]
    pub visitor: Visitor,
    /// Page context.
    #[serde(default)]
    pub context: Context,
    /// The events, in page order.
    pub events: Vec<Event>,
}

/// A purpose's consent value on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum ConsentValue {
    /// `"granted"`
    Granted,
    /// `"denied"`
    Denied,
    /// Any other string: read as denied (fail closed), not refused, so a
    /// newer tag's values never break an older collector.
    Unknown,
}

impl From<String> for ConsentValue {
    fn from(value: String) -> Self {
        match value.as_str() {
            "granted" => Self::Granted,
            "denied" => Self::Denied,
            _ => Self::Unknown,
        }
    }
}

/// The envelope's consent snapshot. A missing purpose is denied.
#[derive(Debug, Default, Deserialize)]
pub struct Consent {
    /// `measurement`
    pub measurement: Option<ConsentValue>,
    /// `personalization`
    pub personalization: Option<ConsentValue>,
    /// `functional`
    pub functional: Option<ConsentValue>,
    /// `contextual`
    pub contextual: Option<ConsentValue>,
    /// Where the tag's state came from (`api`, `tcf`, `gcm`, `cmp`).
    #[serde(default)]
    pub source: String,
    /// Version of the notice shown.
    #[serde(default)]
    pub notice_version: String,
    /// IAB TCF v2 TC string.
    #[serde(default)]
    pub tcf: String,
    /// IAB GPP string.
    #[serde(default)]
    pub gpp: String,
    /// `navigator.globalPrivacyControl`.
    #[serde(default)]
    pub gpc: bool,
    /// `navigator.doNotTrack === "1"`.
    #[serde(default)]
    pub dnt: bool,
    /// When the visitor made this choice (client clock, Unix ms). A grant
    /// without it, or older than the site's maximum age, grants nothing.
    pub updated_at: Option<i64>,
}

impl Consent {
    /// What the tag says about `purpose` (`necessary` is not asked).
    #[must_use]
    pub const fn value(&self, purpose: Purpose) -> Option<ConsentValue> {
        match purpose {
            Purpose::Necessary => None,
            Purpose::Measurement => self.measurement,
            Purpose::Personalization => self.personalization,
            Purpose::Functional => self.functional,
            Purpose::Contextual => self.contextual,
        }
    }
}

/// Visitor identifiers.
#[derive(Debug, Default, Deserialize)]
pub struct Visitor {
    /// Anonymous visitor id (only with consent).
    pub id: Option<String>,
    /// First-party user id after `identify`.
    pub user_id: Option<String>,
}

/// The page the events happened on.
#[derive(Debug, Default, Deserialize)]
pub struct Context {
    /// Page URL.
    #[serde(default)]
    pub url: String,
    /// Document referrer.
    #[serde(default)]
    pub referrer: String,
    /// Document title.
    #[serde(default)]
    pub title: String,
    /// Browser language, e.g. `it-IT`.
    #[serde(default)]
    pub lang: String,
    /// IANA time zone, e.g. `Europe/Rome`.
    #[serde(default)]
    pub tz: String,
    /// Screen `[width, height]`.
    pub screen: Option<[u32; 2]>,
    /// Viewport `[width, height]`.
    pub viewport: Option<[u32; 2]>,
}

/// One event.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// UUIDv7 minted by the tag.
    pub id: String,
    /// One of [`EventType`]'s wire names.
    #[serde(rename = "type")]
    pub kind: String,
    /// Client time, Unix ms.
    pub ts: i64,
    /// Per-page sequence number.
    #[serde(default)]
    pub seq: u32,
    /// Event properties: each value is kept as the JSON text the tag sent,
    /// checked for syntax but never built into a tree (it is published as
    /// it came, see [`Event::props_json`]).
    #[serde(default)]
    pub props: BTreeMap<String, Box<RawValue>>,
}

/// A validated event id (its 16 bytes).
pub type EventId = [u8; 16];

/// What validation learnt about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The event id's bytes.
    pub id: EventId,
    /// The event type.
    pub kind: EventType,
}

/// Parses a body into an envelope; errors name the offending field.
///
/// Valid bodies take the plain `serde_json` path; only a body that fails is
/// parsed again to find the field's path (tracking the path on every body
/// cost over a third of the parse time, `benches/README.md`).
///
/// # Errors
/// [`ApiError::InvalidUtf8`], [`ApiError::InvalidJson`] or [`ApiError::InvalidField`].
pub fn parse(body: &[u8]) -> Result<Envelope, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::InvalidUtf8)?;
    serde_json::from_str(text).map_err(|_| explain_failure(text))
}

/// Why `text` is not an envelope, with the offending field's path.
fn explain_failure(text: &str) -> ApiError {
    let mut json = serde_json::Deserializer::from_str(text);
    let parsed: Result<Envelope, _> = serde_path_to_error::deserialize(&mut json);
    match parsed {
        Err(error) => {
            let field = error.path().to_string();
            let inner = error.into_inner();
            if inner.is_data() {
                ApiError::InvalidField {
                    field: if field == "." { "(root)".into() } else { field },
                    message: inner.to_string(),
                }
            } else {
                ApiError::InvalidJson(inner.to_string())
            }
        }
        Ok(_) => match json.end() {
            Err(error) => ApiError::InvalidJson(error.to_string()),
            // Both parsers agree on every input; this is not reached.
            Ok(()) => ApiError::InvalidJson("not a valid envelope".into()),
        },
    }
}

impl Envelope {
    /// Checks every rule that parsing cannot, and returns each event's id
    /// and type, in order.
    ///
    /// # Errors
    /// The first rule broken, with the field's path.
    pub fn validate(&self, limits: &Limits) -> Result<Vec<Checked>, ApiError> {
        if self.events.is_empty() {
            return Err(ApiError::EmptyBatch);
        }
        if self.events.len() > limits.max_events_per_batch {
            return Err(ApiError::TooManyEvents {
                count: self.events.len(),
                max: limits.max_events_per_batch,
            });
        }
        if self.sent_at <= 0 {
            return Err(invalid(
                "sent_at",
                "must be a positive Unix time in milliseconds",
            ));
        }
        for (field, value, max) in [
            ("consent.source", &self.consent.source, 32),
            ("consent.notice_version", &self.consent.notice_version, 64),
        ] {
            let tame = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
            if value.len() > max || !tame {
                return Err(invalid(
                    field,
                    format!("must be at most {max} of [A-Za-z0-9._:-]"),
                ));
            }
        }
        if self.consent.updated_at.is_some_and(|t| t <= 0) {
            return Err(invalid(
                "consent.updated_at",
                "must be a positive Unix time in milliseconds",
            ));
        }
        for (field, value) in [
            ("visitor.id", &self.visitor.id),
            ("visitor.user_id", &self.visitor.user_id),
        ] {
            if let Some(id) = value {
                check_id(field, id)?;
            }
        }
        let c = &self.context;
        for (field, value) in [
            ("context.url", &c.url),
            ("context.referrer", &c.referrer),
            ("context.title", &c.title),
            ("context.lang", &c.lang),
            ("context.tz", &c.tz),
            ("consent.tcf", &self.consent.tcf),
            ("consent.gpp", &self.consent.gpp),
        ] {
            if value.chars().count() > MAX_CONTEXT_CHARS {
                return Err(invalid(
                    field,
                    format!("longer than {MAX_CONTEXT_CHARS} characters"),
                ));
            }
        }
        let mut checked: Vec<Checked> = Vec::with_capacity(self.events.len());
        for (index, event) in self.events.iter().enumerate() {
            let this = event.validate(index, limits)?;
            if checked.iter().any(|c| c.id == this.id) {
                return Err(invalid(
                    format!("events[{index}].id"),
                    "duplicate event id in the batch",
                ));
            }
            checked.push(this);
        }
        Ok(checked)
    }
}

impl Event {
    fn validate(&self, index: usize, limits: &Limits) -> Result<Checked, ApiError> {
        let path = |field: &str| format!("events[{index}].{field}");
        let id = uuid::Uuid::try_parse(&self.id)
            .ok()
            .filter(|id| id.get_version_num() == 7)
            .ok_or_else(|| invalid(path("id"), "must be a UUIDv7"))?;
        let kind = EventType::parse(&self.kind).ok_or_else(|| {
            invalid(
                path("type"),
                format!(
                    "unknown event type; one of {:?}",
                    EventType::ALL.map(EventType::as_str)
                ),
            )
        })?;
        if self.ts <= 0 {
            return Err(invalid(
                path("ts"),
                "must be a positive Unix time in milliseconds",
            ));
        }
        if self.props.len() > limits.max_props_per_event {
            return Err(ApiError::PropsTooLarge {
                field: path("props"),
                message: format!(
                    "{} properties; at most {} are accepted",
                    self.props.len(),
                    limits.max_props_per_event
                ),
            });
        }
        for (key, value) in &self.props {
            let size = key.len() + value.get().len();
            if size > limits.max_prop_bytes {
                return Err(ApiError::PropsTooLarge {
                    field: path(&format!("props.{key}")),
                    message: format!(
                        "{size} bytes; at most {} are accepted",
                        limits.max_prop_bytes
                    ),
                });
            }
        }
        Ok(Checked {
            id: id.into_bytes(),
            kind,
        })
    }

    /// The properties as one JSON object, built from the values' own text.
    #[must_use]
    pub fn props_json(&self) -> String {
        self.props_json_where(|_| true)
    }

    /// The properties whose key passes `keep`, as one JSON object.
    #[must_use]
    pub fn props_json_where(&self, keep: impl Fn(&str) -> bool) -> String {
        let kept = || self.props.iter().filter(|(k, _)| keep(k));
        let mut json = String::with_capacity(
            2 + kept()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum::<usize>(),
        );
        json.push('{');
        for (i, (key, value)) in kept().enumerate() {
            if i > 0 {
                json.push(',');
            }
            // A key is a JSON string; serializing one cannot fail.
            json.push_str(&serde_json::to_string(key).unwrap_or_default());
            json.push(':');
            json.push_str(value.get());
        }
        json.push('}');
        json
    }
}

fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    let tame = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.is_empty() || id.len() > MAX_ID_CHARS || !tame {
        return Err(invalid(
            field,
            format!("must be 1-{MAX_ID_CHARS} of [A-Za-z0-9_-]"),
        ));
    }
    Ok(())
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::InvalidField {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70";

    // Times in these bodies (SPEC section 4's example instant) are only
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
                body(&format!("[{}]", event(ID)))
                    .replace("1764000000000,\"consent", "-5,\"consent"),
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
        let text =
            body(&format!("[{}]", event(ID))).replacen('{', r#"{"future_field":{"x":1},"#, 1);
        assert_eq!(check(&text).unwrap().len(), 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
