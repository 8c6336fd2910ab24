//! The token rules, stated once and checked against random tokens: a token
//! proves exactly the site and visitor it was issued for, until it expires,
//! under any key the collector publishes; anything else is refused with
//! the reason the rules give.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;

const DAY_MS: i64 = 86_400_000;

fn keys(byte: u8, kid: &str) -> Keys {
    Keys::signing(kid, SigningKey::from_bytes(&[byte; 32]))
}

/// The rules as the README states them, independent of the code: refused
/// when expired (at or past `exp`, whole seconds), then when for another
/// site, then for another visitor; accepted otherwise.
fn expected(issued: (&str, &str, i64, i64), asked: (&str, &str, i64)) -> Result<(), TokenError> {
    let (site, visitor, at, ttl) = issued;
    let (asked_site, asked_visitor, now) = asked;
    let exp_s = (at + ttl).div_euclid(1000);
    if now.div_euclid(1000) >= exp_s {
        Err(TokenError::Expired)
    } else if asked_site != site {
        Err(TokenError::WrongSite)
    } else if asked_visitor != visitor {
        Err(TokenError::WrongVisitor)
    } else {
        Ok(())
    }
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof!["[a-c]{1,2}", "[A-Za-z0-9_-]{1,40}"]
}

proptest! {
    #[test]
    fn a_token_proves_its_site_and_visitor_until_it_expires(
        site in id(), visitor in id(), asked_site in id(), asked_visitor in id(),
        at in 1_600_000_000_000_i64..1_900_000_000_000, ttl in 1_000_i64..400 * DAY_MS,
        elapsed in -DAY_MS..500 * DAY_MS,
    ) {
        let keys = keys(7, "k");
        let token = issue(&keys, &site, &visitor, at, ttl).unwrap();
        let now = at + elapsed;
        let outcome = verify(&keys, &token, &asked_site, &asked_visitor, now).map(|_| ());
        prop_assert_eq!(outcome, expected((&site, &visitor, at, ttl), (&asked_site, &asked_visitor, now)));
    }

    #[test]
    fn a_token_changed_anywhere_or_signed_by_another_key_proves_nothing(
        visitor in id(), position in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        let keys = keys(7, "k");
        let now = 1_800_000_000_000;
        let token = issue(&keys, "demo", &visitor, now, DAY_MS).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        // Base64url's last character may carry unused bits: a change there
        // that decodes to the same bytes is the same token.
        let same = changed.split('.').map(|p| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok()).collect::<Vec<_>>()
            == token.split('.').map(|p| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok()).collect::<Vec<_>>();
        prop_assume!(!same);
        let outcome = verify(&keys, &changed, "demo", &visitor, now);
        prop_assert!(outcome.is_err(), "{changed} verified");
        prop_assert!(!outcome.unwrap_err().is_forbidden(), "a forgery proves nobody");

        // The same claims signed by a key the collector does not hold, under its kid.
        let forged = issue(&self::keys(8, "k"), "demo", &visitor, now, DAY_MS).unwrap();
        prop_assert_eq!(verify(&keys, &forged, "demo", &visitor, now), Err(TokenError::BadSignature));
    }
}

#[test]
fn rotation_keeps_earlier_tokens_valid_until_they_expire() {
    let old = keys(1, "2026-01");
    let at = 1_800_000_000_000;
    let token = issue(&old, "demo", "v", at, 30 * DAY_MS).unwrap();
    // The new key signs; the old one is published as a public key only.
    let mut rotated = keys(2, "2026-02");
    let old_public = old.verifier("2026-01").copied().unwrap();
    rotated.add_public("2026-01", old_public).unwrap();
    assert!(verify(&rotated, &token, "demo", "v", at + 29 * DAY_MS).is_ok());
    assert_eq!(
        verify(&rotated, &token, "demo", "v", at + 30 * DAY_MS),
        Err(TokenError::Expired)
    );
    let fresh = issue(&rotated, "demo", "v", at, DAY_MS).unwrap();
    assert!(verify(&rotated, &fresh, "demo", "v", at).is_ok());
    // Without the old key published, its tokens prove nothing.
    assert_eq!(
        verify(&keys(2, "2026-02"), &token, "demo", "v", at),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn a_receipt_or_any_other_jws_of_the_collector_is_no_token() {
    let keys = keys(1, "k");
    let claims = serde_json::to_vec(&Claims {
        site: "demo".into(),
        sub: "v".into(),
        aud: AUDIENCE.into(),
        iat: 0,
        exp: i64::MAX,
    })
    .unwrap();
    let receipt = jws::sign(
        keys.signer().unwrap(),
        "fiducia-consent-receipt+jws",
        &claims,
    );
    assert_eq!(
        verify(&keys, &receipt, "demo", "v", 1),
        Err(TokenError::Malformed)
    );
    let mut other = serde_json::from_slice::<serde_json::Value>(&claims).unwrap();
    other["aud"] = "someone-else".into();
    let other = jws::sign(
        keys.signer().unwrap(),
        TOKEN_TYPE,
        other.to_string().as_bytes(),
    );
    assert_eq!(
        verify(&keys, &other, "demo", "v", 1),
        Err(TokenError::Malformed)
    );
}

#[test]
fn without_a_signing_key_no_token_is_issued() {
    assert_eq!(issue(&Keys::default(), "demo", "v", 1, DAY_MS), None);
}
