//! The rules parsing cannot check: ids, sizes, times and per-type fields,
//! against the request limits.

use std::fmt;

use fiducia_proto::consent::EventType;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Checked, Envelope, Event, MAX_CONTEXT_CHARS, MAX_ID_CHARS, MAX_PROP_DEPTH};
use crate::config::Limits;
use crate::error::ApiError;

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
        if !is_web_url(&c.url) {
            return Err(invalid(
                "context.url",
                "must be an http(s) URL (the page the tag runs on)",
            ));
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
            readable(value.get()).map_err(|error| {
                invalid(
                    path(&format!("props.{key}")),
                    format!("not JSON every reader takes back: {error}"),
                )
            })?;
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

/// Checks what the envelope's parse skipped in a property's text, kept
/// unparsed (`RawValue`): that it reads back as a JSON value, as the
/// enricher reads it, into a tree. Skipping checks neither that strings
/// decode to Unicode (a lone surrogate escape such as `"\ud800"` passes
/// it) nor how deep the value nests (it never recurses), so without this a
/// property could pass here and fail downstream, after its `204`.
fn readable(json: &str) -> Result<(), serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_str(json);
    Readable {
        levels: MAX_PROP_DEPTH,
    }
    .deserialize(&mut reader)?;
    reader.end()
}

/// Any JSON value nested at most `levels` deep, read in full (strings
/// decoded) and thrown away.
#[derive(Clone, Copy)]
struct Readable {
    levels: usize,
}

impl Readable {
    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        let levels = self
            .levels
            .checked_sub(1)
            .ok_or_else(|| E::custom(format!("nested deeper than {MAX_PROP_DEPTH} levels")))?;
        Ok(Self { levels })
    }
}

impl<'de> DeserializeSeed<'de> for Readable {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Readable {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while items.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while entries.next_entry_seed(inner, inner)?.is_some() {}
        Ok(())
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

/// Whether a page URL is empty or an http(s) URL: the tag sends the page's
/// `location.href`, which is one. Anything else (`javascript:`, `data:`,
/// `file:`) is a forged envelope, refused rather than carried to storage.
fn is_web_url(url: &str) -> bool {
    url.is_empty()
        || ["http://", "https://"].iter().any(|scheme| {
            url.get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        })
}
