//! `GET /tag.js` and `GET /tag/<version>.js`: the browser tag, built from
//! `js-tag/src` and committed as `js-tag/dist/fiducia.min.js` (the test
//! command checks that the committed file is a fresh build), embedded here
//! at compile time. `/tag.js` is what sites paste: cached for minutes, then
//! revalidated with its `ETag`. The versioned path, named by the content
//! hash that is also the `ETag`, never changes and is cached for a year;
//! an old version's path answers `404`. Both are served gzipped to clients
//! that accept it.

use std::io::Write as _;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::method_not_allowed;
use crate::error::ApiError;

/// The built tag.
pub const TAG: &[u8] = include_bytes!("../../../js-tag/dist/fiducia.min.js");

/// `Cache-Control` of `/tag.js`: short, so a new tag reaches sites soon.
pub const CACHE_LATEST: &str = "public, max-age=300";
/// `Cache-Control` of the versioned path: its content never changes.
pub const CACHE_VERSIONED: &str = "public, max-age=31536000, immutable";

/// The tag's version: FNV-1a 64 of its bytes, in hex. Names the versioned
/// path and is the `ETag`.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let hash = TAG.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
});

/// The tag gzipped once, at the best level.
static GZIPPED: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(TAG)
        .and_then(|()| encoder.finish())
        .expect("gzip into memory cannot fail")
});

/// The routes, for `App::service`.
#[must_use]
pub fn service() -> (actix_web::Resource, actix_web::Resource) {
    (
        web::resource("/tag.js")
            .route(web::get().to(latest))
            .route(web::head().to(latest))
            .default_service(method_not_allowed("GET, HEAD")),
        web::resource("/tag/{file}")
            .route(web::get().to(versioned))
            .route(web::head().to(versioned))
            .default_service(method_not_allowed("GET, HEAD")),
    )
}

async fn latest(request: HttpRequest) -> HttpResponse {
    serve(&request, CACHE_LATEST)
}

async fn versioned(
    request: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if file.strip_suffix(".js") == Some(VERSION.as_str()) {
        Ok(serve(&request, CACHE_VERSIONED))
    } else {
        // `no-store`: that version may be served here later.
        Err(ApiError::NotFound)
    }
}

/// The tag, or `304` when the client's copy is current.
fn serve(request: &HttpRequest, cache_control: &'static str) -> HttpResponse {
    let gzip = accepts_gzip(request);
    // Each encoding is its own representation, so its own strong tag.
    let etag = if gzip {
        format!("\"{}-gz\"", *VERSION)
    } else {
        format!("\"{}\"", *VERSION)
    };
    let current = is_current(request);
    let mut response = if current {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Sites that isolate themselves (COEP) may still load it.
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"));
    if current {
        return response.finish();
    }
    if gzip {
        response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(GZIPPED.as_slice())
    } else {
        response.body(TAG)
    }
}

/// Whether `If-None-Match` names the current version (either encoding's tag,
/// weak or strong, or `*`).
fn is_current(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|tag| tag == "*" || tag.strip_suffix("-gz").unwrap_or(tag) == VERSION.as_str())
}

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*`, with a non-zero `q`).
fn accepts_gzip(request: &HttpRequest) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_version_is_a_hash_of_the_tag() {
        assert_eq!(VERSION.len(), 16);
        assert!(VERSION.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn gzip_is_accepted_unless_refused_with_q_zero() {
        let accepts = |value: &str| {
            accepts_gzip(
                &TestRequest::default()
                    .insert_header((header::ACCEPT_ENCODING, value))
                    .to_http_request(),
            )
        };
        assert!(accepts("gzip, deflate, br"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("br, identity"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn if_none_match_compares_either_encodings_tag() {
        let current = |value: &str| {
            is_current(
                &TestRequest::default()
                    .insert_header((header::IF_NONE_MATCH, value))
                    .to_http_request(),
            )
        };
        let version = VERSION.as_str();
        assert!(current(&format!("\"{version}\"")));
        assert!(current(&format!("W/\"{version}-gz\"")));
        assert!(current(&format!("\"0000000000000000\", \"{version}\"")));
        assert!(current("*"));
        assert!(!current("\"0000000000000000\""));
        assert!(!is_current(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn the_gzipped_tag_inflates_to_the_tag() {
        use std::io::Read as _;
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(GZIPPED.as_slice())
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, TAG);
    }
}
