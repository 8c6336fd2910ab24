//! The privacy center's routes (`collector/README.md`, The privacy center):
//! the API under `/v1/privacy/{site}/{visitor}/…`, every call proven by
//! the visitor's token; the page (`GET /privacy`) and the tag's reminder;
//! the public keys (`GET /.well-known/jwks.json`).
//!
//! Every API answer, errors included, is `Cache-Control: no-store`; CORS
//! is the site's, as for the tag's routes. Checks, in order: the per-IP
//! rate limit, a configured key, the token (form, signature, expiry, then
//! site and visitor), the site, the origin (a configured origin of the
//! site, or the collector's own page), a caught-up ledger.

mod api;
mod page;
pub mod rights;

use std::future::Future;

use actix_web::http::Method;
use actix_web::http::header::{self, CACHE_CONTROL};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, cors, method_not_allowed, rate_limit};
use crate::error::ApiError;
use crate::metrics;
use crate::privacy::token::{self, Claims, TokenError};
use crate::publish::EventPublisher;
use crate::sites::Site;

/// Mounts the privacy routes.
pub fn configure<P: EventPublisher>(config: &mut web::ServiceConfig) {
    let no_store = || DefaultHeaders::new().add((CACHE_CONTROL, "no-store"));
    let preflight = || web::method(Method::OPTIONS).to(cors::privacy_preflight::<P>);
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/consent")
            .wrap(no_store())
            .route(web::get().to(api::consent::<P>))
            .route(web::post().to(api::change::<P>))
            .route(preflight())
            .default_service(method_not_allowed("GET, POST, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/history")
            .wrap(no_store())
            .route(web::get().to(api::history::<P>))
            .route(preflight())
            .default_service(method_not_allowed("GET, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/receipts/{record}")
            .wrap(no_store())
            .route(web::get().to(api::receipt::<P>))
            .route(preflight())
            .default_service(method_not_allowed("GET, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/erase")
            .wrap(no_store())
            .route(web::post().to(rights::erase::<P>))
            .route(preflight())
            .default_service(method_not_allowed("POST, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/retention")
            .wrap(no_store())
            .route(web::post().to(rights::retention::<P>))
            .route(preflight())
            .default_service(method_not_allowed("POST, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/export")
            .wrap(no_store())
            .route(web::get().to(rights::export::<P>))
            .route(preflight())
            .default_service(method_not_allowed("GET, OPTIONS")),
    );
    config.service(
        web::resource("/v1/privacy/{site}/{visitor}/requests")
            .wrap(no_store())
            .route(web::get().to(rights::list::<P>))
            .route(preflight())
            .default_service(method_not_allowed("GET, OPTIONS")),
    );
    config.service(
        web::resource("/.well-known/jwks.json")
            .route(web::get().to(api::jwks::<P>))
            .default_service(method_not_allowed("GET")),
    );
    page::configure(config);
}

/// Who a privacy request proved to be.
pub struct Proven<'s> {
    /// The token's claims.
    pub claims: Claims,
    /// Their site.
    pub site: &'s Site,
}

/// The request's bearer token, if it has one.
#[must_use]
pub fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks a privacy request for `visitor` of `site` (module docs, in order).
///
/// # Errors
/// The first check that fails.
pub fn authorize<'s, P>(
    request: &HttpRequest,
    state: &'s AppState<P>,
    site: &str,
    visitor: &str,
) -> Result<Proven<'s>, ApiError> {
    rate_limit(request, state)?;
    let now = fiducia_proto::time::now_ms();
    let claims =
        prove(request, state, site, visitor, now)?.ok_or(ApiError::Token(TokenError::Missing))?;
    let site = state.sites.get(site).ok_or(ApiError::UnknownSite)?;
    if let Some(origin) = cors::origin(request)
        && !site.allows(origin)
        && !is_own_origin(request, origin)
    {
        return Err(ApiError::OriginNotAllowed);
    }
    if !(state.ledger_caught_up)() {
        return Err(ApiError::LedgerCatchingUp {
            retry_after_seconds: state.retry_after_seconds,
        });
    }
    Ok(Proven { claims, site })
}

/// The collector's own pages (the privacy center) call it from its origin.
fn is_own_origin(request: &HttpRequest, origin: &str) -> bool {
    let info = request.connection_info();
    origin == format!("{}://{}", info.scheme(), info.host())
}

/// Runs a privacy route's work, counting its outcome under `route`.
///
/// # Errors
/// Whatever `work` refused.
pub async fn observed(
    route: &'static str,
    work: impl Future<Output = Result<HttpResponse, ApiError>>,
) -> Result<HttpResponse, ApiError> {
    let result = work.await;
    count(route, &result);
    result
}

/// Counts a privacy request's outcome (`ok`, or the refusal's reason)
/// under `route`, and a refused token's reason.
pub fn count<T>(route: &'static str, result: &Result<T, ApiError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(error) => error.reason(),
    };
    ::metrics::counter!(metrics::PRIVACY_REQUESTS, "route" => route, "outcome" => outcome)
        .increment(1);
    if let Err(ApiError::Token(error)) = result {
        ::metrics::counter!(metrics::TOKEN_FAILURES, "reason" => error.reason()).increment(1);
        tracing::info!(route, reason = error.reason(), "privacy request refused");
    }
}

/// The visitor token of `request`, checked for `visitor` of `site`:
/// `None` when it carries none.
///
/// # Errors
/// A token that does not prove that visitor, or no key to check it with.
pub fn prove<P>(
    request: &HttpRequest,
    state: &AppState<P>,
    site: &str,
    visitor: &str,
    now_ms: i64,
) -> Result<Option<Claims>, ApiError> {
    let Some(token) = bearer(request) else {
        return Ok(None);
    };
    if state.privacy.keys.signer().is_none() {
        return Err(ApiError::PrivacyUnavailable);
    }
    token::verify(&state.privacy.keys, token, site, visitor, now_ms)
        .map(Some)
        .map_err(ApiError::Token)
}

#[cfg(test)]
mod tests;
