//! Reading a request body within bounds: media type, size as sent, time to
//! arrive, and, for `Content-Encoding: gzip`, size once inflated (so a gzip
//! bomb costs at most the cap, never memory).

use std::io::Read;

use actix_web::HttpRequest;
use actix_web::error::PayloadError;
use actix_web::http::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue,
};
use actix_web::web::{BytesMut, Payload};
use bytes::Bytes;
use futures::StreamExt;

use crate::config::Limits;
use crate::error::ApiError;

/// Checks the headers, reads the body and inflates it if needed.
///
/// # Errors
/// `415` for a media type or encoding we do not take (or two of them),
/// `413` past a size cap, `408` when the body is too slow, `400` for a body
/// cut short or a corrupt gzip stream.
pub async fn read(
    request: &HttpRequest,
    payload: Payload,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    check_media_type(request)?;
    let gzip = is_gzip(request)?;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limits.max_body_bytes) {
        return Err(ApiError::TooLarge {
            max: limits.max_body_bytes,
        });
    }
    let raw = tokio::time::timeout(limits.body_timeout, collect(payload, limits.max_body_bytes))
        .await
        .map_err(|_| ApiError::BodyTimeout)??;
    if gzip {
        inflate(&raw, limits.max_decompressed_bytes)
    } else {
        Ok(raw)
    }
}

fn check_media_type(request: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = single(request, CONTENT_TYPE).ok_or(ApiError::UnsupportedMediaType)? else {
        // `fetch` with a string body always sends one; curl users may not.
        return Ok(());
    };
    let essence = value
        .to_str()
        .map_err(|_| ApiError::UnsupportedMediaType)?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if ["text/plain", "application/json"]
        .iter()
        .any(|taken| essence.eq_ignore_ascii_case(taken))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn is_gzip(request: &HttpRequest) -> Result<bool, ApiError> {
    let value = single(request, CONTENT_ENCODING).ok_or(ApiError::UnsupportedEncoding)?;
    match value.map(|v| v.to_str().map(str::trim)) {
        None => Ok(false),
        Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(e)) if e.eq_ignore_ascii_case("identity") => Ok(false),
        Some(_) => Err(ApiError::UnsupportedEncoding),
    }
}

/// The header's one value (`Some(None)` when absent); `None` when it came
/// twice: two media types or encodings are refused, never one picked.
fn single(request: &HttpRequest, name: HeaderName) -> Option<Option<&HeaderValue>> {
    let mut values = request.headers().get_all(name);
    let first = values.next();
    values.next().is_none().then_some(first)
}

/// The body's bytes, at most `max`. A body that arrives in one chunk (the
/// tag's, nearly always) is that chunk, shared, not copied.
async fn collect(mut payload: Payload, max: usize) -> Result<Bytes, ApiError> {
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            PayloadError::Overflow => ApiError::TooLarge { max },
            // Cut short, or chunked framing actix-http could not decode.
            _ => ApiError::IncompleteBody,
        })?;
        let held = first.as_ref().map_or(0, Bytes::len) + more.len();
        if held + chunk.len() > max {
            return Err(ApiError::TooLarge { max });
        }
        match first.take() {
            None if more.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    more.extend_from_slice(&earlier);
                }
                more.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| more.freeze()))
}

/// Inflates at most `max` bytes; one more byte means the body is too large.
fn inflate(compressed: &[u8], max: usize) -> Result<Bytes, ApiError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(max));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| ApiError::InvalidGzip)?;
    if out.len() > max {
        return Err(ApiError::TooLarge { max });
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use actix_web::FromRequest;
    use actix_web::test::TestRequest;

    use super::*;

    /// `chunks` as a request body arriving in that many reads.
    async fn payload(chunks: &[&'static [u8]]) -> Payload {
        let chunks: Vec<Result<Bytes, PayloadError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        let stream: actix_http::BoxedPayloadStream = Box::pin(futures::stream::iter(chunks));
        let (request, _) = TestRequest::default().to_http_parts();
        Payload::from_request(&request, &mut stream.into())
            .await
            .unwrap()
    }

    #[actix_web::test]
    async fn a_body_in_one_chunk_or_several_is_read_whole_within_the_cap() {
        assert_eq!(collect(payload(&[]).await, 8).await.unwrap(), "");
        assert_eq!(collect(payload(&[b"abcd"]).await, 8).await.unwrap(), "abcd");
        let three = payload(&[b"ab", b"cd", b"ef"]).await;
        assert_eq!(collect(three, 8).await.unwrap(), "abcdef");
        let over = payload(&[b"abcd", b"efgh", b"i"]).await;
        assert!(matches!(
            collect(over, 8).await,
            Err(ApiError::TooLarge { max: 8 })
        ));
        let one_too_many = payload(&[b"abcdefghi"]).await;
        assert!(matches!(
            collect(one_too_many, 8).await,
            Err(ApiError::TooLarge { max: 8 })
        ));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_inflate_up_to_the_cap() {
        assert_eq!(&inflate(&gzip(b"hello"), 5).unwrap()[..], b"hello");
        assert_eq!(
            inflate(&gzip(b"hello!"), 5).unwrap_err().reason(),
            "too_large"
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0_u8; 50 * 1024 * 1024]);
        assert!(
            bomb.len() < 100 * 1024,
            "50 MiB of zeros compresses to {} bytes",
            bomb.len()
        );
        assert_eq!(
            inflate(&bomb, 512 * 1024).unwrap_err().reason(),
            "too_large"
        );
    }

    #[test]
    fn corrupt_gzip_is_a_bad_request() {
        assert_eq!(
            inflate(b"not gzip at all", 1024).unwrap_err().reason(),
            "invalid_gzip"
        );
        let mut truncated = gzip(b"hello world, hello world");
        truncated.truncate(truncated.len() - 6);
        assert_eq!(
            inflate(&truncated, 1024).unwrap_err().reason(),
            "invalid_gzip"
        );
    }
}
