//! CORS for the tag's requests. The tag posts `text/plain` (a "simple"
//! request: no preflight), so most browsers never send `OPTIONS`; when one
//! does, we answer it for origins that some configured site allows. Whether
//! the origin may post for *this* site is checked with the body, in
//! [`super::events`], because a preflight does not say which site.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::error::ApiError;
use crate::publish::EventPublisher;

/// Response headers the tag may read.
const EXPOSED: &str = "Fiducia-Dropped, Fiducia-Visitor, Retry-After";

/// Answers a preflight of the tag's routes (`POST`): `204` with the CORS
/// grant, or `403 origin_not_allowed`. Explain takes a visitor token too.
///
/// # Errors
/// [`ApiError::OriginNotAllowed`] when no configured site allows the origin.
pub async fn preflight<P: EventPublisher>(
    request: HttpRequest,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    grant(
        &request,
        &state,
        "POST",
        "authorization, content-type, content-encoding",
    )
}

/// Answers a preflight of the privacy routes (`GET`, `POST`, with the
/// visitor's token in `Authorization`), as [`preflight`] does.
///
/// # Errors
/// [`ApiError::OriginNotAllowed`] when no configured site allows the origin.
pub async fn privacy_preflight<P: EventPublisher>(
    request: HttpRequest,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    grant(&request, &state, "GET, POST", "authorization, content-type")
}

fn grant<P>(
    request: &HttpRequest,
    state: &AppState<P>,
    methods: &'static str,
    headers: &'static str,
) -> Result<HttpResponse, ApiError> {
    let allowed = origin(request).is_some_and(|o| state.sites.any_allows(o));
    if !allowed {
        return Err(ApiError::OriginNotAllowed);
    }
    Ok(HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, headers))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish())
}

/// Adds `Access-Control-Allow-Origin` (and friends) to every response whose
/// request came from an origin a configured site allows, errors included, so
/// the tag can read our `429`/`503` answers and their `Retry-After`.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn allow_origin<P: EventPublisher>(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The request's own value, shared (no copy): echoed as it came.
    let grant = request
        .headers()
        .get(header::ORIGIN)
        .filter(|value| {
            value.to_str().is_ok_and(|o| {
                request
                    .app_data::<web::Data<AppState<P>>>()
                    .is_some_and(|state| state.sites.any_allows(o))
            })
        })
        .cloned();
    let mut response = next.call(request).await?;
    if let Some(origin) = grant {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        // Appended: a route may vary on more (`GET /v1/profile`: Authorization).
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// The request's `Origin`, when it has a usable one.
#[must_use]
pub fn origin(request: &HttpRequest) -> Option<&str> {
    request.headers().get(header::ORIGIN)?.to_str().ok()
}
