//! `POST /v1/consent/explain`: the same body and headers as `/v1/events`
//! (the same checks: rate limit, site, origin, validation), answered with
//! what the consent gate would decide and why, per purpose and per event.
//! No side effects: nothing is published, recorded, applied to the ledger
//! or counted as events.
//!
//! The ledger is consulted only for the visitor's own token (`Authorization:
//! Bearer`, as the privacy routes): a visitor id proves nobody's identity,
//! so telling whether that visitor withdrew or was erased would reveal
//! their choices to anyone who knows the id. Without a token explain
//! decides as if the ledger held nothing about the visitor, and says so
//! (`signals.ledger`); `/v1/events` applies the ledger on top. A token that
//! does not prove the envelope's visitor is refused (`401`/`403`).

use crate::consent::{Field, Verdict, decide};
use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::consent::{EventType, Purpose};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::privacy::{count, prove};
use super::{AppState, Intake, intake};
use crate::consent::ledger::Entry;
use crate::consent::policy::Policy;
use crate::consent::resolve::Resolution;
use crate::error::ApiError;
use crate::publish::EventPublisher;

mod reasons;
#[cfg(test)]
mod tests;

use reasons::purpose_reason;

/// Why explain's answer leaves the ledger out.
pub const LEDGER_NOT_CONSULTED: &str = "not consulted: no visitor token was sent, and a visitor id is no proof of being that visitor, so this answer is decided as if the server-side ledger held nothing about them; a withdrawal or erasure recorded there still applies to /v1/events";

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
        ..
    } = intake(&request, payload, &state, &mut events).await?;
    let policy = &site.consent;
    // The ledger's part only for the visitor's own token (as the privacy routes).
    let visitor = envelope.visitor.id.as_deref().unwrap_or_default();
    let proven = prove(
        &request,
        &state,
        &envelope.site,
        visitor,
        meta.received_at_ms,
    );
    if !matches!(proven, Ok(None)) {
        count("explain", &proven);
    }
    let ledger = proven?.map(|_| &*state.ledger);
    let resolution = crate::accept::gate(&envelope, &checked, &meta, policy, ledger);
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
    let ledger = match ledger {
        None => json!({"consulted": false, "note": LEDGER_NOT_CONSULTED}),
        Some(_) => ledger_part(resolution.ledger.as_ref()),
    };
    Ok(HttpResponse::Ok().json(json!({
        "site": envelope.site,
        "purposes": Value::Object(purposes),
        "signals": {"tcf": tcf, "gpc": resolution.gpc, "dnt": resolution.dnt, "ledger": ledger},
        "events": answers,
    })))
}

/// What the ledger holds about a proven visitor: the purposes withdrawn
/// (with when, server clock) and whether they were erased.
fn ledger_part(entry: Option<&Entry>) -> Value {
    let Some(entry) = entry else {
        return json!({"consulted": true, "entry": null});
    };
    let withdrawn: Map<String, Value> = Purpose::CONSENTABLE
        .into_iter()
        .filter_map(|p| {
            entry
                .withdrawn_at(p)
                .map(|at| (p.as_str().to_owned(), at.into()))
        })
        .collect();
    let granted: Vec<&str> = Purpose::CONSENTABLE
        .into_iter()
        .filter(|&p| entry.granted.contains(p))
        .map(Purpose::as_str)
        .collect();
    json!({"consulted": true, "entry": {
        "granted": granted,
        "withdrawn_at": withdrawn,
        "erased": entry.erased,
        "recorded_at": entry.server_ts_ms,
    }})
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
