//! The admin API for a site's operator (`collector/README.md`, Admin API):
//! requests that arrive by e-mail or from a logged-in user, by visitor id
//! or by first-party user id.
//!
//! * `POST /v1/admin/{site}/requests` `{"kind": "erasure" | "export",
//!   "visitor_id" | "user_id": "…"}`: an erasure is published and enforced
//!   as from the privacy center (by user id: the user key, never the id);
//!   an export request is recorded and answered with where to fetch it.
//! * `GET /v1/admin/{site}/requests[?visitor_id=|user_id=]`: requests and
//!   their states, from `privacy_requests`.
//! * `GET /v1/admin/{site}/export?visitor_id=…|user_id=…`: the export,
//!   streamed.
//!
//! Checks, in order: the per-IP rate limit (not audited: a flood must not
//! become a flood of inserts); an admin secret configured (else `404`:
//! there is no admin API); a warehouse configured (else `503`: nothing
//! could be audited); then, each refusal audited: `Authorization: Bearer
//! <secret>` compared in constant time (`401 admin_unauthorized`), the
//! site (`403`), the input (`400`). Every call that got past the first
//! three is written to `admin_audit` before anything is done, with the
//! status it is answered with; if that insert fails, nothing is done and
//! the answer is `503 audit_failed`.

mod input;

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use fiducia_proto::privacy::channel;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::privacy::bearer;
use super::privacy::rights::{self, erase_subject, export_subject, record_access, rows_of};
use super::{AppState, method_not_allowed, rate_limit};
use crate::client_ip::{client_ip, prefix_text, truncate};
use crate::error::ApiError;
use crate::metrics;
use crate::privacy::requests::{Named, id_text};
use crate::publish::EventPublisher;
use crate::warehouse::AuditRow;
use input::{Kind, Wanted};

const REQUESTS: &str = "/v1/admin/{site}/requests";
const EXPORT: &str = "/v1/admin/{site}/export";

/// Mounts the admin routes.
pub fn configure<P: EventPublisher>(config: &mut web::ServiceConfig) {
    let no_store = || DefaultHeaders::new().add((CACHE_CONTROL, "no-store"));
    config.service(
        web::resource(REQUESTS)
            .wrap(no_store())
            .route(web::post().to(create::<P>))
            .route(web::get().to(list::<P>))
            .default_service(method_not_allowed("GET, POST")),
    );
    config.service(
        web::resource(EXPORT)
            .wrap(no_store())
            .route(web::get().to(export::<P>))
            .default_service(method_not_allowed("GET")),
    );
}

/// Whether `given` is the configured secret, in time independent of where
/// they differ (both are hashed first, so not of their lengths either).
fn is_secret(secret: &str, given: &str) -> bool {
    let a = Sha256::digest(secret.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    a.ct_eq(&b).into()
}

/// One admin call in progress: what its audit row will say.
struct Call<'r> {
    request: &'r HttpRequest,
    route: &'static str,
    site: String,
    subject: String,
    request_id: String,
}

impl Call<'_> {
    /// Writes the call's audit row with the status it is answered with.
    async fn audit<P>(&self, state: &AppState<P>, status: StatusCode) -> Result<(), ApiError> {
        let warehouse = rights::warehouse(state)?;
        let ip = client_ip(self.request, &state.trusted_proxies)
            .map(|ip| prefix_text(&truncate(ip)))
            .unwrap_or_default();
        let call_id = uuid::Uuid::now_v7().to_string();
        let row = AuditRow {
            called_at_ms: fiducia_proto::time::now_ms(),
            call_id: &call_id,
            site_id: &self.site,
            route: self.route,
            method: self.request.method().as_str(),
            subject: &self.subject,
            request_id: &self.request_id,
            status: status.as_u16(),
            ip_prefix: &ip,
        };
        warehouse.audit(&row).await.map_err(|error| {
            tracing::warn!(%error, route = self.route, "admin call not audited, so not made");
            ApiError::AuditFailed
        })
    }
}

/// Runs an admin call: the unaudited checks, then `check` (whose refusal
/// is audited), the audit of the call as it will be answered, then `act`.
async fn admin<'r, P, T, Act, Fut>(
    request: &'r HttpRequest,
    state: &AppState<P>,
    route: &'static str,
    site: String,
    check: impl FnOnce(&mut Call<'r>) -> Result<T, ApiError>,
    status: StatusCode,
    act: Act,
) -> Result<HttpResponse, ApiError>
where
    Act: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let result = async {
        rate_limit(request, state)?;
        let secret = state.admin_secret.as_ref().ok_or(ApiError::NotFound)?;
        rights::warehouse(state)?;
        // An unknown site is audited too, cut to a site id's longest.
        let mut call = Call {
            request,
            route,
            site: site.chars().take(64).collect(),
            subject: String::new(),
            request_id: String::new(),
        };
        let checked = bearer(request)
            .filter(|given| is_secret(&secret.0, given))
            .ok_or(ApiError::AdminUnauthorized)
            .and_then(|_| {
                state
                    .sites
                    .get(&call.site)
                    .ok_or(ApiError::UnknownSite)
                    .map(|_| ())
            })
            .and_then(|()| check(&mut call));
        match checked {
            Err(refusal) => {
                call.audit(state, refusal.status_code()).await?;
                Err(refusal)
            }
            Ok(value) => {
                call.audit(state, status).await?;
                act(value).await
            }
        }
    }
    .await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.reason(),
    };
    ::metrics::counter!(metrics::ADMIN_CALLS, "route" => route, "outcome" => outcome).increment(1);
    result
}

