//! The visitor's rights in the privacy center (GDPR art. 15, 17, 20), and
//! the steps the admin API shares with it:
//!
//! * `POST …/erase`: an erasure request and its `erase` record, published
//!   together, then applied to this ledger: answered `202` once durable,
//!   so from the answer on every collector drops the visitor's events.
//!   Again for an erased visitor: `200` with the erasure's state.
//! * `POST …/retention` `{"months": n}`: the visitor's retention choice, a
//!   consent record carrying it (only choices shorter than the site's own,
//!   or 0 for the site's default).
//! * `GET …/export`: an access request published (the audit), then the
//!   export document streamed ([`crate::privacy::export`]).
//! * `GET …/requests`: the visitor's requests and their states, as the sink
//!   recorded them in `privacy_requests`.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_DISPOSITION;
use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::privacy::{channel, effective_retention_months};
use fiducia_proto::v1::{ConsentAction, IpPrefix, PrivacyRequestKind};
use serde_json::{Value, json};

use super::api::{center_record, history_items, state_of};
use super::{AppState, Proven, authorize, observed};
use crate::client_ip::{client_ip, truncate};
use crate::error::ApiError;
use crate::metrics;
use crate::privacy::export::{Export, Subject};
use crate::privacy::requests::{self, Named, id_text};
use crate::privacy::state::record_id;
use crate::publish::{Batch, EventPublisher};
use crate::warehouse::Warehouse;

/// `POST /v1/privacy/{site}/{visitor}/erase`.
///
/// # Errors
/// A refused token, site or origin; a ledger catching up; the request
/// could not be made durable (`503`).
pub async fn erase<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("erase", async {
        authorize(&request, &state, &site, &visitor)?;
        let ip = client_ip(&request, &state.trusted_proxies).map(truncate);
        let named = Named::Visitor(visitor.clone());
        let id = uuid::Uuid::now_v7();
        let (status, answer) =
            erase_subject(&state, &site, &named, channel::CENTER, id, ip).await?;
        Ok(HttpResponse::build(status).json(answer))
    })
    .await
}

/// Erases `named` on `site` (module docs) as request `id`: publishes the
/// request and its record in one batch, then applies the record here. An
/// erased subject is answered with its state and nothing is published
/// again.
///
/// # Errors
/// [`ApiError::Unavailable`] when the batch could not be made durable.
pub async fn erase_subject<P: EventPublisher>(
    state: &AppState<P>,
    site: &str,
    named: &Named,
    channel: &'static str,
    id: uuid::Uuid,
    ip: Option<IpPrefix>,
) -> Result<(StatusCode, Value), ApiError> {
    if let Some(previous) = erased(state, site, named) {
        return Ok((StatusCode::OK, previous));
    }
    let now = fiducia_proto::time::now_ms();
    let mut request = requests::request(PrivacyRequestKind::Erasure, site, named, channel, now);
    request.request_id = id.into_bytes().to_vec();
    let record = requests::erase_record(&request, ip.as_ref());
    let key = named.key(site);
    let id = id_text(&request.request_id);
    publish(
        state,
        Batch {
            records: vec![(key.clone(), record.clone())],
            requests: vec![(key, request)],
            ..Batch::default()
        },
    )
    .await?;
    state.ledger.apply(&record);
    count_request("erasure", channel);
    ::metrics::counter!(metrics::CONSENT_RECORDS, "action" => "erase", "source" => "privacy")
        .increment(1);
    tracing::info!(site, channel, request_id = %id, "erasure received");
    Ok((
        StatusCode::ACCEPTED,
        json!({
            "request_id": id,
            "kind": "erasure",
            "status": "received",
            "site": site,
            "requested_at": now,
        }),
    ))
}

/// The state of an earlier erasure of `named`, if it was erased.
fn erased<P>(state: &AppState<P>, site: &str, named: &Named) -> Option<Value> {
    match named {
        Named::Visitor(visitor) => {
            let entry = state.ledger.get(site, visitor).filter(|e| e.erased)?;
            let record = state
                .ledger
                .history(site, visitor)
                .into_iter()
                .rev()
                .find(|r| r.action() == ConsentAction::Erase);
            Some(json!({
                "request_id": record.as_ref().map(record_id),
                "kind": "erasure",
                "status": "erased",
                "site": site,
                "requested_at": entry.server_ts_ms,
            }))
        }
        Named::UserKey(key) => state.ledger.user_key_erased(site, key).then(
            || json!({"request_id": null, "kind": "erasure", "status": "erased", "site": site}),
        ),
    }
}

