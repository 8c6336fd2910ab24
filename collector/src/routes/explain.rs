//! `POST /v1/consent/explain`: the same body and headers as `/v1/events`
//! (the same checks: rate limit, site, origin, validation), answered with
//! what the consent gate would decide and why, per purpose and per event.
//! No side effects: nothing is published, recorded, applied to the ledger
//! or counted as events.
//!
//! The ledger is never consulted: a visitor id proves nobody's identity, so
//! telling whether that visitor withdrew or was erased would reveal their
//! choices to anyone who knows the id. Explain decides as if the ledger held
//! nothing about the visitor, and says so (`signals.ledger`); `/v1/events`
//! applies the ledger on top.

use crate::consent::{DenyReason, Field, Grant, Source, Verdict, decide};
use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::consent::{EventType, Purpose};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{AppState, Intake, intake};
use crate::consent::policy::Policy;
use crate::consent::resolve::Resolution;
use crate::consent::tcf::{TcConsent, tcf_purposes};
use crate::envelope::Consent;
use crate::error::ApiError;
use crate::publish::EventPublisher;

/// Why explain's answer leaves the ledger out.
pub const LEDGER_NOT_CONSULTED: &str = "not consulted: a visitor id is no proof of being that visitor, so this answer is decided as if the server-side ledger held nothing about them; a withdrawal or erasure recorded there still applies to /v1/events";

/// One event's decision.
#[derive(Debug, Serialize)]
struct EventAnswer {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    decision: &'static str,
    reasons: Vec<String>,
    removed_fields: Vec<&'static str>,
}

/// Explains one envelope.
///
/// # Errors
/// The same refusals as `/v1/events` before the gate.
#[tracing::instrument(name = "explain_consent", skip_all)]
pub async fn post<P: EventPublisher>(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let mut events = 0;
    let Intake {
        envelope,
        checked,
        meta,
        site,
    } = intake(&request, payload, &state, &mut events).await?;
    let policy = &site.consent;
    let resolution = crate::accept::gate(&envelope, &checked, &meta, policy, None);
    let mut purposes = Map::new();
    for purpose in Purpose::ALL {
        let grant = resolution.grants.get(purpose);
        purposes.insert(
            purpose.as_str().to_owned(),
            json!({
                "granted": grant.is_granted(),
                "source": grant.source.as_str(),
                "reason": purpose_reason(purpose, grant, &resolution, &envelope.consent, policy),
            }),
        );
    }
    let answers: Vec<EventAnswer> = envelope
        .events
        .iter()
        .zip(&checked)
        .map(|(event, check)| {
            let verdict = decide(&policy.rules, check.kind, &resolution.grants);
            event_answer(event.id.clone(), check.kind, verdict, &resolution, policy)
        })
        .collect();
    let tcf = resolution.tcf.as_ref().map(|outcome| match outcome {
        Ok(tc) => json!({
            "valid": true,
            "cmp_id": tc.cmp_id,
            "last_updated": tc.last_updated_ms,
            "publisher_segment": tc.has_publisher_segment(),
            "disclosed_vendors": tc.has_disclosed_vendors,
        }),
        Err(error) => {
            json!({"valid": false, "outcome": error.outcome(), "error": error.to_string()})
        }
    });
    let ledger = json!({
        "consulted": false,
        "note": LEDGER_NOT_CONSULTED,
    });
    Ok(HttpResponse::Ok().json(json!({
        "site": envelope.site,
        "purposes": Value::Object(purposes),
        "signals": {"tcf": tcf, "gpc": resolution.gpc, "dnt": resolution.dnt, "ledger": ledger},
        "events": answers,
    })))
}

