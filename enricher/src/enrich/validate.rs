//! Validation of raw messages against the `fiducia.v1` schema and the
//! site's rules, before anything is enriched. A message that fails gets a
//! typed [`DeadLetterReason`], the field to blame and a detail (never
//! payload content), and goes to the dead-letter topic for replay.

use fiducia_proto::consent::EventType;
use fiducia_proto::headers;
use fiducia_proto::v1::{DeadLetterReason, Decision, RawEvent};
use prost::Message as _;

use crate::sites::{Sites, UnknownSites, is_identifier};

/// Why a message cannot be enriched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The typed reason.
    pub reason: DeadLetterReason,
    /// The field to blame, empty when none is.
    pub field: &'static str,
    /// What is wrong, for people; never payload content.
    pub detail: String,
}

impl Invalid {
    /// An invalid message.
    #[must_use]
    pub fn new(reason: DeadLetterReason, field: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            field,
            detail: detail.into(),
        }
    }
}

/// Decodes and checks one raw message: its payload and its schema header.
///
/// # Errors
/// The first rule the message breaks.
pub fn validate(
    payload: Option<&[u8]>,
    schema_header: Option<&[u8]>,
    sites: &Sites,
) -> Result<RawEvent, Invalid> {
    use DeadLetterReason as R;
    let payload = payload
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Invalid::new(R::Empty, "", "no payload"))?;
    if let Some(schema) = schema_header
        && schema != headers::schema::RAW_EVENT.as_bytes()
    {
        return Err(Invalid::new(
            R::WrongSchema,
            "",
            format!(
                "schema header {:?}, want {}",
                String::from_utf8_lossy(schema),
                headers::schema::RAW_EVENT
            ),
        ));
    }
    let raw =
        RawEvent::decode(payload).map_err(|e| Invalid::new(R::Undecodable, "", e.to_string()))?;
    check(&raw, sites)?;
    Ok(raw)
}