/// Publishes `batch`, or refuses with `503`.
///
/// # Errors
/// [`ApiError::Unavailable`] when the broker did not acknowledge it.
pub async fn publish<P: EventPublisher>(state: &AppState<P>, batch: Batch) -> Result<(), ApiError> {
    state.publisher.publish(batch).await.map_err(|error| {
        tracing::warn!(%error, "privacy request not published");
        ApiError::Unavailable {
            retry_after_seconds: state.retry_after_seconds,
        }
    })
}

fn count_request(kind: &'static str, channel: &'static str) {
    ::metrics::counter!(metrics::RIGHTS_REQUESTS, "kind" => kind, "channel" => channel)
        .increment(1);
}

/// `POST /v1/privacy/{site}/{visitor}/retention` `{"months": n}`.
///
/// # Errors
/// As [`erase`]; a body that is not such an object, or a choice the site
/// does not offer (`400 invalid_field`).
pub async fn retention<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("retention", async {
        let Proven { site: config, .. } = authorize(&request, &state, &site, &visitor)?;
        let body = crate::body::read(&request, payload, &state.limits).await?;
        let choices = config.retention_choices();
        let months = parse_months(&body, &choices)?;
        let entry = state.ledger.get(&site, &visitor);
        if entry.is_some_and(|e| e.erased) {
            return Err(ApiError::InvalidField {
                field: "months".into(),
                message: "this visitor's data was erased".into(),
            });
        }
        let record =
            center_record(&request, &state, &site, &visitor, config, &[], Some(months)).await?;
        let mut answer = state_of(&state, &site, &visitor);
        answer["record_id"] = record_id(&record).into();
        answer["retention"] = retention_state(months, config.identified_retention_months, &choices);
        Ok(HttpResponse::Ok().json(answer))
    })
    .await
}

/// The retention part of the privacy center's answers.
#[must_use]
pub fn retention_state(chosen: u32, site_months: u32, choices: &[u32]) -> Value {
    json!({
        "months": chosen,
        "effective_months": effective_retention_months(chosen, site_months),
        "site_months": site_months,
        "choices": choices,
    })
}

fn parse_months(body: &[u8], choices: &[u32]) -> Result<u32, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::InvalidUtf8)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let months = value
        .get("months")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok());
    match months {
        Some(m) if m == 0 || choices.contains(&m) => Ok(m),
        _ => Err(ApiError::InvalidField {
            field: "months".into(),
            message: format!("one of 0 (the site's default) or {choices:?}"),
        }),
    }
}

/// `GET /v1/privacy/{site}/{visitor}/export`.
///
/// # Errors
/// As [`erase`]; no ClickHouse configured or reachable (`503
/// warehouse_unavailable`).
pub async fn export<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("export", async {
        authorize(&request, &state, &site, &visitor)?;
        let consent = consent_of(&state, &site, &visitor);
        let subject = Subject::Visitor(visitor.clone());
        let named = Named::Visitor(visitor.clone());
        let id = uuid::Uuid::now_v7();
        export_subject(
            &state,
            &site,
            &subject,
            &named,
            consent,
            channel::CENTER,
            id,
        )
        .await
    })
    .await
}

/// The ledger's part of an export: the state of every purpose, the
/// retention choice and every record with its receipt's path.
#[must_use]
pub fn consent_of<P>(state: &AppState<P>, site: &str, visitor: &str) -> Value {
    let now = state_of(state, site, visitor);
    json!({
        "purposes": now["purposes"],
        "retention_months": state.ledger.get(site, visitor).map_or(0, |e| e.retention_months),
        "history": history_items(state, site, visitor),
    })
}

