//! The public API's routes and the middleware around them.

pub mod admin;
pub mod cors;
pub mod events;
pub mod explain;
pub mod gpc;
pub mod privacy;
pub mod profile;
pub mod tag;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::USER_AGENT;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, Route, web};
use ipnet::IpNet;

use crate::accept::RequestMeta;
use crate::client_ip::{client_ip, truncate};
use crate::config::{Limits, Privacy, Secret};
use crate::consent::ledger::Ledger;
use crate::consent::resolve::HeaderSignals;
use crate::envelope::{Checked, Envelope};
use crate::error::ApiError;
use crate::publish::EventPublisher;
use crate::rate_limit::IpRateLimiter;
use crate::sites::{Site, Sites};
use crate::warehouse::Warehouse;
use crate::{body, envelope, metrics};

/// What every request handler shares.
pub struct AppState<P> {
    /// Where accepted events go.
    pub publisher: Arc<P>,
    /// The consent ledger, kept current from the consent topic.
    pub ledger: Arc<Ledger>,
    /// Whether the ledger holds every record the consent topic held when
    /// it was (re)read: until then nothing is decided (`503`).
    pub ledger_caught_up: Arc<dyn Fn() -> bool + Send + Sync>,
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
    /// The privacy center's keys and token lifetime.
    pub privacy: Privacy,
    /// ClickHouse, for exports, request states and the admin audit.
    pub warehouse: Option<Warehouse>,
    /// The admin API's bearer secret; `None`: the admin API is off.
    pub admin_secret: Option<Secret>,
    /// Profiles and item lists, for `GET /v1/profile`.
    pub stores: crate::profile::Stores,
}

/// Mounts the public routes.
pub fn configure<P: EventPublisher>(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v1/events")
            .route(web::post().to(events::post::<P>))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight::<P>))
            .default_service(method_not_allowed("POST, OPTIONS")),
    );
    config.service(
        web::resource("/v1/consent/explain")
            .route(web::post().to(explain::post::<P>))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight::<P>))
            .default_service(method_not_allowed("POST, OPTIONS")),
    );
    // The profile route before the privacy ones: it is asked on every page
    // view, and each dynamic route tried before it costs a regex match.
    profile::configure::<P>(config);
    privacy::configure::<P>(config);
    admin::configure::<P>(config);
    config.service(tag::service());
    config.service(gpc::service());
    config.default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::NotFound)
    }));
}

/// What a resource answers to a method it does not take: `405
/// method_not_allowed` with `Allow`.
#[must_use]
pub fn method_not_allowed(allow: &'static str) -> Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}

/// A request body that passed every check before the consent gate.
pub struct Intake<'s> {
    /// The parsed envelope.
    pub envelope: Envelope,
    /// Each event's id and type.
    pub checked: Vec<Checked>,
    /// Facts from the request itself.
    pub meta: RequestMeta,
    /// The envelope's site.
    pub site: &'s Site,
    /// Its id, as configured.
    pub site_id: &'s str,
}

/// The steps `/v1/events` and `/v1/consent/explain` share: rate limit →
/// a caught-up consent ledger → read the body within bounds → parse → site
/// and origin → validate.
/// `events_in_request` is set as soon as the body parses, for counting.
///
/// # Errors
/// The first check that fails.
pub async fn intake<'s, P>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &'s AppState<P>,
    events_in_request: &mut usize,
) -> Result<Intake<'s>, ApiError> {
    let ip = rate_limit(request, state)?;
    if !(state.ledger_caught_up)() {
        return Err(ApiError::LedgerCatchingUp {
            retry_after_seconds: state.retry_after_seconds,
        });
    }
    let body = body::read(request, payload, &state.limits).await?;
    metrics::hot().body_size.record(body.len() as f64);
    let envelope = envelope::parse(&body)?;
    *events_in_request = envelope.events.len();
    let (site_id, site) = state
        .sites
        .entry(&envelope.site)
        .ok_or(ApiError::UnknownSite)?;
    if cors::origin(request).is_some_and(|o| !site.allows(o)) {
        return Err(ApiError::OriginNotAllowed);
    }
    let checked = envelope.validate(&state.limits)?;
    let headers = request.headers();
    let is_one = |name: &str| headers.get_all(name).any(|v| v.as_bytes() == b"1");
    let meta = RequestMeta {
        ip: ip.map(truncate),
        user_agent: first_chars(
            headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            512,
        )
        .to_owned(),
        received_at_ms: fiducia_proto::time::now_ms(),
        // GPC: "1" exactly, one such line is enough (consent.md section 3.1).
        signals: HeaderSignals {
            gpc: is_one("sec-gpc"),
            dnt: is_one("dnt"),
        },
    };
    Ok(Intake {
        envelope,
        checked,
        meta,
        site,
        site_id,
    })
}

/// The first `n` characters of `s` (all of it when shorter), borrowed.
fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(end, _)| &s[..end])
}

/// The per-IP rate limit, the first check of the tag's and the privacy
/// routes; the client's address.
///
/// # Errors
/// [`ApiError::RateLimited`] when the address sends too fast.
pub fn rate_limit<P>(
    request: &HttpRequest,
    state: &AppState<P>,
) -> Result<Option<IpAddr>, ApiError> {
    let ip = client_ip(request, &state.trusted_proxies);
    if let Some(ip) = ip {
        state
            .limiter
            .check(ip)
            .map_err(|retry_after_seconds| ApiError::RateLimited {
                retry_after_seconds,
            })?;
    }
    Ok(ip)
}