/// The schema and site rules a decoded event must meet.
fn check(raw: &RawEvent, sites: &Sites) -> Result<(), Invalid> {
    use DeadLetterReason as R;
    let id = uuid::Uuid::from_slice(&raw.event_id).map_err(|_| {
        Invalid::new(
            R::BadEventId,
            "event_id",
            format!("{} bytes, want 16", raw.event_id.len()),
        )
    })?;
    if id.is_nil() || id.get_version_num() != 7 {
        return Err(Invalid::new(
            R::BadEventId,
            "event_id",
            format!("version {}, want a UUIDv7", id.get_version_num()),
        ));
    }
    if raw.site_id.is_empty() {
        return Err(Invalid::new(R::MissingField, "site_id", "empty"));
    }
    if !is_identifier(&raw.site_id, true) {
        return Err(Invalid::new(
            R::BadValue,
            "site_id",
            "not 1-64 of [a-z0-9_-]",
        ));
    }
    if raw.event_type.is_empty() {
        return Err(Invalid::new(R::MissingField, "event_type", "empty"));
    }
    // The contract's event types; `consent` events are consent records and
    // never travel as raw events.
    if !EventType::parse(&raw.event_type).is_some_and(|t| t != EventType::Consent) {
        return Err(Invalid::new(
            R::BadValue,
            "event_type",
            "not an event type of the contract",
        ));
    }
    if raw.received_at_ms <= 0 {
        return Err(Invalid::new(R::MissingField, "received_at_ms", "not set"));
    }
    match Decision::try_from(raw.decision) {
        Ok(Decision::Keep | Decision::Strip) => {}
        Ok(Decision::Unspecified) | Err(_) => {
            return Err(Invalid::new(
                R::BadValue,
                "decision",
                format!("{} is neither keep nor strip", raw.decision),
            ));
        }
    }
    let props = raw.props_json.trim_start();
    if !(props.is_empty() || props.starts_with('{')) {
        return Err(Invalid::new(
            R::BadProperties,
            "props_json",
            "not a JSON object",
        ));
    }
    let site = match sites.get(&raw.site_id) {
        Some(site) => site,
        None if sites.unknown_sites == UnknownSites::DeadLetter => {
            return Err(Invalid::new(
                R::UnknownSite,
                "site_id",
                "site not configured",
            ));
        }
        None => sites.rules(&raw.site_id),
    };
    if let Some(allowed) = &site.event_types
        && !allowed.contains(&raw.event_type)
    {
        return Err(Invalid::new(
            R::EventTypeNotAllowed,
            "event_type",
            format!("{} is not allowed for this site", raw.event_type),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    const ID: &str = "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70";

    fn good() -> RawEvent {
        RawEvent {
            event_id: uuid::Uuid::parse_str(ID).unwrap().as_bytes().to_vec(),
            site_id: "demo".into(),
            event_type: "page_view".into(),
            received_at_ms: midnight_days_ago_ms(0),
            decision: Decision::Keep.into(),
            props_json: "{}".into(),
            ..RawEvent::default()
        }
    }

    fn with(change: impl FnOnce(&mut RawEvent)) -> Vec<u8> {
        let mut raw = good();
        change(&mut raw);
        raw.encode_to_vec()
    }

    #[test]
    fn every_rule_has_its_typed_reason() {
        use DeadLetterReason as R;
        let mut sites = Sites::parse(
            "[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\nevent_types = [\"page_view\", \"click\"]\n[sites.open.collect]\nallowed_origins = []\n[sites.open.enrich]\n",
            "t",
        )
        .unwrap();
        sites.unknown_sites = UnknownSites::DeadLetter;
        let raw_schema: &[u8] = headers::schema::RAW_EVENT.as_bytes();
        for (name, payload, schema, reason, field) in [
            ("no payload", None, None, R::Empty, ""),
            ("empty payload", Some(vec![]), None, R::Empty, ""),
            (
                "not protobuf",
                Some(vec![0xff, 0xff, 0xff]),
                None,
                R::Undecodable,
                "",
            ),
            (
                "another schema",
                Some(good().encode_to_vec()),
                Some(&b"fiducia.v1.EnrichedEvent"[..]),
                R::WrongSchema,
                "",
            ),
            (
                "short id",
                Some(with(|r| r.event_id = vec![1; 3])),
                None,
                R::BadEventId,
                "event_id",
            ),
            (
                "nil id",
                Some(with(|r| r.event_id = vec![0; 16])),
                None,
                R::BadEventId,
                "event_id",
            ),
            (
                "UUIDv4",
                Some(with(|r| {
                    r.event_id = uuid::Uuid::parse_str("0193a1f0-7c2e-4d3a-9f10-2b3c4d5e6f70")
                        .unwrap()
                        .as_bytes()
                        .to_vec();
                })),
                None,
                R::BadEventId,
                "event_id",
            ),
            (
                "no site",
                Some(with(|r| r.site_id.clear())),
                None,
                R::MissingField,
                "site_id",
            ),
            (
                "bad site",
                Some(with(|r| r.site_id = "De Mo".into())),
                None,
                R::BadValue,
                "site_id",
            ),
            (
                "no type",
                Some(with(|r| r.event_type.clear())),
                None,
                R::MissingField,
                "event_type",
            ),
            (
                "bad type",
                Some(with(|r| r.event_type = "Page View".into())),
                None,
                R::BadValue,
                "event_type",
            ),
            (
                "no receive time",
                Some(with(|r| r.received_at_ms = 0)),
                None,
                R::MissingField,
                "received_at_ms",
            ),
            (
                "unspecified decision",
                Some(with(|r| r.decision = 0)),
                None,
                R::BadValue,
                "decision",
            ),
            (
                "unknown decision",
                Some(with(|r| r.decision = 9)),
                None,
                R::BadValue,
                "decision",
            ),
            (
                "props not an object",
                Some(with(|r| r.props_json = "[1]".into())),
                None,
                R::BadProperties,
                "props_json",
            ),
            (
                "unknown site",
                Some(with(|r| r.site_id = "elsewhere".into())),
                None,
                R::UnknownSite,
                "site_id",
            ),
            (
                "type not allowed",
                Some(with(|r| r.event_type = "download".into())),
                None,
                R::EventTypeNotAllowed,
                "event_type",
            ),
        ] {
            let error = validate(payload.as_deref(), schema, &sites).unwrap_err();
            assert_eq!(
                (error.reason, error.field),
                (reason, field),
                "{name}: {error:?}"
            );
        }
        assert!(validate(Some(&good().encode_to_vec()), Some(raw_schema), &sites).is_ok());
        let open = with(|r| {
            r.site_id = "open".into();
            r.event_type = "download".into();
        });
        assert!(validate(Some(&open), None, &sites).is_ok());
    }

    #[test]
    fn unknown_sites_are_enriched_by_default() {
        let payload = with(|r| r.site_id = "elsewhere".into());
        assert!(validate(Some(&payload), None, &Sites::default()).is_ok());
    }
}
