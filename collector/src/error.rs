//! Every way a request can fail, each mapped to one HTTP status and a
//! machine-readable reason: `{"error": "<reason>", "message": "...", "field": "..."}`.
//! The reason strings are part of the API and label the rejection counter.

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::privacy::token::TokenError;

/// A rejected request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400`: the body is not JSON.
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// `400`: the body is not UTF-8.
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    /// `400`: a field is missing or has the wrong type or value.
    #[error("{field}: {message}")]
    InvalidField {
        /// Path of the field, e.g. `events[2].id`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `400`: `events` is empty.
    #[error("the batch has no events")]
    EmptyBatch,
    /// `400`: more events than the collector accepts in one batch.
    #[error("the batch has {count} events; at most {max} are accepted")]
    TooManyEvents {
        /// Events sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `400`: an event has too many properties or one too large.
    #[error("{field}: {message}")]
    PropsTooLarge {
        /// Path of the event's props.
        field: String,
        /// Which limit was broken.
        message: String,
    },
    /// `400`: the gzip body does not inflate.
    #[error("body is not valid gzip")]
    InvalidGzip,
    /// `400`: the body stopped short of its `Content-Length`, or its
    /// chunked framing is broken (actix-http reports both alike).
    #[error("the body ended early or its chunked framing is broken")]
    IncompleteBody,
    /// `415`: neither `text/plain` nor `application/json`.
    #[error("content type must be text/plain or application/json")]
    UnsupportedMediaType,
    /// `415`: a content encoding other than gzip.
    #[error("content encoding must be gzip or none")]
    UnsupportedEncoding,
    /// `404`: no such path.
    #[error("no such resource")]
    NotFound,
    /// `405`: the path does not take this method.
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The methods it takes, for the `Allow` header.
        allow: &'static str,
    },
    /// `403`: the site is not configured here.
    #[error("unknown site")]
    UnknownSite,
    /// `403`: the page's origin is not allowed for the site.
    #[error("origin not allowed for this site")]
    OriginNotAllowed,
    /// `408`: the body did not arrive in time.
    #[error("request body timed out")]
    BodyTimeout,
    /// `413`: the body (or its inflated form) is over the limit.
    #[error("body is larger than {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// `429`: the client sends too fast.
    #[error("rate limited")]
    RateLimited {
        /// Seconds to wait.
        retry_after_seconds: u64,
    },
    /// `503`: events could not be made durable; nothing was accepted.
    #[error("events cannot be made durable right now")]
    Unavailable {
        /// Seconds to wait.
        retry_after_seconds: u32,
    },
    /// `401` or `403`: a privacy route's visitor token does not prove the
    /// visitor it names (`401`: no proof at all; `403`: someone else's).
    #[error("{0}")]
    Token(TokenError),
    /// `404`: the visitor has no consent record with that id.
    #[error("no such consent record for this visitor")]
    RecordNotFound,
    /// `503`: no signing key is configured, so the privacy center cannot
    /// prove or be proven anything.
    #[error("the privacy center is not configured on this collector")]
    PrivacyUnavailable,
    /// `503`: the consent ledger has not read the whole consent topic yet
    /// (start-up, or a broker came back): nothing is decided on a partial
    /// ledger, so nothing was accepted.
    #[error("the consent ledger is catching up; retry shortly")]
    LedgerCatchingUp {
        /// Seconds to wait.
        retry_after_seconds: u32,
    },
    /// `503`: no ClickHouse is configured (`FIDUCIA_COLLECTOR_CLICKHOUSE_URL`)
    /// or it does not answer: no export, no request states, no admin call.
    #[error("the data warehouse is not configured or not reachable from this collector")]
    WarehouseUnavailable,
    /// `401`: an admin call without the admin secret, or with another.
    #[error("the admin API needs `Authorization: Bearer <admin secret>`")]
    AdminUnauthorized,
    /// `503`: the admin call could not be written to the audit trail, so it
    /// was not made.
    #[error("the call could not be audited, so it was not made")]
    AuditFailed,
}

impl ApiError {
    /// The machine-readable reason (response body and metric label).
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidField { .. } => "invalid_field",
            Self::EmptyBatch => "empty_batch",
            Self::TooManyEvents { .. } => "too_many_events",
            Self::PropsTooLarge { .. } => "props_too_large",
            Self::InvalidGzip => "invalid_gzip",
            Self::IncompleteBody => "incomplete_body",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::UnknownSite => "unknown_site",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::BodyTimeout => "body_timeout",
            Self::TooLarge { .. } => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::LedgerCatchingUp { .. } => "ledger_catching_up",
            Self::Token(error) => error.reason(),
            Self::RecordNotFound => "record_not_found",
            Self::PrivacyUnavailable => "privacy_unavailable",
            Self::WarehouseUnavailable => "warehouse_unavailable",
            Self::AdminUnauthorized => "admin_unauthorized",
            Self::AuditFailed => "audit_failed",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } | Self::PropsTooLarge { field, .. } => Some(field),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_)
            | Self::InvalidUtf8
            | Self::InvalidField { .. }
            | Self::EmptyBatch
            | Self::TooManyEvents { .. }
            | Self::PropsTooLarge { .. }
            | Self::InvalidGzip
            | Self::IncompleteBody => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::RecordNotFound => StatusCode::NOT_FOUND,
            Self::Token(error) if error.is_forbidden() => StatusCode::FORBIDDEN,
            Self::Token(_) | Self::AdminUnauthorized => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType | Self::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::UnknownSite | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. }
            | Self::LedgerCatchingUp { .. }
            | Self::PrivacyUnavailable
            | Self::WarehouseUnavailable
            | Self::AuditFailed => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::RateLimited {
                retry_after_seconds,
            } => {
                response.insert_header((RETRY_AFTER, retry_after_seconds.to_string()));
            }
            Self::Unavailable {
                retry_after_seconds,
            }
            | Self::LedgerCatchingUp {
                retry_after_seconds,
            } => {
                response.insert_header((RETRY_AFTER, retry_after_seconds.to_string()));
            }
            // A path that is not there now may be later (a new tag version).
            Self::NotFound => {
                response.insert_header((CACHE_CONTROL, "no-store"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((ALLOW, *allow));
            }
            // RFC 6750: a bearer token route says how to authenticate.
            Self::Token(error) if !error.is_forbidden() => {
                response.insert_header((
                    WWW_AUTHENTICATE,
                    format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        error.reason()
                    ),
                ));
            }
            Self::AdminUnauthorized => {
                response.insert_header((
                    WWW_AUTHENTICATE,
                    "Bearer realm=\"fiducia-admin\", error=\"invalid_token\"",
                ));
            }
            _ => {}
        }
        response
            .insert_header((CONTENT_TYPE, "application/json"))
            .json(Body {
                error: self.reason(),
                message: self.to_string(),
                field: self.field(),
            })
    }
}
