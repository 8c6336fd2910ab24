//! Whether an answer may be personal: the one rule, pure, so it is tested
//! against an oracle written from the rule's words (SPEC section 8,
//! `collector/README.md`, Profiles). The worst bug of `GET /v1/profile` is a
//! personal answer without consent, so every doubt answers contextual.
//!
//! Personal only when the visitor proved who they are (the visitor token,
//! checked before this rule is asked) and all of:
//!
//! 1. the ledger has read the whole consent topic;
//! 2. it holds an entry for the visitor, not erased;
//! 3. the latest record applied grants personalization;
//! 4. that record is younger than the site's maximum consent age;
//! 5. no objection stands (`Sec-GPC: 1`, or DNT where the site honours it),
//!    unless the visitor granted personalization explicitly under it
//!    ([`crate::consent::resolve::objection`], as for `/v1/events`);
//! 6. a profile is held, begun no earlier than personalization was last
//!    turned on: a profile begun before a withdrawal and a new grant may
//!    hold what was gathered under the old one, and is never served.

use fiducia_proto::consent::Purpose;

use crate::consent::ledger::Entry;
use crate::consent::resolve::{fresh, objection};

/// What the rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Whether the ledger holds every record the consent topic held.
    pub ledger_caught_up: bool,
    /// The visitor's ledger entry.
    pub entry: Option<&'a Entry>,
    /// The site's maximum consent age, ms.
    pub max_age_ms: i64,
    /// `Sec-GPC: 1` was sent.
    pub gpc: bool,
    /// `DNT: 1` was sent and the site honours it.
    pub dnt: bool,
    /// When the visitor's profile was begun (collector clock), if one is held.
    pub profile_begun_at_ms: Option<i64>,
    /// The clock now, Unix ms.
    pub now_ms: i64,
}

/// Why an answer is contextual (machine-readable in the answer's `basis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contextual {
    /// No visitor token was sent.
    NoToken,
    /// The token does not prove a visitor of this site.
    TokenRefused,
    /// The ledger is still reading the consent topic.
    LedgerCatchingUp,
    /// The profile store is still reading the profiles topic.
    StoreCatchingUp,
    /// No consent record names the visitor.
    NoRecord,
    /// The visitor was erased.
    Erased,
    /// The latest record does not grant personalization.
    NotGranted,
    /// The latest record is older than the site's maximum consent age.
    Expired,
    /// GPC or DNT objects to personalization.
    Objection,
    /// No profile is held for the visitor.
    NoProfile,
    /// The profile was begun before personalization was last turned on.
    ProfileBeforeGrant,
}

impl Contextual {
    /// The reason's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::TokenRefused => "token_refused",
            Self::LedgerCatchingUp => "ledger_catching_up",
            Self::StoreCatchingUp => "profiles_catching_up",
            Self::NoRecord => "no_consent_record",
            Self::Erased => "erased",
            Self::NotGranted => "not_granted",
            Self::Expired => "expired",
            Self::Objection => "objection",
            Self::NoProfile => "no_profile",
            Self::ProfileBeforeGrant => "profile_before_grant",
        }
    }
}

/// What allows a personal answer: the ledger's latest record and since
/// when personalization stands granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Basis {
    /// The latest record's id.
    pub record_id: [u8; 16],
    /// When it was received (server clock, Unix ms).
    pub record_at_ms: i64,
    /// Since when personalization stands granted (Unix ms).
    pub granted_since_ms: i64,
}

/// The rule (module docs).
///
/// # Errors
/// Why the answer must be contextual.
pub fn decide(facts: &Facts<'_>) -> Result<Basis, Contextual> {
    if !facts.ledger_caught_up {
        return Err(Contextual::LedgerCatchingUp);
    }
    let entry = facts.entry.ok_or(Contextual::NoRecord)?;
    if entry.erased {
        return Err(Contextual::Erased);
    }
    let since = entry
        .granted_since(Purpose::Personalization)
        .ok_or(Contextual::NotGranted)?;
    if !fresh(entry.server_ts_ms, facts.now_ms, facts.max_age_ms) {
        return Err(Contextual::Expired);
    }
    if objection(facts.gpc, facts.dnt, false, Some(entry)).is_some() {
        return Err(Contextual::Objection);
    }
    let begun = facts.profile_begun_at_ms.ok_or(Contextual::NoProfile)?;
    if begun < since {
        return Err(Contextual::ProfileBeforeGrant);
    }
    Ok(Basis {
        record_id: entry.last_record_id,
        record_at_ms: entry.server_ts_ms,
        granted_since_ms: since,
    })
}

#[cfg(test)]
mod tests;
