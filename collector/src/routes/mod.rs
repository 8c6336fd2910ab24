//! The public API's routes and the middleware around them.

pub mod cors;
pub mod events;
pub mod tag;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use ipnet::IpNet;

use crate::config::Limits;
use crate::metrics;
use crate::publish::EventPublisher;
use crate::rate_limit::IpRateLimiter;
use crate::sites::Sites;

/// What every request handler shares.
pub struct AppState<P> {
    /// Where accepted events go.
    pub publisher: Arc<P>,
    /// Configured sites.
    pub sites: Sites,
    /// Request limits.
    pub limits: Limits,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `Retry-After` of `503`s, in seconds.
    pub retry_after_seconds: u32,
    /// Per-IP rate limiter.
    pub limiter: IpRateLimiter,
}

/// Mounts the public routes.
pub fn configure<P: EventPublisher>(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v1/events")
            .route(web::post().to(events::post::<P>))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight::<P>)),
    );
    config.service(tag::service());
}

/// Counts every request by route template and status, and times it.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let response = next.call(request).await?;
    let status = response.status().as_u16().to_string();
    ::metrics::counter!(metrics::HTTP_REQUESTS, "route" => route.clone(), "status" => status)
        .increment(1);
    ::metrics::histogram!(metrics::HTTP_REQUEST_DURATION, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}
