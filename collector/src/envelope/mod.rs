//! The tag's JSON envelope (`collector/README.md`, the envelope): parsing with field paths in every
//! error, and validation against the request limits. These field names are
//! the wire contract: extend, never rename. Unknown fields are ignored so an
//! older collector accepts a newer tag's envelope.

use std::collections::BTreeMap;

use fiducia_proto::consent::{EventType, Purpose};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

mod object;
#[cfg(test)]
mod tests;
mod validate;

use object::{object, objects};

/// Longest accepted string in the page context (URLs, titles).
const MAX_CONTEXT_CHARS: usize = 4096;
/// Longest accepted visitor or user id.
const MAX_ID_CHARS: usize = 128;
/// Deepest accepted nesting of a property's value (the tag sends flat
/// ones; the enricher reads each into a tree).
const MAX_PROP_DEPTH: usize = 32;

/// One request body.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Site id, e.g. `demo`.
    pub site: String,
    /// When the tag sent the batch (client clock, Unix ms).
    pub sent_at: i64,
    /// Consent snapshot; absent means everything denied.
    #[serde(default, deserialize_with = "object")]
    pub consent: Consent,
    /// Visitor identifiers, present only with consent.
    #[serde(default, deserialize_with = "object")]
    pub visitor: Visitor,
    /// Page context.
    #[serde(default, deserialize_with = "object")]
    pub context: Context,
    /// The events, in page order.
    #[serde(deserialize_with = "objects")]
    pub events: Vec<Event>,
}

/// A purpose's consent value on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentValue {
    /// `"granted"`
    Granted,
    /// `"denied"`
    Denied,
    /// Any other string: read as denied (fail closed), not refused, so a
    /// newer tag's values never break an older collector.
    Unknown,
}

impl ConsentValue {
    /// What a wire value means: `granted`, `denied`, anything else unknown.
    #[must_use]
    pub fn from_wire(value: &str) -> Self {
        match value {
            "granted" => Self::Granted,
            "denied" => Self::Denied,
            _ => Self::Unknown,
        }
    }
}

/// Read from the string in place (no copy of it), whatever it says; a
/// value that is not a string is malformed.
impl<'de> Deserialize<'de> for ConsentValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Wire;
        impl serde::de::Visitor<'_> for Wire {
            type Value = ConsentValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<ConsentValue, E> {
                Ok(ConsentValue::from_wire(value))
            }
        }
        deserializer.deserialize_str(Wire)
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
    /// The tag asks for a visitor id (it has none, measurement is
    /// granted): the collector mints one with its token
    /// (`collector/README.md`, The privacy center).
    #[serde(default)]
    pub issue: bool,
    /// Set by the collector when it minted `id` in this request.
    #[serde(skip)]
    pub issued: bool,
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
    let mut json = serde_json::Deserializer::from_str(text);
    object(&mut json)
        .and_then(|envelope| json.end().map(|()| envelope))
        .map_err(|_| explain_failure(text))
}

/// Why `text` is not an envelope, with the offending field's path.
fn explain_failure(text: &str) -> ApiError {
    let mut json = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let parsed: Result<Envelope, _> = object(serde_path_to_error::Deserializer::new(
        &mut json, &mut track,
    ));
    match parsed.map_err(|error| serde_path_to_error::Error::new(track.path(), error)) {
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