/// `POST /v1/admin/{site}/requests`.
///
/// # Errors
/// Module docs; the request could not be made durable (`503`).
pub async fn create<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    // The body is read before the call is checked, within the usual
    // limits, so its refusals (size, media type) are audited too.
    let body = crate::body::read(&request, payload, &state.limits).await;
    let site = path.into_inner();
    let state = &**state;
    let ip = client_ip(&request, &state.trusted_proxies).map(truncate);
    admin(
        &request,
        state,
        REQUESTS,
        site.clone(),
        |call| {
            let (kind, wanted) = input::parse_body(&body?)?;
            let named = wanted.named(&call.site);
            let id = uuid::Uuid::now_v7();
            call.subject = named.audit();
            call.request_id = id.to_string();
            Ok((kind, wanted, named, id))
        },
        StatusCode::ACCEPTED,
        |(kind, wanted, named, id)| async move {
            let answer = match kind {
                Kind::Erasure => {
                    erase_subject(state, &site, &named, channel::ADMIN, id, ip)
                        .await?
                        .1
                }
                Kind::Export => {
                    let now = record_access(state, &site, &named, channel::ADMIN, id).await?;
                    json!({
                        "request_id": id_text(id.as_bytes()),
                        "kind": "export",
                        "status": "received",
                        "site": site,
                        "requested_at": now,
                        "export": format!("/v1/admin/{site}/export?{}", wanted.query()),
                    })
                }
            };
            Ok(HttpResponse::Accepted().json(answer))
        },
    )
    .await
}

/// `GET /v1/admin/{site}/requests`.
///
/// # Errors
/// Module docs; ClickHouse does not answer (`503`).
pub async fn list<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let site = path.into_inner();
    let state = &**state;
    admin(
        &request,
        state,
        REQUESTS,
        site.clone(),
        |call| {
            let wanted = input::parse_query(request.query_string(), false)?;
            let named = wanted.as_ref().map(|w| w.named(&call.site));
            call.subject = named.as_ref().map(Named::audit).unwrap_or_default();
            Ok(named)
        },
        StatusCode::OK,
        |named| async move {
            let warehouse = rights::warehouse(state)?;
            let (filter, value) = match &named {
                None => ("", String::new()),
                Some(Named::Visitor(id)) => (" AND subject = ?", id.clone()),
                Some(Named::UserKey(key)) => (" AND user_key = ?", key.clone()),
            };
            let mut query = warehouse
                .query(&format!(
                    "SELECT * FROM {{db}}.privacy_requests FINAL WHERE site_id = ?{filter} \
                     ORDER BY requested_at DESC LIMIT 1000 FORMAT JSON"
                ))
                .bind(&site);
            if named.is_some() {
                query = query.bind(&value);
            }
            let rows = rows_of(warehouse, query).await?;
            Ok(HttpResponse::Ok().json(json!({"site": site, "requests": rows})))
        },
    )
    .await
}

/// `GET /v1/admin/{site}/export?visitor_id=…|user_id=…`.
///
/// # Errors
/// Module docs; ClickHouse does not answer (`503`).
pub async fn export<P: EventPublisher>(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let site = path.into_inner();
    let state = &**state;
    admin(
        &request,
        state,
        EXPORT,
        site.clone(),
        |call| {
            let wanted = input::parse_query(request.query_string(), true)?
                .ok_or_else(|| input::invalid("(query)", "name visitor_id or user_id"))?;
            let named = wanted.named(&call.site);
            let id = uuid::Uuid::now_v7();
            call.subject = named.audit();
            call.request_id = id.to_string();
            Ok((wanted, named, id))
        },
        StatusCode::OK,
        |(wanted, named, id)| async move {
            let consent = match &wanted {
                Wanted::Visitor(visitor) => rights::consent_of(state, &site, visitor),
                Wanted::User(_) => json!({
                    "purposes": null,
                    "history": [],
                    "note": "consent is recorded per visitor id: export by visitor id for it",
                }),
            };
            let subject = wanted.subject(&site);
            tracing::info!(site, request_id = %id, "admin export");
            export_subject(state, &site, &subject, &named, consent, channel::ADMIN, id).await
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::is_secret;

    #[test]
    fn only_the_exact_secret_is_the_secret() {
        let secret = "s3cret-s3cret-s3cret";
        assert!(is_secret(secret, secret));
        for other in [
            "",
            "s3cret",
            "s3cret-s3cret-s3creT",
            "s3cret-s3cret-s3cret ",
        ] {
            assert!(!is_secret(secret, other), "{other:?}");
        }
    }
}
