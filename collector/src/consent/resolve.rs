//! Resolving an envelope's consent signals into one [`Grants`]
//! (`collector/README.md`, Consent). Sources, strongest first:
//!
//! 1. the ledger: a withdrawal or erasure wins over everything but a new
//!    choice this very envelope makes (a `consent` event, recorded after
//!    the withdrawal was received); the visitor's clock never decides;
//! 2. objections: `Sec-GPC: 1` or the tag's `gpc` (and DNT where the site
//!    honours it) deny personalization unless the visitor granted it
//!    explicitly through the site's own consent API (`source: api`, no TC
//!    string) while the objection stood: a CMP's string sent alongside is
//!    no such act;
//! 3. the visitor's choice: a TC string when one is sent (alone or in a GPP
//!    string), which then decides every purpose, else the tag's own state.
//!    Grants older than the site's maximum age, without a time, or naming a
//!    notice the site does not list grant nothing.
//!
//! Pure: the same inputs give the same answer, so `/v1/consent/explain`
//! shows exactly what `/v1/events` does.

use crate::consent::{DenyReason, Grant, Grants, Source};
use fiducia_proto::consent::Purpose;

use super::ledger::Entry;
use super::policy::Policy;
use super::tcf::{self, TcConsent, TcfError};
use crate::envelope::{Consent, ConsentValue};

/// A client clock may run this far ahead before its grant is not believed.
const CLIENT_SKEW_MS: i64 = 86_400_000;

/// Privacy signals from request headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSignals {
    /// `Sec-GPC` is exactly `1` (on any of its header lines).
    pub gpc: bool,
    /// `DNT` is exactly `1`.
    pub dnt: bool,
}

/// What one envelope's signals resolve to.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The state every event is decided with.
    pub grants: Grants,
    /// The visitor's own choice (TC string or tag), before the ledger and
    /// objections.
    pub choice: Grants,
    /// What a `consent` event of this envelope amounts to: the choice under
    /// the objections that stand (what its record proves and the ledger
    /// learns).
    pub act: Grants,
    /// When that choice was made, Unix ms (the TC string's `LastUpdated`,
    /// else the tag's `updated_at`; 0 when unknown).
    pub choice_ts_ms: i64,
    /// The TC string's outcome, when one was sent.
    pub tcf: Option<Result<TcConsent, TcfError>>,
    /// GPC is on (header or tag).
    pub gpc: bool,
    /// DNT is on and the site honours it.
    pub dnt: bool,
    /// The subject's ledger entry, when there is one.
    pub ledger: Option<Entry>,
}

/// Resolves the signals of one envelope. `has_consent_event`: the envelope
/// carries a `consent` event, an explicit act made now.
#[must_use]
pub fn resolve(
    policy: &Policy,
    consent: &Consent,
    headers: HeaderSignals,
    ledger: Option<Entry>,
    has_consent_event: bool,
    now_ms: i64,
) -> Resolution {
    let tcf = tcf::from_envelope(&consent.tcf, &consent.gpp, now_ms, policy.max_age_ms);
    let (choice, choice_ts_ms) = choice(policy, consent, tcf.as_ref(), now_ms);
    let mut grants = choice.clone();
    let gpc = headers.gpc || consent.gpc;
    let dnt = policy.honor_dnt && (headers.dnt || consent.dnt);
    if gpc || dnt {
        grants.objected = true;
        let personalization = Purpose::Personalization;
        let explicit = has_consent_event && explicit_grant(consent, &choice, personalization);
        if grants.get(personalization).is_granted()
            && let Some(denial) = objection(gpc, dnt, explicit, ledger.as_ref())
        {
            grants.set(personalization, denial);
        }
    }
    let act = grants.clone();
    if let Some(entry) = ledger {
        for purpose in Purpose::CONSENTABLE {
            if entry.erased {
                grants.set(purpose, Grant::denied(Source::Ledger, DenyReason::Erased));
                grants.objected = true;
            } else if entry.withdrawn_at(purpose).is_some() {
                // Only a new choice, made in this envelope and so received
                // after the withdrawal, lifts it.
                let regranted = has_consent_event && act.get(purpose).is_granted();
                if !regranted {
                    if grants.get(purpose).is_granted() {
                        grants.set(
                            purpose,
                            Grant::denied(Source::Ledger, DenyReason::Withdrawn),
                        );
                    }
                    grants.objected |= purpose == Purpose::Measurement;
                }
            }
        }
    }
    Resolution {
        grants,
        choice,
        act,
        choice_ts_ms,
        tcf,
        gpc,
        dnt,
        ledger,
    }
}

