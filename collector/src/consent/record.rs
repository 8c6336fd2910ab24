//! Consent records: the append-only proof of every consent change (GDPR
//! art. 7(1)), published to `fiducia.consent.v1` and kept by the sink in
//! ClickHouse `consent_log`.
//!
//! Two kinds of change make a record:
//! * a `consent` event from the tag: the visitor's choice, as the TC string
//!   or the tag's state says, recorded whatever it is (a refusal too);
//! * a change derived from a signal for a known subject: a TC string that
//!   differs from the ledger (or the first one seen), or a GPC/DNT
//!   objection that denies what the ledger or the tag had granted.
//!
//! Times: `server_ts_ms` is when this collector received the change, the
//! ledger's only order. `client_ts_ms` is the visitor's clock, kept as
//! evidence and clamped to a sane window around the server time, so a
//! forged time (`i64::MAX`, year 1970) never reaches the proof as such.
//!
//! Records carry what proof needs and no more: the pseudonymous subject,
//! the truncated network, the browser's name (never the user agent; the
//! gate fills it in).

use crate::consent::Source;
use fiducia_proto::consent::{Purpose, PurposeSet};
use fiducia_proto::v1::{ConsentAction, ConsentRecord, ConsentSnapshot, IpPrefix};

use super::policy::Policy;
use super::resolve::Resolution;
use crate::envelope::{Consent, EventId};

/// Sources of records made from a tag's `consent` event: `tag:<source>`.
pub const TAG_SOURCE_PREFIX: &str = "tag:";

/// Source of records the visitor made in the privacy center: an explicit
/// act, like a choice through the site's own consent API.
pub const PRIVACY_CENTER_SOURCE: &str = "privacy:center";

/// How far a client clock may run ahead of the collector's before its
/// time is taken as the collector's.
const CLIENT_AHEAD_MS: i64 = 86_400_000;

/// What a record says about where it was made.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Site id.
    pub site: &'a str,
    /// The visitor id, or empty.
    pub subject: &'a str,
    /// Truncated client network.
    pub ip: Option<&'a IpPrefix>,
    /// Envelope `sent_at` (client clock).
    pub sent_at_ms: i64,
    /// Collector clock.
    pub now_ms: i64,
}

/// The record for a `consent` event with id `event_id` and client time
/// `event_ts_ms`; `None` when the ledger already holds it. The ledger only
/// learns records Kafka acknowledged, so a retry after a failure (`503`)
/// records the change, and a retry after a lost answer records nothing a
/// second time.
#[must_use]
pub fn for_consent_event(
    event_id: &EventId,
    event_ts_ms: i64,
    consent: &Consent,
    resolution: &Resolution,
    policy: &Policy,
    origin: &Origin<'_>,
) -> Option<ConsentRecord> {
    if resolution
        .ledger
        .is_some_and(|e| e.last_record_id == *event_id)
    {
        return None;
    }
    let after = consentable(resolution.act.granted());
    // When the visitor chose: a TC string's own LastUpdated when one decided
    // (the tag stamps CMP decisions with when it saw them), else the tag's time.
    let client_ts_ms = match &resolution.tcf {
        Some(Ok(tc)) if tc.last_updated_ms > 0 => tc.last_updated_ms,
        _ => consent.updated_at.unwrap_or(event_ts_ms),
    };
    let source = if consent.source.is_empty() {
        "api"
    } else {
        &consent.source
    };
    let change = Change {
        action: action(resolution.ledger.map(|e| e.granted), after, false),
        after,
        source: format!("{TAG_SOURCE_PREFIX}{source}"),
        client_ts_ms,
    };
    let mut record = record(change, consent, resolution, policy, origin);
    record.record_id = event_id.to_vec();
    Some(record)
}

/// The record of the state under which the collector issued a visitor id
/// (`origin.subject`), when the envelope makes no record of its own: so
/// every issued id's history starts with the choice it was issued under.
#[must_use]
pub fn for_issued_visitor(
    consent: &Consent,
    resolution: &Resolution,
    policy: &Policy,
    origin: &Origin<'_>,
) -> ConsentRecord {
    let after = consentable(resolution.act.granted());
    let source = match &resolution.tcf {
        Some(Ok(tc)) => format!("tcf:{}", tc.cmp_id),
        _ if consent.source.is_empty() => format!("{TAG_SOURCE_PREFIX}api"),
        _ => format!("{TAG_SOURCE_PREFIX}{}", consent.source),
    };
    let change = Change {
        action: action(None, after, false),
        after,
        source,
        client_ts_ms: consent.updated_at.unwrap_or(origin.sent_at_ms),
    };
    record(change, consent, resolution, policy, origin)
}

