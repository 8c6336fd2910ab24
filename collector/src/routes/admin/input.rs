//! What an admin call asks for: a request body or a query string, checked
//! whole before anything is done (unknown kinds, both ids or neither, ids
//! outside the envelope's own rules are refused `400 invalid_field`).

use serde_json::Value;

use crate::error::ApiError;
use crate::privacy::export::Subject;
use crate::privacy::requests::Named;

/// What a `POST …/requests` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `"erasure"`.
    Erasure,
    /// `"export"`.
    Export,
}

/// The subject an admin call names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// `visitor_id`.
    Visitor(String),
    /// `user_id` (the site's own id of a logged-in user).
    User(String),
}

impl Wanted {
    /// As Kafka and the audit may name it: never the user id.
    pub fn named(&self, site: &str) -> Named {
        match self {
            Self::Visitor(id) => Named::Visitor(id.clone()),
            Self::User(id) => Named::UserKey(fiducia_proto::privacy::user_key(site, id)),
        }
    }

    /// As the export queries it.
    pub fn subject(&self, site: &str) -> Subject {
        match self {
            Self::Visitor(id) => Subject::Visitor(id.clone()),
            Self::User(id) => Subject::User {
                user_id: id.clone(),
                user_key: fiducia_proto::privacy::user_key(site, id),
            },
        }
    }

    /// The query string naming it (ids are URL-safe).
    pub fn query(&self) -> String {
        match self {
            Self::Visitor(id) => format!("visitor_id={id}"),
            Self::User(id) => format!("user_id={id}"),
        }
    }
}

/// A `400 invalid_field`.
pub fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// An id as the envelope takes them: 1-128 of `[A-Za-z0-9_-]`.
fn id(field: &str, value: &str) -> Result<String, ApiError> {
    let ok = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(field, "1-128 of [A-Za-z0-9_-]"))
    }
}

fn one_of(visitor: Option<&str>, user: Option<&str>) -> Result<Option<Wanted>, ApiError> {
    match (visitor, user) {
        (Some(_), Some(_)) => Err(invalid("(root)", "name visitor_id or user_id, not both")),
        (Some(v), None) => Ok(Some(Wanted::Visitor(id("visitor_id", v)?))),
        (None, Some(u)) => Ok(Some(Wanted::User(id("user_id", u)?))),
        (None, None) => Ok(None),
    }
}

/// `{"kind": "erasure" | "export", "visitor_id" | "user_id": "…"}`.
pub fn parse_body(body: &[u8]) -> Result<(Kind, Wanted), ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::InvalidUtf8)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("(root)", "an object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "kind" | "visitor_id" | "user_id"))
    {
        return Err(invalid(unknown, "not a field of a request"));
    }
    let kind = match object.get("kind").and_then(Value::as_str) {
        Some("erasure") => Kind::Erasure,
        Some("export") => Kind::Export,
        _ => return Err(invalid("kind", "\"erasure\" or \"export\"")),
    };
    let text_of = |name: &str| -> Result<Option<&str>, ApiError> {
        match object.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(name, "a string")),
        }
    };
    let wanted = one_of(text_of("visitor_id")?, text_of("user_id")?)?
        .ok_or_else(|| invalid("(root)", "name visitor_id or user_id"))?;
    Ok((kind, wanted))
}

/// `visitor_id=…` or `user_id=…` (or neither, when `required` is false).
pub fn parse_query(query: &str, required: bool) -> Result<Option<Wanted>, ApiError> {
    let mut visitor = None;
    let mut user = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "visitor_id" => &mut visitor,
            "user_id" => &mut user,
            other => return Err(invalid(other, "not a parameter of this call")),
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(invalid(&key, "given twice"));
        }
    }
    let wanted = one_of(visitor.as_deref(), user.as_deref())?;
    if required && wanted.is_none() {
        return Err(invalid("(query)", "name visitor_id or user_id"));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_one_kind_and_exactly_one_well_formed_id() {
        assert_eq!(
            parse_body(br#"{"kind":"erasure","user_id":"u-42"}"#).unwrap(),
            (Kind::Erasure, Wanted::User("u-42".into()))
        );
        assert_eq!(
            parse_body(br#"{"kind":"export","visitor_id":"v-1"}"#).unwrap(),
            (Kind::Export, Wanted::Visitor("v-1".into()))
        );
        for (body, reason) in [
            (&br#"{"kind":"delete","user_id":"u"}"#[..], "invalid_field"),
            (
                br#"{"kind":"erasure","user_id":"u","visitor_id":"v"}"#,
                "invalid_field",
            ),
            (br#"{"kind":"erasure"}"#, "invalid_field"),
            (br#"{"kind":"erasure","user_id":""}"#, "invalid_field"),
            (br#"{"kind":"erasure","user_id":"a b"}"#, "invalid_field"),
            (br#"{"kind":"erasure","user_id":7}"#, "invalid_field"),
            (
                br#"{"kind":"erasure","user_id":"u","extra":1}"#,
                "invalid_field",
            ),
            (br#"["erasure"]"#, "invalid_field"),
            (br#"{"kind":"#, "invalid_json"),
            (b"\xff", "invalid_utf8"),
        ] {
            assert_eq!(parse_body(body).unwrap_err().reason(), reason, "{body:?}");
        }
        let long = format!(r#"{{"kind":"erasure","user_id":"{}"}}"#, "u".repeat(129));
        assert!(parse_body(long.as_bytes()).is_err());
    }

    #[test]
    fn a_query_names_at_most_one_id_once() {
        assert_eq!(parse_query("", false).unwrap(), None);
        assert!(parse_query("", true).is_err());
        assert_eq!(
            parse_query("user_id=u-1", true).unwrap(),
            Some(Wanted::User("u-1".into()))
        );
        for bad in [
            "user_id=u&visitor_id=v",
            "user_id=u&user_id=w",
            "x=1",
            "user_id=%00",
        ] {
            assert!(parse_query(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_user_is_named_by_key_outside_the_export_queries() {
        let user = Wanted::User("u-42".into());
        assert_eq!(
            user.named("demo"),
            Named::UserKey(fiducia_proto::privacy::user_key("demo", "u-42"))
        );
        assert!(!user.named("demo").audit().contains("u-42"));
    }
}
