//! `GET /v1/profile/{site}?path=<page path>&referrer=<document.referrer>&limit=<1-20>`
//! (`collector/README.md`, Profiles): a personal answer for a visitor who
//! proves who they are with the privacy center's token and whose consent
//! allows it ([`crate::profile::consent`]), a contextual one otherwise.
//!
//! Checks, in order: the per-IP rate limit, the site, the origin (the
//! site's own, as for the tag's routes). Then, without a token, the answer
//! is contextual and nothing identifying is read: no cookie, no id, no
//! store look-up. With one, the token is verified as the privacy routes
//! verify it (any failure answers contextual and counts the token's
//! reason), and the rule decides. Never a query to ClickHouse; `/v1/events`
//! never waits on the stores.
//!
//! Caching: a personal answer, and any answer to a request with a token, is
//! `no-store`; a contextual answer to a request without one is `private,
//! max-age=60`, `Vary: Authorization`.

use std::time::Instant;

use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, USER_AGENT, VARY};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{AppState, cors, method_not_allowed, rate_limit};
use crate::error::ApiError;
use crate::metrics::{self, ProfileAnswer};
use crate::privacy::token::TokenError;
use crate::profile::answer;
use crate::profile::consent::{self, Contextual, Facts};
use crate::profile::follow::forgets;
use crate::profile::items::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::profile::page::{self, Context};
use crate::profile::store::profile_key;
use crate::publish::EventPublisher;
use crate::sites::Site;

/// Mounts the route.
pub fn configure<P: EventPublisher>(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v1/profile/{site}")
            .route(web::get().to(get::<P>))
            .route(web::method(Method::OPTIONS).to(cors::privacy_preflight::<P>))
            .default_service(method_not_allowed("GET, OPTIONS")),
    );
}

/// The query string.
#[derive(Debug, Default, Deserialize)]
struct Query {
    /// The page path (`location.pathname`).
    #[serde(default)]
    path: String,
    /// `document.referrer`.
    #[serde(default)]
    referrer: String,
    /// Items wanted, 1-20 (default 6).
    limit: Option<usize>,
}

/// Answers `GET /v1/profile/{site}` (module docs).
///
/// # Errors
/// A rate-limited client, an unknown site, an origin the site does not
/// allow, or a malformed query.
pub async fn get<P: EventPublisher>(
    request: HttpRequest,
    site: web::Path<String>,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let answered = respond(&request, &site, &state);
    // A refusal is an answer too: `none`.
    answered
        .as_ref()
        .map_or(ProfileAnswer::None, |(_, kind)| *kind)
        .count();
    metrics::hot()
        .profile_duration
        .record(started.elapsed().as_secs_f64());
    answered.map(|(response, _)| response)
}

/// The answer and its kind, or the refusal.
fn respond<P: EventPublisher>(
    request: &HttpRequest,
    site_id: &str,
    state: &AppState<P>,
) -> Result<(HttpResponse, ProfileAnswer), ApiError> {
    rate_limit(request, state)?;
    let site = state.sites.get(site_id).ok_or(ApiError::UnknownSite)?;
    let origin = cors::origin(request);
    if origin.is_some_and(|o| !site.allows(o)) {
        return Err(ApiError::OriginNotAllowed);
    }
    let query = web::Query::<Query>::from_query(request.query_string())
        .map_err(|e| ApiError::InvalidField {
            field: "query".into(),
            message: e.to_string(),
        })?
        .into_inner();
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n @ 1..=MAX_LIMIT) => n,
        Some(_) => {
            return Err(ApiError::InvalidField {
                field: "limit".into(),
                message: format!("1-{MAX_LIMIT}"),
            });
        }
    };
    let now = fiducia_proto::time::now_ms();
    let lists = state.stores.items.site(site_id);
    let token = super::privacy::bearer(request);
    let personal = token.map(|token| decide(request, state, site, site_id, token, now));
    let (body, cache, answer) = match personal {
        Some(Ok((basis, profile))) => {
            let body = answer::personal(site_id, site, &basis, &profile, &lists, limit, now);
            (
                serde_json::to_vec(&body),
                "no-store",
                ProfileAnswer::Personal,
            )
        }
        Some(Err(why)) => {
            let context = context(request, site, &query, origin, now);
            let body = answer::contextual(site_id, &context, &lists, limit, why);
            (
                serde_json::to_vec(&body),
                "no-store",
                ProfileAnswer::Contextual,
            )
        }
        None => {
            let context = context(request, site, &query, origin, now);
            let body = answer::contextual(site_id, &context, &lists, limit, Contextual::NoToken);
            (
                serde_json::to_vec(&body),
                "private, max-age=60",
                ProfileAnswer::Contextual,
            )
        }
    };
    let body = body.map_err(|e| ApiError::InvalidField {
        field: "answer".into(),
        message: e.to_string(),
    })?;
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, cache));
    if token.is_none() {
        response.append_header((VARY, HeaderValue::from_static("Authorization")));
    }
    Ok((response.body(body), answer))
}

/// The rule for the visitor `token` proves, with their profile when it
/// allows a personal answer.
fn decide<P>(
    request: &HttpRequest,
    state: &AppState<P>,
    site: &Site,
    site_id: &str,
    token: &str,
    now_ms: i64,
) -> Result<(consent::Basis, fiducia_proto::v1::Profile), Contextual> {
    let claims = if state.privacy.keys.signer().is_none() {
        Err(TokenError::UnknownKey)
    } else {
        state
            .stores
            .tokens
            .verify_site(&state.privacy.keys, token, site_id, now_ms)
    }
    .map_err(|error| {
        ::metrics::counter!(metrics::TOKEN_FAILURES, "reason" => error.reason()).increment(1);
        Contextual::TokenRefused
    })?;
    if !(state.stores.profiles_caught_up)() {
        return Err(Contextual::StoreCatchingUp);
    }
    let entry = state.ledger.get(site_id, &claims.sub);
    // The profile is looked up only for a visitor whose entry grants
    // personalization at all.
    let profile = entry.as_ref().filter(|e| !forgets(e)).and_then(|_| {
        state
            .stores
            .profiles
            .get(&profile_key(site_id, &claims.sub))
    });
    let headers = request.headers();
    let is_one = |name: &str| headers.get_all(name).any(|v| v.as_bytes() == b"1");
    let facts = Facts {
        ledger_caught_up: (state.ledger_caught_up)(),
        entry: entry.as_ref(),
        max_age_ms: site.consent.max_age_ms,
        gpc: is_one("sec-gpc"),
        dnt: site.consent.honor_dnt && is_one("dnt"),
        profile_begun_at_ms: profile.as_ref().map(|p| p.begun_at_ms),
        now_ms,
    };
    let basis = consent::decide(&facts)?;
    profile.map(|p| (basis, p)).ok_or(Contextual::NoProfile)
}

/// The request's context: nothing but the request.
fn context(
    request: &HttpRequest,
    site: &Site,
    query: &Query,
    origin: Option<&str>,
    now_ms: i64,
) -> Context {
    let page_host = origin.and_then(page::origin_host);
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    page::context(
        &site.page,
        &page::Request {
            path: &query.path,
            referrer: &query.referrer,
            page_host: page_host.as_deref(),
            user_agent,
            now_ms,
        },
    )
}

#[cfg(test)]
mod tests;