/// The record of a change the visitor made in the privacy center: the
/// state the ledger enforces (`before`, `None` without an entry) with
/// `changes` applied, under the notice of the subject's latest record.
#[must_use]
pub fn for_privacy_center(
    before: Option<PurposeSet>,
    latest: Option<&ConsentRecord>,
    changes: &[(Purpose, bool)],
    gpc: bool,
    policy: &Policy,
    origin: &Origin<'_>,
) -> ConsentRecord {
    let mut after = before.unwrap_or(PurposeSet::EMPTY);
    for &(purpose, granted) in changes {
        after = if granted {
            after.union(PurposeSet::of(&[purpose]))
        } else {
            after.without(purpose)
        };
    }
    let after = consentable(after);
    let notice_version = latest.map(|r| r.notice_version.clone()).unwrap_or_default();
    let mut state = ConsentSnapshot {
        source: "privacy".to_owned(),
        notice_version: notice_version.clone(),
        gpc,
        updated_at_ms: origin.now_ms,
        ..ConsentSnapshot::default()
    };
    for purpose in Purpose::CONSENTABLE {
        purpose.set_in(&mut state, after.contains(purpose));
    }
    ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: origin.site.to_owned(),
        subject: origin.subject.to_owned(),
        action: action(before, after, false).into(),
        state: Some(state),
        source: PRIVACY_CENTER_SOURCE.to_owned(),
        notice_version,
        notice_hash: latest.map(|r| r.notice_hash.clone()).unwrap_or_default(),
        client_ts_ms: origin.now_ms,
        server_ts_ms: origin.now_ms,
        ip: origin.ip.cloned(),
        browser_family: String::new(),
        expires_at_ms: if after.is_empty() {
            0
        } else {
            origin.now_ms.saturating_add(policy.max_age_ms)
        },
        user_key: String::new(),
        retention_months: latest.map_or(0, |r| r.retention_months),
    }
}

/// The record for a change a signal made to a known subject's state, if any.
#[must_use]
pub fn derived(
    consent: &Consent,
    resolution: &Resolution,
    policy: &Policy,
    origin: &Origin<'_>,
) -> Option<ConsentRecord> {
    if origin.subject.is_empty() || resolution.ledger.is_some_and(|e| e.erased) {
        return None;
    }
    let grants = &resolution.grants;
    let after = consentable(grants.granted());
    let signal = |p: Purpose| {
        matches!(
            grants.get(p).source,
            Source::Tcf | Source::Gpc | Source::Dnt
        )
    };
    // Without a ledger entry, compare with what the visitor's choice said.
    let before = resolution
        .ledger
        .map_or_else(|| consentable(resolution.choice.granted()), |e| e.granted);
    let changed = Purpose::CONSENTABLE
        .into_iter()
        .find(|&p| before.contains(p) != after.contains(p) && signal(p));
    let first_tc_string = resolution.ledger.is_none() && matches!(resolution.tcf, Some(Ok(_)));
    let tcf_source = || match &resolution.tcf {
        Some(Ok(tc)) => format!("tcf:{}", tc.cmp_id),
        _ => "tcf".to_owned(),
    };
    let (source, objection) = match changed.map(|p| grants.get(p).source) {
        Some(Source::Gpc) => ("gpc".to_owned(), true),
        Some(Source::Dnt) => ("dnt".to_owned(), true),
        Some(_) => (tcf_source(), false),
        None if first_tc_string => (tcf_source(), false),
        None => return None,
    };
    let change = Change {
        action: action(changed.map(|_| before), after, objection),
        after,
        source,
        client_ts_ms: origin.sent_at_ms,
    };
    Some(record(change, consent, resolution, policy, origin))
}

fn consentable(set: PurposeSet) -> PurposeSet {
    set.without(Purpose::Necessary)
}

