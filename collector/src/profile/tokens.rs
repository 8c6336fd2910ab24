//! Visitor tokens already verified, so `GET /v1/profile` (asked on every
//! page view) checks a token's Ed25519 signature once, not per request: the
//! signature check was most of a personal answer's CPU
//! (`benches/README.md`, `GET /v1/profile`).
//!
//! Keyed by the SHA-256 of the whole token, so only the very bytes that
//! were verified hit: a forged or altered token is a miss and is verified
//! (and refused) in full. Expiry and site are checked on every request, from
//! the claims kept. The signing keys are fixed for the life of the process,
//! so a verdict cannot go stale. Bounded: when full, it starts over.

use std::collections::HashMap;
use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::privacy::keys::Keys;
use crate::privacy::token::{self, Claims, TokenError};

/// Tokens kept at most.
const CAPACITY: usize = 100_000;

/// Verified tokens by the SHA-256 of their bytes.
#[derive(Debug, Default)]
pub struct TokenCache {
    verified: RwLock<HashMap<[u8; 32], Claims>>,
}

impl TokenCache {
    /// The claims of `token` for `site` at `now_ms`, as
    /// [`token::verify_site`] says, verifying the signature only the first
    /// time these bytes are seen.
    ///
    /// # Errors
    /// As [`token::verify_site`].
    pub fn verify_site(
        &self,
        keys: &Keys,
        token: &str,
        site: &str,
        now_ms: i64,
    ) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                // Verified for its own site, whichever this request names;
                // the site and expiry are checked below, every time.
                let claims = token::verify_site(keys, token, site, now_ms)?;
                let mut verified = self
                    .verified
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if verified.len() >= CAPACITY {
                    verified.clear();
                }
                verified.insert(digest, claims.clone());
                claims
            }
        };
        claims.check(site, now_ms)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::signing("test", ed25519_dalek::SigningKey::from_bytes(&[42; 32]))
    }

    #[test]
    fn a_cached_token_still_expires_and_stays_bound_to_its_site() {
        let keys = keys();
        let cache = TokenCache::default();
        let now = 1_796_601_600_000;
        let token = token::issue(&keys, "demo", "v-1", now, 60_000).unwrap();
        assert_eq!(
            cache.verify_site(&keys, &token, "demo", now).unwrap().sub,
            "v-1"
        );
        assert_eq!(
            cache
                .verify_site(&keys, &token, "demo", now + 1)
                .unwrap()
                .sub,
            "v-1"
        );
        assert_eq!(
            cache.verify_site(&keys, &token, "other", now),
            Err(TokenError::WrongSite)
        );
        assert_eq!(
            cache.verify_site(&keys, &token, "demo", now + 60_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn an_altered_token_is_verified_and_refused() {
        let keys = keys();
        let cache = TokenCache::default();
        let now = 1_796_601_600_000;
        let token = token::issue(&keys, "demo", "v-1", now, 60_000).unwrap();
        cache.verify_site(&keys, &token, "demo", now).unwrap();
        let mut altered = token.clone();
        altered.pop();
        altered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(cache.verify_site(&keys, &altered, "demo", now).is_err());
        let other = Keys::signing("test", ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let forged = token::issue(&other, "demo", "v-2", now, 60_000).unwrap();
        assert_eq!(
            cache.verify_site(&keys, &forged, "demo", now),
            Err(TokenError::BadSignature)
        );
    }
}
