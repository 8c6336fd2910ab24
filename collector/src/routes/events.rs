//! `POST /v1/events`: the tag's batches. Rate limit → read the body within
//! bounds → parse and validate → site and origin → consent gate → publish →
//! `204` once Kafka acknowledged every accepted event. Drops are counted and
//! named in the `Fiducia-Dropped` header; refusals carry a machine-readable
//! reason.

use std::fmt::Write as _;

use actix_web::http::header::USER_AGENT;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::cors::origin;
use crate::accept::{Accepted, RequestMeta, accept};
use crate::client_ip::{client_ip, truncate};
use crate::error::ApiError;
use crate::publish::EventPublisher;
use crate::{body, envelope, metrics};

/// Response header naming dropped events by reason, e.g. `no_measurement_consent=3`.
pub const DROPPED_HEADER: &str = "Fiducia-Dropped";

/// Handles one batch.
///
/// # Errors
/// Every refusal, as an [`ApiError`] (also counted by reason).
#[tracing::instrument(name = "post_events", skip_all)]
pub async fn post<P: EventPublisher>(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState<P>>,
) -> Result<HttpResponse, ApiError> {
    let mut events_in_request = 0;
    let result = handle(&request, payload, &state, &mut events_in_request).await;
    if let Err(error) = &result {
        let reason = error.reason();
        ::metrics::counter!(metrics::REQUESTS_REJECTED, "reason" => reason).increment(1);
        if events_in_request > 0 {
            ::metrics::counter!(metrics::EVENTS_REJECTED, "reason" => reason)
                .increment(events_in_request as u64);
        }
        tracing::info!(reason, events = events_in_request, "request refused");
    }
    result
}

async fn handle<P: EventPublisher>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState<P>,
    events_in_request: &mut usize,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(request, &state.trusted_proxies);
    if let Some(ip) = ip {
        state
            .limiter
            .check(ip)
            .map_err(|retry_after_seconds| ApiError::RateLimited {
                retry_after_seconds,
            })?;
    }
    let body = body::read(request, payload, &state.limits).await?;
    ::metrics::histogram!(metrics::REQUEST_BODY_SIZE).record(body.len() as f64);
    let envelope = envelope::parse(&body)?;
    *events_in_request = envelope.events.len();
    let site = state
        .sites
        .get(&envelope.site)
        .ok_or(ApiError::UnknownSite)?;
    if origin(request).is_some_and(|o| !site.allows(o)) {
        return Err(ApiError::OriginNotAllowed);
    }
    let ids = envelope.validate(&state.limits)?;
    let meta = RequestMeta {
        ip: ip.map(truncate),
        user_agent: request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect(),
        received_at_ms: fiducia_proto::time::now_ms(),
    };
    let Accepted { events, dropped } = accept(envelope, &ids, &meta);
    let kept = events.len();
    if kept > 0 {
        state.publisher.publish(events).await.map_err(|error| {
            tracing::warn!(%error, events = kept, "publish failed");
            ApiError::Unavailable {
                retry_after_seconds: state.retry_after_seconds,
            }
        })?;
        ::metrics::counter!(metrics::EVENTS, "decision" => "keep", "reason" => "consented")
            .increment(kept as u64);
    }
    let mut response = HttpResponse::NoContent();
    if !dropped.is_empty() {
        let mut header = String::new();
        for (reason, count) in &dropped {
            ::metrics::counter!(metrics::EVENTS, "decision" => "drop", "reason" => reason.as_str())
                .increment(*count as u64);
            if !header.is_empty() {
                header.push_str(", ");
            }
            let _ = write!(header, "{}={count}", reason.as_str());
        }
        response.insert_header((DROPPED_HEADER, header));
    }
    Ok(response.finish())
}