/// What changed from `before` (`None`: no earlier record) to `after`.
fn action(before: Option<PurposeSet>, after: PurposeSet, objection: bool) -> ConsentAction {
    let Some(before) = before else {
        return if after.is_empty() {
            ConsentAction::Deny
        } else {
            ConsentAction::Grant
        };
    };
    let added = after.difference(before);
    let removed = before.difference(after);
    match (added.is_empty(), removed.is_empty()) {
        (true, false) if objection => ConsentAction::Object,
        (true, false) => ConsentAction::Withdraw,
        (false, true) => ConsentAction::Grant,
        _ => ConsentAction::Update,
    }
}

/// What a record is made of besides the envelope's signals.
struct Change {
    action: ConsentAction,
    after: PurposeSet,
    source: String,
    client_ts_ms: i64,
}

fn record(
    change: Change,
    consent: &Consent,
    resolution: &Resolution,
    policy: &Policy,
    origin: &Origin<'_>,
) -> ConsentRecord {
    let Change {
        action,
        after,
        source,
        client_ts_ms,
    } = change;
    let evidence = |ms| evidence_time(ms, origin.now_ms, policy.max_age_ms);
    let client_ts_ms = evidence(client_ts_ms);
    let mut state = ConsentSnapshot {
        source: consent.source.clone(),
        notice_version: consent.notice_version.clone(),
        tcf: consent.tcf.clone(),
        gpp: consent.gpp.clone(),
        gpc: resolution.gpc,
        dnt: resolution.dnt,
        updated_at_ms: consent.updated_at.map_or(0, evidence),
        ..ConsentSnapshot::default()
    };
    for purpose in Purpose::CONSENTABLE {
        purpose.set_in(&mut state, after.contains(purpose));
    }
    let (notice_hash, _) = policy.notice(&consent.notice_version);
    ConsentRecord {
        record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: origin.site.to_owned(),
        subject: origin.subject.to_owned(),
        action: action.into(),
        state: Some(state),
        source,
        notice_version: consent.notice_version.clone(),
        notice_hash: notice_hash.unwrap_or_default().to_owned(),
        client_ts_ms,
        server_ts_ms: origin.now_ms,
        ip: origin.ip.cloned(),
        browser_family: String::new(),
        expires_at_ms: if after.is_empty() {
            0
        } else {
            client_ts_ms
                .min(origin.now_ms)
                .saturating_add(policy.max_age_ms)
        },
        user_key: String::new(),
        // A change the collector derives keeps the visitor's retention choice.
        retention_months: resolution.ledger.map_or(0, |e| e.retention_months),
    }
}

/// A client time as evidence: within `[server − max_age, server + a day]`
/// (a time outside it is the nearest bound), the server time when unknown.
fn evidence_time(client_ms: i64, server_ms: i64, max_age_ms: i64) -> i64 {
    if client_ms <= 0 {
        return server_ms;
    }
    client_ms.clamp(
        server_ms.saturating_sub(max_age_ms),
        server_ms.saturating_add(CLIENT_AHEAD_MS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_times_are_clamped_evidence() {
        let (now, age) = (1_000_000_000_000, 400 * 86_400_000);
        assert_eq!(evidence_time(i64::MAX, now, age), now + CLIENT_AHEAD_MS);
        assert_eq!(evidence_time(1, now, age), now - age);
        assert_eq!(evidence_time(0, now, age), now);
        assert_eq!(evidence_time(-5, now, age), now);
        assert_eq!(evidence_time(now - 5_000, now, age), now - 5_000);
    }

    const M: Purpose = Purpose::Measurement;
    const P: Purpose = Purpose::Personalization;

    #[test]
    fn actions_name_the_change() {
        let none = PurposeSet::EMPTY;
        let m = PurposeSet::of(&[M]);
        let mp = PurposeSet::of(&[M, P]);
        let p = PurposeSet::of(&[P]);
        for (before, after, objection, expected) in [
            (None, none, false, ConsentAction::Deny),
            (None, m, false, ConsentAction::Grant),
            (Some(m), mp, false, ConsentAction::Grant),
            (Some(mp), m, false, ConsentAction::Withdraw),
            (Some(mp), m, true, ConsentAction::Object),
            (Some(m), p, false, ConsentAction::Update),
            (Some(m), m, false, ConsentAction::Update),
        ] {
            assert_eq!(
                action(before, after, objection),
                expected,
                "{before:?} → {after:?}"
            );
        }
    }
}