/// The objection that denies personalization: GPC (first) or DNT (already
/// filtered by whether the site honours it), unless the visitor granted
/// personalization explicitly while it stood, in this very act
/// (`explicit_now`) or in a record the ledger holds. `None`: nothing
/// objects. Shared by `/v1/events` and `GET /v1/profile`.
#[must_use]
pub fn objection(
    gpc: bool,
    dnt: bool,
    explicit_now: bool,
    ledger: Option<&Entry>,
) -> Option<Grant> {
    let explicit = explicit_now || ledger.is_some_and(|e| e.explicit_under_objection);
    match () {
        () if explicit => None,
        () if gpc => Some(Grant::denied(Source::Gpc, DenyReason::Gpc)),
        () if dnt => Some(Grant::denied(Source::Dnt, DenyReason::Dnt)),
        () => None,
    }
}

/// Whether the tag's own state grants `purpose` through the site's consent
/// API, with no TC string deciding instead: the only act that lifts a
/// standing GPC or DNT objection.
fn explicit_grant(consent: &Consent, choice: &Grants, purpose: Purpose) -> bool {
    consent.source == EXPLICIT_SOURCE
        && consent.tcf.is_empty()
        && consent.gpp.is_empty()
        && choice.get(purpose) == Grant::granted(Source::Tag)
}

/// The tag's `consent.source` of a choice made through `fiducia('consent', …)`.
pub const EXPLICIT_SOURCE: &str = "api";

/// The visitor's choice: the TC string decides when there is one.
fn choice(
    policy: &Policy,
    consent: &Consent,
    tcf: Option<&Result<TcConsent, TcfError>>,
    now_ms: i64,
) -> (Grants, i64) {
    let mut grants = Grants::default();
    match tcf {
        Some(Ok(tc)) => {
            for purpose in Purpose::CONSENTABLE {
                let grant = if tc.grants(purpose, &policy.tcf_custom) {
                    Grant::granted(Source::Tcf)
                } else {
                    Grant::denied(Source::Tcf, DenyReason::TcfNotConsented)
                };
                grants.set(purpose, grant);
            }
            (grants, tc.last_updated_ms)
        }
        Some(Err(error)) => {
            let reason = if *error == TcfError::Expired {
                DenyReason::Expired
            } else {
                DenyReason::TcfInvalid
            };
            for purpose in Purpose::CONSENTABLE {
                grants.set(purpose, Grant::denied(Source::Tcf, reason));
            }
            (grants, 0)
        }
        None => {
            let (_, notice_known) = policy.notice(&consent.notice_version);
            for purpose in Purpose::CONSENTABLE {
                let grant = match consent.value(purpose) {
                    None => Grant::denied(Source::None, DenyReason::NotGiven),
                    Some(ConsentValue::Denied) => Grant::denied(Source::Tag, DenyReason::Denied),
                    Some(ConsentValue::Unknown) => Grant::denied(Source::Tag, DenyReason::NotGiven),
                    Some(ConsentValue::Granted) if !notice_known => {
                        Grant::denied(Source::Tag, DenyReason::UnknownNotice)
                    }
                    Some(ConsentValue::Granted) => match consent.updated_at {
                        Some(at) if fresh(at, now_ms, policy.max_age_ms) => {
                            Grant::granted(Source::Tag)
                        }
                        _ => Grant::denied(Source::Tag, DenyReason::Expired),
                    },
                };
                grants.set(purpose, grant);
            }
            (grants, consent.updated_at.unwrap_or(0))
        }
    }
}

/// Made within the maximum age, and not implausibly in the future.
#[must_use]
pub fn fresh(at_ms: i64, now_ms: i64, max_age_ms: i64) -> bool {
    at_ms <= now_ms.saturating_add(CLIENT_SKEW_MS) && now_ms.saturating_sub(at_ms) <= max_age_ms
}
