//! JWS compact serialization (RFC 7515) with `EdDSA` (Ed25519, RFC 8037):
//! what visitor tokens and consent receipts are. The protected header names
//! the key (`kid`) and the document's type (`typ`), and verification
//! insists on both: a receipt is never accepted as a token, nor a token as
//! a receipt, though one key signs both.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _};
use serde::Deserialize;
use serde_json::json;

use super::keys::{Keys, Signer};

/// Why a JWS does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts, or a header that is not the expected JSON
    /// (another algorithm, no key id).
    #[error("not a JWS of this collector's form")]
    Malformed,
    /// Another document type than expected.
    #[error("a JWS of another type")]
    WrongType,
    /// No published key has the header's `kid`.
    #[error("signed with an unknown key")]
    UnknownKey,
    /// The signature does not match header and payload under the key.
    #[error("the signature does not verify")]
    BadSignature,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
    typ: String,
}

/// `payload` signed by `signer`, as `header.payload.signature`.
#[must_use]
pub fn sign(signer: &Signer, typ: &str, payload: &[u8]) -> String {
    let header = json!({"alg": "EdDSA", "kid": signer.kid, "typ": typ}).to_string();
    let mut jws = URL_SAFE_NO_PAD.encode(header);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
    let signature = signer.key.sign(jws.as_bytes());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jws);
    jws
}

/// The payload of `jws` once its type is `typ` and its signature verifies
/// under the key its header names.
///
/// # Errors
/// Why it does not.
pub fn verify(keys: &Keys, typ: &str, jws: &str) -> Result<Vec<u8>, JwsError> {
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwsError::Malformed)
    };
    let parsed: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| JwsError::Malformed)?;
    if parsed.alg != "EdDSA" {
        return Err(JwsError::Malformed);
    }
    if parsed.typ != typ {
        return Err(JwsError::WrongType);
    }
    let key = keys.verifier(&parsed.kid).ok_or(JwsError::UnknownKey)?;
    let signature = <[u8; 64]>::try_from(decode(signature)?).map_err(|_| JwsError::BadSignature)?;
    let signed = &jws[..header.len() + 1 + payload.len()];
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| JwsError::BadSignature)?;
    decode(payload)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    fn keys(byte: u8, kid: &str) -> Keys {
        Keys::signing(kid, SigningKey::from_bytes(&[byte; 32]))
    }

    #[test]
    fn a_signed_payload_verifies_with_its_key_and_type_only() {
        let a = keys(1, "a");
        let jws = sign(a.signer().unwrap(), "t+jws", b"{\"x\":1}");
        assert_eq!(verify(&a, "t+jws", &jws).unwrap(), b"{\"x\":1}");
        assert_eq!(verify(&a, "other", &jws), Err(JwsError::WrongType));
        assert_eq!(
            verify(&keys(2, "b"), "t+jws", &jws),
            Err(JwsError::UnknownKey)
        );
        // The same kid with another key: a forgery.
        assert_eq!(
            verify(&keys(2, "a"), "t+jws", &jws),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn any_changed_byte_breaks_the_signature_or_the_form() {
        let a = keys(1, "a");
        let jws = sign(
            a.signer().unwrap(),
            "t",
            b"{\"site\":\"demo\",\"sub\":\"v\"}",
        );
        for i in 0..jws.len() {
            let mut bytes = jws.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(
                verify(&a, "t", &changed).is_err(),
                "byte {i} changed: {changed}"
            );
        }
    }

    #[test]
    fn shapes_that_are_not_a_jws_are_malformed() {
        let a = keys(1, "a");
        let alg_none = format!(
            "{}.e30.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"a","typ":"t"}"#)
        );
        for jws in ["", "a.b", "a.b.c.d", "!!.e30.AA", &alg_none] {
            assert_eq!(verify(&a, "t", jws), Err(JwsError::Malformed), "{jws}");
        }
    }
}