fn event_answer(
    id: String,
    kind: EventType,
    verdict: Verdict,
    resolution: &Resolution,
    policy: &Policy,
) -> EventAnswer {
    let needs = policy.rules.needs(kind);
    let describe = |p: Purpose| {
        let grant = resolution.grants.get(p);
        match grant.denied {
            None => format!("needs {}: granted ({})", p.as_str(), grant.source.as_str()),
            Some(reason) if reason.as_str() == grant.source.as_str() => {
                format!("needs {}: denied ({})", p.as_str(), reason.as_str())
            }
            Some(reason) => format!(
                "needs {}: denied ({}: {})",
                p.as_str(),
                grant.source.as_str(),
                reason.as_str()
            ),
        }
    };
    let (decision, mut reasons) = match verdict {
        _ if kind == EventType::Consent => (
            "record",
            vec!["a consent change: recorded as proof of consent (necessary), never published as an event".to_owned()],
        ),
        Verdict::Keep { .. } => ("keep", needs.iter().map(describe).collect()),
        Verdict::Strip => {
            let mut reasons: Vec<String> = needs.iter().map(describe).collect();
            reasons.push(
                "the site allows anonymous measurement: identifiers removed, context coarsened"
                    .to_owned(),
            );
            ("strip", reasons)
        }
        Verdict::Drop(drop) => ("drop", vec![describe(drop.purpose)]),
    };
    let removed_fields: Vec<&'static str> =
        if matches!(verdict, Verdict::Drop(_)) || kind == EventType::Consent {
            Vec::new()
        } else {
            verdict.removed_fields().iter().map(Field::as_str).collect()
        };
    if let Verdict::Keep { removed } = verdict {
        for field in removed.iter() {
            let needs: Vec<&str> = policy
                .rules
                .field_needs(field)
                .iter()
                .map(Purpose::as_str)
                .collect();
            reasons.push(format!(
                "{} removed: needs {}",
                field.as_str(),
                needs.join(" + ")
            ));
        }
    }
    EventAnswer {
        id,
        kind: kind.as_str(),
        decision,
        reasons,
        removed_fields,
    }
}