/// Publishes an access request for `named` (the audit of the export), then
/// streams the export of `subject`.
///
/// # Errors
/// No warehouse (`503`); the request could not be made durable (`503`).
pub async fn export_subject<P: EventPublisher>(
    state: &AppState<P>,
    site: &str,
    subject: &Subject,
    named: &Named,
    consent: Value,
    channel: &'static str,
    id: uuid::Uuid,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse(state)?;
    let tables = warehouse.tables().await.map_err(|error| {
        tracing::warn!(%error, "export refused: clickhouse does not answer");
        ApiError::WarehouseUnavailable
    })?;
    record_access(state, site, named, channel, id).await?;
    let export = Export::plan(warehouse, &tables, site, subject, &consent, channel);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{site}-export-{id}.json\""),
        ))
        .insert_header((REQUEST_ID_HEADER, id.to_string()))
        .streaming(export.into_stream()))
}

/// Publishes access request `id` about `named`, the record that an export
/// was asked for (the sink keeps it in `privacy_requests`); returns when it
/// was requested (Unix ms).
///
/// # Errors
/// [`ApiError::Unavailable`] when it could not be made durable.
pub async fn record_access<P: EventPublisher>(
    state: &AppState<P>,
    site: &str,
    named: &Named,
    channel: &'static str,
    id: uuid::Uuid,
) -> Result<i64, ApiError> {
    let now = fiducia_proto::time::now_ms();
    let mut request = requests::request(PrivacyRequestKind::Access, site, named, channel, now);
    request.request_id = id.into_bytes().to_vec();
    let batch = Batch {
        requests: vec![(named.key(site), request)],
        ..Batch::default()
    };
    publish(state, batch).await?;
    count_request("access", channel);
    Ok(now)
}

/// The response header naming the request an answer made.
pub const REQUEST_ID_HEADER: &str = "Fiducia-Request-Id";

/// The configured warehouse, or `503`.
///
/// # Errors
/// [`ApiError::WarehouseUnavailable`] when none is configured.
pub fn warehouse<P>(state: &AppState<P>) -> Result<&Warehouse, ApiError> {
    state
        .warehouse
        .as_ref()
        .ok_or(ApiError::WarehouseUnavailable)
}

/// `GET /v1/privacy/{site}/{visitor}/requests`.
///
/// # Errors
/// As [`export`].
pub async fn list<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let (site, visitor) = path.into_inner();
    observed("requests", async {
        authorize(&request, &state, &site, &visitor)?;
        let warehouse = warehouse(&state)?;
        let query = warehouse
            .query(
                "SELECT * FROM {db}.privacy_requests FINAL WHERE site_id = ? AND subject = ? \
                 ORDER BY requested_at LIMIT 1000 FORMAT JSON",
            )
            .bind(&site)
            .bind(&visitor);
        let rows = rows_of(warehouse, query).await?;
        Ok(HttpResponse::Ok().json(json!({"site": site, "visitor": visitor, "requests": rows})))
    })
    .await
}

/// The `data` of a small `FORMAT JSON` result.
///
/// # Errors
/// [`ApiError::WarehouseUnavailable`] when ClickHouse does not answer.
pub async fn rows_of(
    warehouse: &Warehouse,
    query: clickhouse::query::Query,
) -> Result<Value, ApiError> {
    let unavailable = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "request states not read");
        ApiError::WarehouseUnavailable
    };
    let bytes = warehouse.read(query).await.map_err(|e| unavailable(&e))?;
    let mut document: Value = serde_json::from_slice(&bytes).map_err(|e| unavailable(&e))?;
    Ok(document["data"].take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_choices_or_the_default_are_taken() {
        let choices = [1, 6];
        assert_eq!(parse_months(br#"{"months":6}"#, &choices).unwrap(), 6);
        assert_eq!(parse_months(br#"{"months":0}"#, &choices).unwrap(), 0);
        for bad in [
            &br#"{"months":13}"#[..],
            br#"{"months":-1}"#,
            br#"{"months":"6"}"#,
            br#"{"months":4294967302}"#,
            br#"{}"#,
            br#"[6]"#,
        ] {
            assert_eq!(
                parse_months(bad, &choices).unwrap_err().reason(),
                "invalid_field"
            );
        }
        assert_eq!(
            parse_months(b"{", &choices).unwrap_err().reason(),
            "invalid_json"
        );
    }
}
