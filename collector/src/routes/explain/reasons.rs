//! The human reasons explain gives for each purpose's state.

use fiducia_proto::consent::Purpose;

use crate::consent::policy::Policy;
use crate::consent::resolve::Resolution;
use crate::consent::tcf::{TcConsent, tcf_purposes};
use crate::consent::{DenyReason, Grant, Source};
use crate::envelope::Consent;

/// A human reason for one purpose's state.
pub(super) fn purpose_reason(
    purpose: Purpose,
    grant: Grant,
    resolution: &Resolution,
    consent: &Consent,
    policy: &Policy,
) -> String {
    let tc = resolution.tcf.as_ref().and_then(|r| r.as_ref().ok());
    match (grant.source, grant.denied) {
        (Source::Exempt, _) => "never a consent question".into(),
        (Source::Ledger, Some(DenyReason::Erased)) => "the subject's data was erased".into(),
        (Source::Ledger, _) => format!(
            "withdrawn (received at {} ms); no choice recorded since",
            resolution
                .ledger
                .and_then(|e| e.withdrawn_at(purpose))
                .unwrap_or_default()
        ),
        (Source::Gpc, _) => {
            "Global Privacy Control objects to it and no explicit grant was made under it".into()
        }
        (Source::Dnt, _) => {
            "Do Not Track objects to it (the site honours DNT) and no explicit grant was made under it"
                .into()
        }
        (Source::Tcf, None) => tc.map_or_else(String::new, |tc| tcf_granted(purpose, tc, policy)),
        (Source::Tcf, Some(DenyReason::TcfNotConsented)) => {
            tc.map_or_else(String::new, |tc| tcf_refused(purpose, tc))
        }
        (Source::Tcf, Some(_)) => match resolution.tcf.as_ref() {
            Some(Err(error)) => format!("TC string rejected ({error}): it grants nothing"),
            _ => "TC string rejected: it grants nothing".into(),
        },
        (Source::Tag, None) => format!(
            "granted by the tag ({}) at {}",
            if consent.source.is_empty() { "api" } else { &consent.source },
            consent.updated_at.unwrap_or_default()
        ),
        (Source::Tag, Some(DenyReason::Denied)) => "denied by the tag".into(),
        (Source::Tag, Some(DenyReason::UnknownNotice)) => format!(
            "granted under notice version {:?}, which the site does not list",
            consent.notice_version
        ),
        (Source::Tag, Some(_)) => match consent.updated_at {
            None => "granted without consent.updated_at: its age is unknown".into(),
            Some(at) => format!(
                "granted at {at}, outside the site's maximum consent age of {} days",
                policy.max_age_ms / 86_400_000
            ),
        },
        (Source::None, _) => "no signal: denied (fail closed)".into(),
    }
}

fn list(ids: &[u8]) -> String {
    ids.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
}

fn tcf_granted(purpose: Purpose, tc: &TcConsent, policy: &Policy) -> String {
    let needed = tcf_purposes(purpose);
    if needed.iter().all(|&id| tc.publisher_consents(id)) {
        return format!(
            "TC string from CMP {}: publisher purposes {} consented",
            tc.cmp_id,
            list(needed)
        );
    }
    let custom: Vec<u8> = policy
        .tcf_custom
        .iter()
        .filter(|&&(id, p)| p == purpose && tc.custom_consents(id))
        .map(|&(id, _)| id)
        .collect();
    format!(
        "TC string from CMP {}: publisher custom purposes {} consented",
        tc.cmp_id,
        list(&custom)
    )
}

fn tcf_refused(purpose: Purpose, tc: &TcConsent) -> String {
    if !tc.has_publisher_segment() {
        return format!(
            "TC string from CMP {} has no publisher segment: it grants nothing",
            tc.cmp_id
        );
    }
    let missing: Vec<u8> = tcf_purposes(purpose)
        .iter()
        .copied()
        .filter(|&id| !tc.publisher_consents(id))
        .collect();
    format!(
        "TC string from CMP {}: publisher purposes {} not consented",
        tc.cmp_id,
        list(&missing)
    )
}