/// A human reason for one purpose's state.
fn purpose_reason(
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::test;

    use fiducia_proto::consent::Purpose;

    use super::super::testing::{body, call, call_on, now};
    use crate::consent::ledger::Ledger;
    use crate::publish::memory::MemoryPublisher;

    async fn explain(
        consent: &str,
        types: &[&str],
        headers: &[(&str, &str)],
    ) -> (serde_json::Value, Arc<MemoryPublisher>) {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = call(
            &publisher,
            "/v1/consent/explain",
            &body(consent, types),
            headers,
        )
        .await;
        assert_eq!(response.status(), 200);
        (test::read_body_json(response).await, publisher)
    }

    #[actix_web::test]
    async fn every_purpose_and_event_is_explained_in_the_spec_shape() {
        let consent = format!(
            r#"{{"measurement":"granted","updated_at":{}}}"#,
            now() - 1000
        );
        let (answer, _) = explain(&consent, &["page_view", "identify"], &[]).await;
        let m = &answer["purposes"]["measurement"];
        assert_eq!(m["granted"], true);
        assert_eq!(m["source"], "tag");
        assert!(m["reason"].as_str().unwrap().contains("granted by the tag"));
        assert_eq!(answer["purposes"]["necessary"]["source"], "exempt");
        assert_eq!(answer["purposes"]["contextual"]["granted"], false);
        assert_eq!(
            answer["purposes"]["contextual"]["reason"],
            "no signal: denied (fail closed)"
        );
        let events = answer["events"].as_array().unwrap();
        assert_eq!(events[0]["decision"], "keep");
        assert_eq!(events[0]["removed_fields"], serde_json::json!(["user_id"]));
        assert!(
            events[0]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "user_id removed: needs personalization")
        );
        assert_eq!(events[1]["decision"], "drop");
        assert_eq!(
            events[1]["reasons"][0],
            "needs personalization: denied (none: not_given)"
        );
    }

    #[actix_web::test]
    async fn gpc_and_tc_strings_are_named_as_the_deciding_source() {
        let consent = format!(
            r#"{{"measurement":"granted","personalization":"granted","updated_at":{}}}"#,
            now() - 1000
        );
        let (answer, _) = explain(&consent, &["identify"], &[("Sec-GPC", "1")]).await;
        assert_eq!(answer["purposes"]["personalization"]["source"], "gpc");
        assert_eq!(answer["signals"]["gpc"], true);
        assert_eq!(answer["events"][0]["decision"], "drop");
        // `Sec-GPC` other than exactly "1" means nothing.
        let (answer, _) = explain(&consent, &["identify"], &[("Sec-GPC", "true")]).await;
        assert_eq!(answer["events"][0]["decision"], "keep");

        let stale =
            r#"{"measurement":"granted","tcf":"COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"}"#;
        let (answer, _) = explain(stale, &["page_view"], &[]).await;
        assert_eq!(answer["purposes"]["measurement"]["source"], "tcf");
        assert_eq!(answer["signals"]["tcf"]["outcome"], "not_service_specific");
        assert!(
            answer["purposes"]["measurement"]["reason"]
                .as_str()
                .unwrap()
                .contains("IsServiceSpecific")
        );
    }

    #[actix_web::test]
    async fn explaining_has_no_side_effects() {
        let now = now();
        let consent = format!(r#"{{"measurement":"granted","updated_at":{}}}"#, now - 1000);
        let publisher = Arc::new(MemoryPublisher::default());
        let ledger = Arc::new(Ledger::default());
        let response = call_on(
            &publisher,
            &ledger,
            true,
            "/v1/consent/explain",
            &body(&consent, &["consent", "page_view"]),
            &[],
        )
        .await;
        assert_eq!(response.status(), 200);
        let answer: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(answer["events"][0]["decision"], "record");
        assert_eq!(answer["events"][1]["decision"], "keep");
        assert!(publisher.published().is_empty());
        assert!(publisher.records().is_empty());
        assert_eq!(ledger.subjects(), 0, "the ledger learnt nothing");
    }

    #[actix_web::test]
    async fn explain_never_reveals_what_the_ledger_holds_about_a_visitor() {
        let now = now();
        let ledger = Arc::new(Ledger::default());
        let mut state = fiducia_proto::v1::ConsentSnapshot::default();
        Purpose::Measurement.set_in(&mut state, false);
        ledger.apply(&fiducia_proto::v1::ConsentRecord {
            record_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
            site_id: "demo".into(),
            subject: "v-1".into(),
            action: fiducia_proto::v1::ConsentAction::Erase.into(),
            state: Some(state),
            server_ts_ms: now - 5000,
            ..Default::default()
        });
        let consent = format!(r#"{{"measurement":"granted","updated_at":{}}}"#, now - 1000);
        let publisher = Arc::new(MemoryPublisher::default());
        let call = |path: &'static str| {
            let (publisher, ledger, body) = (&publisher, &ledger, body(&consent, &["page_view"]));
            async move { call_on(publisher, ledger, true, path, &body, &[]).await }
        };
        // /v1/events applies the erasure...
        let events = call("/v1/events").await;
        assert_eq!(
            events
                .headers()
                .get(super::super::events::DROPPED_HEADER)
                .unwrap(),
            "measurement:erased=1"
        );
        // ...explain, asked by anyone who knows the id, answers as for a stranger.
        let response = call("/v1/consent/explain").await;
        let answer: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(answer["events"][0]["decision"], "keep");
        assert_eq!(answer["purposes"]["measurement"]["source"], "tag");
        assert_eq!(answer["signals"]["ledger"]["consulted"], false);
        assert!(!answer.to_string().contains("erase"), "{answer}");
    }

    #[actix_web::test]
    async fn explain_checks_the_sites_origins_like_events() {
        let consent = format!(
            r#"{{"measurement":"granted","updated_at":{}}}"#,
            now() - 1000
        );
        let publisher = Arc::new(MemoryPublisher::default());
        for path in ["/v1/events", "/v1/consent/explain"] {
            let response = call(
                &publisher,
                path,
                &body(&consent, &["page_view"]),
                &[("Origin", "https://evil.example")],
            )
            .await;
            assert_eq!(response.status(), 403, "{path}");
            let answer: serde_json::Value = test::read_body_json(response).await;
            assert_eq!(answer["error"], "origin_not_allowed", "{path}");
        }
    }
}
