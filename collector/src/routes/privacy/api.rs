//! The privacy API's handlers: the state of every purpose, the history of
//! every record, a change made here (a consent record like any other), a
//! signed receipt per record, and the keys that verify receipts.

use std::collections::BTreeMap;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::consent::{Purpose, action_name};
use fiducia_proto::keys::partition_key;
use fiducia_proto::v1::ConsentRecord;
use serde_json::{Map, Value, json};

use super::{AppState, Proven, authorize, observed};
use crate::client_ip::{client_ip, truncate};
use crate::consent::record::{self, Origin};
use crate::envelope::ConsentValue;
use crate::error::ApiError;
use crate::metrics;
use crate::privacy::receipt;
use crate::privacy::state::{changes, current, record_id, stated};
use crate::publish::{Batch, EventPublisher};

/// `GET /v1/privacy/{site}/{visitor}/consent`: every purpose now.
///
/// # Errors
/// A refused token, site or origin; a ledger catching up.
pub async fn consent<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("consent", async {
        authorize(&request, &state, &site, &visitor)?;
        Ok(HttpResponse::Ok().json(state_of(&state, &site, &visitor)))
    })
    .await
}

pub(super) fn state_of<P>(state: &AppState<P>, site: &str, visitor: &str) -> Value {
    let records = state.ledger.history(site, visitor);
    let entry = state.ledger.get(site, visitor);
    let now = fiducia_proto::time::now_ms();
    let purposes: Map<String, Value> = current(&records, entry.as_ref(), now)
        .into_iter()
        .map(|(p, s)| (p.as_str().to_owned(), json!(s)))
        .collect();
    let retention = state.sites.get(site).map(|config| {
        super::rights::retention_state(
            entry.map_or(0, |e| e.retention_months),
            config.identified_retention_months,
            &config.retention_choices(),
        )
    });
    json!({
        "site": site,
        "visitor": visitor,
        "purposes": purposes,
        "erased": entry.is_some_and(|e| e.erased),
        "retention": retention,
    })
}

/// `POST /v1/privacy/{site}/{visitor}/consent`: `{"<purpose>": "granted"
/// | "denied", …}` becomes one consent record, published to the consent
/// topic (every collector enforces it) and applied here once durable;
/// answered with the state after it.
///
/// # Errors
/// As [`consent`]; a body that is not such an object (`400`); the record
/// could not be made durable (`503`).
pub async fn change<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("change", async {
        let Proven { site: config, .. } = authorize(&request, &state, &site, &visitor)?;
        let body = crate::body::read(&request, payload, &state.limits).await?;
        let wanted = parse_changes(&body)?;
        let record =
            center_record(&request, &state, &site, &visitor, config, &wanted, None).await?;
        let mut answer = state_of(&state, &site, &visitor);
        answer["record_id"] = record_id(&record).into();
        Ok(HttpResponse::Ok().json(answer))
    })
    .await
}

/// A change the visitor made in the privacy center (`changes` to their
/// purposes, or a `retention` choice): one consent record, published to
/// the consent topic (every collector enforces it) and applied here once
/// durable.
///
/// # Errors
/// [`ApiError::Unavailable`] when the record could not be made durable.
pub(super) async fn center_record<P: EventPublisher>(
    request: &HttpRequest,
    state: &AppState<P>,
    site: &str,
    visitor: &str,
    config: &crate::sites::Site,
    changes: &[(Purpose, bool)],
    retention_months: Option<u32>,
) -> Result<ConsentRecord, ApiError> {
    let latest = state.ledger.history(site, visitor).pop();
    let entry = state.ledger.get(site, visitor);
    let ip = client_ip(request, &state.trusted_proxies).map(truncate);
    let now = fiducia_proto::time::now_ms();
    let origin = Origin {
        site,
        subject: visitor,
        ip: ip.as_ref(),
        sent_at_ms: now,
        now_ms: now,
    };
    let gpc = request
        .headers()
        .get_all("sec-gpc")
        .any(|v| v.as_bytes() == b"1");
    let mut record = record::for_privacy_center(
        entry.map(|e| e.granted),
        latest.as_ref(),
        changes,
        gpc,
        &config.consent,
        &origin,
    );
    record.browser_family = crate::accept::browser_family(
        request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    // The ledger's choice carries on unless this record makes a new one.
    record.retention_months =
        retention_months.unwrap_or_else(|| entry.map_or(0, |e| e.retention_months));
    let action = action_name(record.action());
    let batch = Batch {
        records: vec![(partition_key(site, visitor, ""), record.clone())],
        ..Batch::default()
    };
    super::rights::publish(state, batch).await?;
    state.ledger.apply(&record);
    ::metrics::counter!(metrics::CONSENT_RECORDS, "action" => action, "source" => "privacy")
        .increment(1);
    Ok(record)
}

/// The purposes a change body names, each granted or not.
fn parse_changes(body: &[u8]) -> Result<Vec<(Purpose, bool)>, ApiError> {
    let invalid = |field: &str, message: &str| ApiError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    };
    let text = std::str::from_utf8(body).map_err(|_| ApiError::InvalidUtf8)?;
    let object: BTreeMap<String, Value> =
        serde_json::from_str(text).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    if object.is_empty() {
        return Err(invalid("(root)", "name at least one purpose"));
    }
    object
        .iter()
        .map(|(name, value)| {
            let purpose = Purpose::CONSENTABLE
                .into_iter()
                .find(|p| p.as_str() == name)
                .ok_or_else(|| invalid(name, "not a purpose that takes consent"))?;
            match value.as_str().map(ConsentValue::from_wire) {
                Some(ConsentValue::Granted) => Ok((purpose, true)),
                Some(ConsentValue::Denied) => Ok((purpose, false)),
                _ => Err(invalid(name, "must be \"granted\" or \"denied\"")),
            }
        })
        .collect()
}

