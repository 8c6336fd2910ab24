//! Visitor ids the collector issues. The tag asks for one (`visitor.issue`)
//! when measurement is granted and it holds none; the collector mints a
//! random id (UUIDv4: nothing in it but chance, so nobody can aim at
//! someone else's), gives the envelope's events that id, and answers with
//! it and its token in [`VISITOR_HEADER`] once the events are durable. An
//! id the tag minted itself before gets no token: a visitor can only hold
//! the proof of an id the collector chose.

use crate::config::Privacy;
use crate::consent::policy::Policy;
use crate::consent::{Field, Grants};
use crate::envelope::Envelope;

use super::token;

/// Response header carrying the issued id and its token to the tag.
pub const VISITOR_HEADER: &str = "Fiducia-Visitor";

/// [`VISITOR_HEADER`]'s value for an erased visitor's tag: forget the id.
pub const FORGET: &str = "0";

/// Mints a visitor id for an envelope that asks for one and whose grants
/// allow a visitor id; the header value to answer with, or `None`.
#[must_use]
pub fn mint(
    envelope: &mut Envelope,
    grants: &Grants,
    policy: &Policy,
    privacy: &Privacy,
    now_ms: i64,
) -> Option<String> {
    let visitor = &envelope.visitor;
    if !visitor.issue || visitor.id.is_some() {
        return None;
    }
    let needs = policy.rules.field_needs(Field::VisitorId);
    if !needs.iter().all(|p| grants.get(p).is_granted()) {
        return None;
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ttl_ms = i64::try_from(privacy.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let token = token::issue(&privacy.keys, &envelope.site, &id, now_ms, ttl_ms)?;
    let exp = now_ms.saturating_add(ttl_ms);
    let header = serde_json::json!({"id": id, "t": token, "exp": exp}).to_string();
    envelope.visitor.id = Some(id);
    envelope.visitor.issued = true;
    Some(header)
}
