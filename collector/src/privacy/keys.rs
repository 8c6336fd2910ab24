//! The collector's Ed25519 keys for the privacy center: one signing key
//! (`FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY`) and the public keys of earlier
//! ones (`FIDUCIA_COLLECTOR_PRIVACY_PUBLIC_KEYS`). Every key verifies tokens
//! until they expire and is published at `/.well-known/jwks.json`, so a
//! receipt signed before a rotation still verifies offline after it.
//!
//! Each key is `<kid>:<base64url>`: the 32-byte seed of the signing key,
//! the 32-byte public key of the others. A `kid` is 1-64 characters of
//! `[A-Za-z0-9._-]` and names one key only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{Value, json};

/// A key id and its signing key.
#[derive(Clone)]
pub struct Signer {
    /// The key id (`kid`).
    pub kid: String,
    /// The private key.
    pub key: SigningKey,
}

/// Every key the collector signs or verifies with.
#[derive(Clone, Default)]
pub struct Keys {
    signer: Option<Signer>,
    verifiers: Vec<(String, VerifyingKey)>,
}

impl std::fmt::Debug for Keys {
    /// Key ids only: the signing key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.verifiers.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("Keys")
            .field("signing_kid", &self.signer.as_ref().map(|s| s.kid.as_str()))
            .field("kids", &kids)
            .finish()
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not `<kid>:<base64url>`.
    #[error("expected <kid>:<base64url key>")]
    Shape,
    /// The kid has characters outside `[A-Za-z0-9._-]` or is too long.
    #[error("kid {0:?}: 1-64 characters of [A-Za-z0-9._-]")]
    Kid(String),
    /// Not 32 bytes of base64url, or not a point on the curve.
    #[error("kid {0:?}: the key must be 32 bytes in base64url (no padding)")]
    Key(String),
    /// Two keys with one kid.
    #[error("kid {0:?} names two keys")]
    Duplicate(String),
}

fn split(entry: &str) -> Result<(&str, [u8; 32]), KeyError> {
    let (kid, key) = entry.trim().split_once(':').ok_or(KeyError::Shape)?;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if kid.is_empty() || kid.len() > 64 || !kid.chars().all(valid) {
        return Err(KeyError::Kid(kid.to_owned()));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| KeyError::Key(kid.to_owned()))?;
    Ok((kid, bytes))
}

impl Keys {
    /// Keys from the two settings' values: `signing` one `<kid>:<seed>`,
    /// `public` a comma-separated list of `<kid>:<public key>`.
    ///
    /// # Errors
    /// The first entry that is not a usable key, or a kid used twice.
    pub fn parse(signing: Option<&str>, public: Option<&str>) -> Result<Self, KeyError> {
        let mut keys = Self::default();
        if let Some(entry) = signing.filter(|s| !s.trim().is_empty()) {
            let (kid, seed) = split(entry)?;
            keys = Self::signing(kid, SigningKey::from_bytes(&seed));
        }
        keys.add_public_list(public.unwrap_or_default())?;
        Ok(keys)
    }

    /// Adds the verify-only keys of a comma-separated `<kid>:<public key>` list.
    ///
    /// # Errors
    /// The first entry that is not a usable key, or a kid used twice.
    pub fn add_public_list(&mut self, list: &str) -> Result<(), KeyError> {
        for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
            let (kid, bytes) = split(entry)?;
            let key =
                VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Key(kid.to_owned()))?;
            self.add_public(kid, key)?;
        }
        Ok(())
    }

    /// Keys with `key` signing as `kid`.
    #[must_use]
    pub fn signing(kid: &str, key: SigningKey) -> Self {
        Self {
            verifiers: vec![(kid.to_owned(), key.verifying_key())],
            signer: Some(Signer {
                kid: kid.to_owned(),
                key,
            }),
        }
    }

    /// Adds a verify-only key (an earlier signing key's public half).
    ///
    /// # Errors
    /// When `kid` is taken.
    pub fn add_public(&mut self, kid: &str, key: VerifyingKey) -> Result<(), KeyError> {
        if self.verifier(kid).is_some() {
            return Err(KeyError::Duplicate(kid.to_owned()));
        }
        self.verifiers.push((kid.to_owned(), key));
        Ok(())
    }

    /// The key that signs, when one is configured.
    #[must_use]
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The key named `kid`.
    #[must_use]
    pub fn verifier(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifiers
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, OKP keys of RFC 8037).
    #[must_use]
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .verifiers
            .iter()
            .map(|(kid, key)| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
                    "kid": kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(byte: u8) -> String {
        URL_SAFE_NO_PAD.encode([byte; 32])
    }

    fn public(byte: u8) -> String {
        URL_SAFE_NO_PAD.encode(
            SigningKey::from_bytes(&[byte; 32])
                .verifying_key()
                .as_bytes(),
        )
    }

    #[test]
    fn the_signing_key_and_the_earlier_public_keys_are_all_published() {
        let old = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let public = format!("2025-01:{}", URL_SAFE_NO_PAD.encode(old.as_bytes()));
        let keys = Keys::parse(Some(&format!("2026-01:{}", seed(2))), Some(&public)).unwrap();
        assert_eq!(keys.signer().unwrap().kid, "2026-01");
        assert_eq!(keys.verifier("2025-01"), Some(&old));
        let jwks = keys.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["2026-01", "2025-01"]);
        assert_eq!(jwks["keys"][1]["x"], URL_SAFE_NO_PAD.encode(old.as_bytes()));
    }

    #[test]
    fn unusable_keys_are_refused_naming_the_kid_never_the_secret() {
        let secret = seed(3);
        for (signing, public, expected) in [
            (format!("k1{secret}"), String::new(), KeyError::Shape),
            (
                format!("k 1:{secret}"),
                String::new(),
                KeyError::Kid("k 1".into()),
            ),
            (
                "k1:c2hvcnQ".to_owned(),
                String::new(),
                KeyError::Key("k1".into()),
            ),
            (
                format!("k1:{secret}"),
                format!("k1:{}", public(4)),
                KeyError::Duplicate("k1".into()),
            ),
        ] {
            let error = Keys::parse(Some(&signing), Some(&public)).unwrap_err();
            assert_eq!(error, expected, "{signing}");
            assert!(!error.to_string().contains(&secret));
        }
        assert!(Keys::parse(None, None).unwrap().signer().is_none());
    }

    #[test]
    fn debug_output_shows_key_ids_only() {
        let keys = Keys::parse(Some(&format!("k1:{}", seed(5))), None).unwrap();
        let text = format!("{keys:?}");
        assert!(text.contains("k1") && !text.contains(&seed(5)));
    }
}