/// Counts every request by route template and status, and times it; a
/// refused one also by its reason (the body's `error`), whichever route
/// or default service refused it.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let response = next.call(request).await?;
    // Asked after routing, which recorded the matched resource: no second
    // walk of the route table.
    let route = response.request().match_pattern();
    metrics::http_request(
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(refusal) = response
        .response()
        .error()
        .and_then(actix_web::Error::as_error::<ApiError>)
    {
        ::metrics::counter!(metrics::REQUESTS_REJECTED, "reason" => refusal.reason()).increment(1);
    }
    Ok(response)
}

/// Route unit tests' shared set-up: one site, an in-memory publisher.
#[cfg(test)]
pub(crate) mod testing {
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use actix_web::dev::ServiceResponse;
    use actix_web::{App, test, web};

    use super::AppState;
    use crate::config::Limits;
    use crate::consent::ledger::Ledger;
    use crate::profile::Stores;
    use crate::publish::memory::MemoryPublisher;
    use crate::rate_limit::IpRateLimiter;
    use crate::sites::Sites;

    /// The privacy settings of route tests: a fixed signing key `test`.
    pub fn keys() -> crate::config::Privacy {
        crate::config::Privacy {
            keys: crate::privacy::keys::Keys::signing(
                "test",
                ed25519_dalek::SigningKey::from_bytes(&[42; 32]),
            ),
            ..crate::config::Privacy::default()
        }
    }

    /// The admin secret of route tests.
    pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";

    /// The collector clock now, Unix ms.
    pub fn now() -> i64 {
        fiducia_proto::time::now_ms()
    }

    /// An envelope from visitor `v-1` with this consent block and one event per type.
    pub fn body(consent: &str, types: &[&str]) -> String {
        let events: Vec<String> = types
            .iter()
            .map(|t| {
                format!(
                    r#"{{"id":"{}","type":"{t}","ts":{},"props":{{"k":"v"}}}}"#,
                    uuid::Uuid::now_v7(),
                    now()
                )
            })
            .collect();
        format!(
            r#"{{"site":"demo","sent_at":{},"consent":{consent},"visitor":{{"id":"v-1","user_id":"u-1"}},
               "context":{{"url":"https://shop.example/p?utm_source=news&q=1","title":"T"}},"events":[{}]}}"#,
            now(),
            events.join(",")
        )
    }

    /// Posts `body` to `path` with `headers` on a fresh app over `publisher`.
    pub async fn call(
        publisher: &Arc<MemoryPublisher>,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> ServiceResponse {
        call_on(
            publisher,
            &Arc::new(Ledger::default()),
            true,
            path,
            body,
            headers,
        )
        .await
    }

    /// Same, over `ledger`, which has (or has not) read the whole consent topic.
    pub async fn call_on(
        publisher: &Arc<MemoryPublisher>,
        ledger: &Arc<Ledger>,
        caught_up: bool,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> ServiceResponse {
        let mut request = test::TestRequest::post()
            .uri(path)
            .set_payload(body.to_owned());
        for &(name, value) in headers {
            request = request.insert_header((name, value));
        }
        send(publisher, ledger, caught_up, request).await
    }

    /// The shared state of route tests over `publisher`, `ledger`, `sites`
    /// and `stores`, with [`keys`] and [`ADMIN_SECRET`].
    pub fn state(
        publisher: &Arc<MemoryPublisher>,
        ledger: &Arc<Ledger>,
        caught_up: bool,
        sites: Sites,
        stores: Stores,
    ) -> web::Data<AppState<MemoryPublisher>> {
        let limit = NonZeroU32::new(1000).unwrap();
        web::Data::new(AppState {
            publisher: Arc::clone(publisher),
            ledger: Arc::clone(ledger),
            ledger_caught_up: Arc::new(move || caught_up),
            sites,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            retry_after_seconds: 7,
            limiter: IpRateLimiter::new(limit, limit),
            privacy: keys(),
            warehouse: None,
            admin_secret: Some(crate::config::Secret(ADMIN_SECRET.to_owned())),
            stores,
        })
    }

    /// Sends `request` (from 198.51.100.23) to a fresh app over
    /// `publisher` and `ledger`, with [`keys`].
    pub async fn send(
        publisher: &Arc<MemoryPublisher>,
        ledger: &Arc<Ledger>,
        caught_up: bool,
        request: test::TestRequest,
    ) -> ServiceResponse {
        let sites = Sites::from_toml(
            "[sites.demo.collect]\nallowed_origins = [\"http://localhost:8000\"]\n\
             [sites.other.collect]\nallowed_origins = [\"http://localhost:8001\"]\n",
        )
        .unwrap();
        let state = state(publisher, ledger, caught_up, sites, Stores::default());
        let app = test::init_service(
            App::new()
                .app_data(state)
                .configure(super::configure::<MemoryPublisher>),
        )
        .await;
        let request = request.peer_addr("198.51.100.23:5000".parse().unwrap());
        test::call_service(&app, request.to_request()).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_chars_counts_characters_not_bytes() {
        assert_eq!(super::first_chars("abc", 5), "abc");
        assert_eq!(super::first_chars("abc", 2), "ab");
        assert_eq!(super::first_chars("ééé", 2), "éé");
        assert_eq!(super::first_chars("", 0), "");
    }
}
