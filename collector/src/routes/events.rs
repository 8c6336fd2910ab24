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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use actix_web::{App, test};

    use super::*;
    use crate::config::Limits;
    use crate::publish::memory::MemoryPublisher;
    use crate::rate_limit::IpRateLimiter;
    use crate::sites::{Site, Sites};

    async fn call(
        publisher: &Arc<MemoryPublisher>,
        measurement: &str,
    ) -> actix_web::dev::ServiceResponse {
        let sites = Sites::new(BTreeMap::from([(
            "demo".to_owned(),
            Site {
                allowed_origins: vec!["http://localhost:8000".to_owned()],
            },
        )]))
        .unwrap();
        let limit = NonZeroU32::new(1000).unwrap();
        let state = web::Data::new(AppState {
            publisher: Arc::clone(publisher),
            sites,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            retry_after_seconds: 7,
            limiter: IpRateLimiter::new(limit, limit),
        });
        let app = test::init_service(
            App::new()
                .app_data(state)
                .configure(super::super::configure::<MemoryPublisher>),
        )
        .await;
        let body = format!(
            r#"{{"site":"demo","sent_at":1,"consent":{{"measurement":"{measurement}"}},
               "events":[{{"id":"{}","type":"page_view","ts":1}}]}}"#,
            uuid::Uuid::now_v7()
        );
        let request = test::TestRequest::post()
            .uri("/v1/events")
            .peer_addr("198.51.100.23:5000".parse().unwrap())
            .set_payload(body)
            .to_request();
        test::call_service(&app, request).await
    }

    #[actix_web::test]
    async fn accepted_events_reach_the_publisher_with_the_network_only() {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = call(&publisher, "granted").await;
        assert_eq!(response.status(), 204);
        let published = publisher.published();
        assert_eq!(published.len(), 1);
        assert_eq!(
            published[0].1.ip.as_ref().unwrap().network,
            vec![198, 51, 100, 0]
        );
    }

    #[actix_web::test]
    async fn denied_events_never_reach_the_publisher() {
        let publisher = Arc::new(MemoryPublisher::default());
        let response = call(&publisher, "denied").await;
        assert_eq!(response.status(), 204);
        assert_eq!(
            response.headers().get(DROPPED_HEADER).unwrap(),
            "no_measurement_consent=1"
        );
        assert!(publisher.published().is_empty());
    }

    #[actix_web::test]
    async fn a_publisher_that_cannot_make_events_durable_means_503() {
        let publisher = Arc::new(MemoryPublisher::default());
        publisher.set_down(true);
        let response = call(&publisher, "granted").await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "7");
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "unavailable");
        assert!(publisher.published().is_empty());
    }
}
