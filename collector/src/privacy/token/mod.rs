//! Visitor tokens: the proof a browser holds that it is the visitor it
//! says. The collector issues one with each visitor id it mints (random,
//! so nobody can choose an id to claim; `collector/README.md`, The privacy
//! center), as a JWS of type [`TOKEN_TYPE`] over the claims site, visitor
//! (`sub`), audience, issue and expiry time. Knowing a visitor id grants
//! nothing: every privacy route wants the token, bound to that site and
//! that visitor, unexpired, signed by a key the collector publishes.

use serde::{Deserialize, Serialize};

use super::jws::{self, JwsError};
use super::keys::Keys;

/// The JWS `typ` of visitor tokens.
pub const TOKEN_TYPE: &str = "fiducia-visitor+jwt";
/// The audience of visitor tokens: the privacy routes.
pub const AUDIENCE: &str = "fiducia-privacy";

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The site id.
    pub site: String,
    /// The visitor id.
    pub sub: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds: invalid from this second on.
    pub exp: i64,
}

/// Why a token is refused: `401` when it proves nothing, `403` when it
/// proves someone else. The reason is the error body's `error` and the
/// token failure counter's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` token.
    #[error("this route needs the visitor's token (Authorization: Bearer)")]
    Missing,
    /// Not a token of this collector's form.
    #[error("the token is not a visitor token")]
    Malformed,
    /// Signed by a key this collector does not publish.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify: forged or altered.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Valid, for another site.
    #[error("the token is for another site")]
    WrongSite,
    /// Valid, for another visitor.
    #[error("the token is for another visitor")]
    WrongVisitor,
}

impl TokenError {
    /// Every reason, for tests and docs.
    pub const ALL: [Self; 7] = [
        Self::Missing,
        Self::Malformed,
        Self::UnknownKey,
        Self::BadSignature,
        Self::Expired,
        Self::WrongSite,
        Self::WrongVisitor,
    ];

    /// Machine-readable reason.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::Malformed => "token_malformed",
            Self::UnknownKey => "token_unknown_key",
            Self::BadSignature => "token_bad_signature",
            Self::Expired => "token_expired",
            Self::WrongSite => "token_wrong_site",
            Self::WrongVisitor => "token_wrong_visitor",
        }
    }

    /// `true` for `403` (a valid token of someone else), else `401`.
    #[must_use]
    pub const fn is_forbidden(self) -> bool {
        matches!(self, Self::WrongSite | Self::WrongVisitor)
    }
}

/// A token for `visitor` of `site`, valid for `ttl_ms` from `now_ms`;
/// `None` when no signing key is configured.
#[must_use]
pub fn issue(keys: &Keys, site: &str, visitor: &str, now_ms: i64, ttl_ms: i64) -> Option<String> {
    let signer = keys.signer()?;
    let claims = Claims {
        site: site.to_owned(),
        sub: visitor.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat: now_ms.div_euclid(1000),
        exp: now_ms.saturating_add(ttl_ms).div_euclid(1000),
    };
    let payload = serde_json::to_vec(&claims).ok()?;
    Some(jws::sign(signer, TOKEN_TYPE, &payload))
}

/// The claims of `token` for `site` and `visitor`, at `now_ms`.
///
/// # Errors
/// Why the token does not prove that visitor of that site: its form and
/// signature first, then its expiry, then whom it names.
pub fn verify(
    keys: &Keys,
    token: &str,
    site: &str,
    visitor: &str,
    now_ms: i64,
) -> Result<Claims, TokenError> {
    let claims = verify_site(keys, token, site, now_ms)?;
    if claims.sub != visitor {
        return Err(TokenError::WrongVisitor);
    }
    Ok(claims)
}

/// The claims of `token` for `site` at `now_ms`, whichever visitor it
/// names (`GET /v1/profile` learns the visitor from the token alone).
///
/// # Errors
/// As [`verify`], but for the visitor.
pub fn verify_site(
    keys: &Keys,
    token: &str,
    site: &str,
    now_ms: i64,
) -> Result<Claims, TokenError> {
    let payload = jws::verify(keys, TOKEN_TYPE, token).map_err(|e| match e {
        JwsError::Malformed | JwsError::WrongType => TokenError::Malformed,
        JwsError::UnknownKey => TokenError::UnknownKey,
        JwsError::BadSignature => TokenError::BadSignature,
    })?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.aud != AUDIENCE {
        return Err(TokenError::Malformed);
    }
    if now_ms.div_euclid(1000) >= claims.exp {
        return Err(TokenError::Expired);
    }
    if claims.site != site {
        return Err(TokenError::WrongSite);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests;
