//! CORS for the tag's requests. The tag posts `text/plain` (a "simple"
//! request: no preflight), so most browsers never send `OPTIONS`; when one
//! does, we answer it for origins that some configured site allows. Whether
//! the origin may post for *this* site is checked with the body, in
//! [`super::events`], because a preflight does not say which site.

use std::borrow::Cow;

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

/// The host of an `Origin` value (`scheme://host[:port]`), as a URL parse
/// gives it. What browsers send (a lowercase ASCII name, or a dotted IPv4
/// address) is taken as it stands, without allocating; anything else (upper
/// case, IPv6, a path, a number the URL rules rewrite, such as `0x7f.1`) is
/// parsed. A full parse was 5% of a contextual profile answer's CPU.
#[must_use]
pub fn origin_host(origin: &str) -> Option<Cow<'_, str>> {
    let plain = origin
        .split_once("://")
        .and_then(|(_, rest)| match rest.split_once(':') {
            None => Some(rest),
            Some((host, port)) => (port.is_empty()
                || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()))
            .then_some(host),
        })
        .filter(|host| is_plain_host(host));
    if let Some(host) = plain {
        return Some(Cow::Borrowed(host));
    }
    let url = url::Url::parse(origin).ok()?;
    url.host_str().map(|host| Cow::Owned(host.to_owned()))
}

/// Whether a URL parse leaves `host` as it is: non-empty dot-separated
/// labels of lowercase letters, digits and `-`, the last one a name (not a
/// number, which the URL rules read as part of an IPv4 address), or four
/// decimal numbers of 0-255 without leading zeros.
fn is_plain_host(host: &str) -> bool {
    let labels = || host.split('.');
    let name_chars = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let decimal_octet =
        |label: &str| label.parse::<u8>().is_ok() && (label == "0" || !label.starts_with('0'));
    let Some(last) = labels().next_back() else {
        return false;
    };
    let last_is_name = last.bytes().any(|b| b.is_ascii_lowercase() || b == b'-')
        && !(last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if last_is_name {
        return labels().all(name_chars);
    }
    labels().count() == 4 && labels().all(decimal_octet)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::origin_host;

    /// What the URL parse of the whole value gives: the oracle.
    fn parsed(origin: &str) -> Option<String> {
        url::Url::parse(origin).ok()?.host_str().map(str::to_owned)
    }

    #[test]
    fn browser_origins_are_read_without_a_parse_and_agree_with_one() {
        for origin in [
            "https://shop.example",
            "http://127.0.0.1:8080",
            "https://xn--bcher-kva.example",
            "http://localhost:3000",
            "https://a-b.c9.example",
        ] {
            let host = origin_host(origin).expect(origin);
            assert!(matches!(host, Cow::Borrowed(_)), "{origin}");
            assert_eq!(Some(host.into_owned()), parsed(origin), "{origin}");
        }
    }

    #[test]
    fn other_origins_are_parsed() {
        for origin in [
            "HTTPS://SHOP.EXAMPLE",
            "http://0x7f.1",
            "http://1.2.3",
            "http://010.0.0.1",
            "http://[::1]:8080",
            "https://shop.example/path",
            "https://shop.example.",
            "http://a:%",
            "http://a:99999",
            "http://a:",
            "null",
            "",
        ] {
            assert_eq!(
                origin_host(origin).map(Cow::into_owned),
                parsed(origin),
                "{origin}"
            );
        }
    }

    proptest! {
        /// Any value made of the characters an origin's host can hold
        /// gives the host a URL parse gives.
        #[test]
        fn the_host_is_the_url_parses(
            scheme in "(http|https|HTTP|ftp)",
            host in "[a-zA-Z0-9.\\-x:\\[\\]/%]{0,24}",
        ) {
            let origin = format!("{scheme}://{host}");
            prop_assert_eq!(origin_host(&origin).map(Cow::into_owned), parsed(&origin));
        }
    }
}