/// `GET /v1/privacy/{site}/{visitor}/history`: every record, oldest first,
/// with what each changed and where its receipt is.
///
/// # Errors
/// As [`consent`].
pub async fn history<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("history", async {
        authorize(&request, &state, &site, &visitor)?;
        let items = history_items(&state, &site, &visitor);
        Ok(HttpResponse::Ok().json(json!({"site": site, "visitor": visitor, "records": items})))
    })
    .await
}

/// Every record of `visitor`, oldest first, each with what it changed and
/// where its receipt is (the history answer, and the export's).
pub(super) fn history_items<P>(state: &AppState<P>, site: &str, visitor: &str) -> Vec<Value> {
    let records = state.ledger.history(site, visitor);
    records
        .iter()
        .enumerate()
        .map(|(i, r)| history_item(site, visitor, i.checked_sub(1).map(|j| &records[j]), r))
        .collect()
}

fn history_item(
    site: &str,
    visitor: &str,
    before: Option<&ConsentRecord>,
    r: &ConsentRecord,
) -> Value {
    let id = record_id(r);
    let granted = stated(r);
    let state: Map<String, Value> = Purpose::CONSENTABLE
        .into_iter()
        .map(|p| (p.as_str().to_owned(), granted.contains(p).into()))
        .collect();
    let changed: Map<String, Value> = changes(before, r)
        .into_iter()
        .map(|(p, c)| (p.as_str().to_owned(), c.into()))
        .collect();
    json!({
        "record_id": id,
        "received_at": r.server_ts_ms,
        "chosen_at": r.client_ts_ms,
        "action": action_name(r.action()),
        "changes": changed,
        "state": state,
        "source": r.source,
        "notice_version": r.notice_version,
        "notice_hash": r.notice_hash,
        "expires_at": (r.expires_at_ms > 0).then_some(r.expires_at_ms),
        "receipt": format!("/v1/privacy/{site}/{visitor}/receipts/{id}"),
    })
}

/// `GET /v1/privacy/{site}/{visitor}/receipts/{record}`: the record's
/// signed receipt, as a download: `{"receipt": …, "jws": …, "kid": …,
/// "jwks_uri": …}`.
///
/// # Errors
/// As [`consent`]; no such record of this visitor (`404`).
pub async fn receipt<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor, wanted) = path.into_inner();
    observed("receipt", async {
        authorize(&request, &state, &site, &visitor)?;
        let record = state
            .ledger
            .history(&site, &visitor)
            .into_iter()
            .find(|r| record_id(r) == wanted)
            .ok_or(ApiError::RecordNotFound)?;
        let jws =
            receipt::sign(&state.privacy.keys, &record).ok_or(ApiError::PrivacyUnavailable)?;
        let kid = state.privacy.keys.signer().map(|s| s.kid.clone());
        let info = request.connection_info();
        let jwks_uri = format!("{}://{}/.well-known/jwks.json", info.scheme(), info.host());
        Ok(HttpResponse::Ok()
            .insert_header((
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"consent-receipt-{wanted}.json\""),
            ))
            .json(json!({
                "receipt": receipt::payload(&record),
                "jws": jws,
                "kid": kid,
                "jwks_uri": jwks_uri,
            })))
    })
    .await
}

/// `GET /.well-known/jwks.json`: every key that signs or signed tokens and
/// receipts (RFC 7517), so receipts verify offline.
pub async fn jwks<P: EventPublisher>(state: web::Data<AppState<P>>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .json(state.privacy.keys.jwks())
}
