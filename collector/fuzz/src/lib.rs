//! What the collector's fuzz targets share: the panic hook that lets only
//! the known, caught `iab_gpp` panic unwind, the injected clock, and the
//! consent rules a TC string's outcome must obey (`collector/README.md`,
//! Consent; `consent::tcf`), checked the same way for a TC string sent
//! alone (`tcf` target) and one carried in a GPP string (`gpp` target).

use fiducia_collector::consent::policy::Policy;
use fiducia_collector::consent::resolve::{HeaderSignals, resolve};
use fiducia_collector::consent::tcf::{TcConsent, TcfError, validate};
use fiducia_collector::envelope::{Consent, ConsentValue};
use fiducia_proto::consent::Purpose;
use iab_gpp::sections::tcfeuv2::TcfEuV2;

/// The injected clock, Unix ms (2026-06-01): the seeds' TC strings are
/// fresh at this instant.
pub const NOW_MS: i64 = 1_780_272_000_000;
/// `Created` and `LastUpdated` may lie this far ahead of the clock.
const DAY_MS: i64 = 86_400_000;

/// libFuzzer aborts on any panic, even a caught one. The collector catches
/// panics inside `iab_gpp` (a known integer overflow in its GPP decoding,
/// see `consent::tcf`), so only those may unwind; any other panic is a bug.
pub fn allow_caught_decoder_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_decoder = info
            .location()
            .is_some_and(|l| l.file().contains("iab_gpp"));
        if !in_decoder {
            abort(info);
        }
    }));
}

/// A site that maps publisher custom purposes 1 and 3 to two of ours, so
/// custom consents are exercised too.
#[must_use]
pub fn policy() -> Policy {
    Policy {
        tcf_custom: vec![(1, Purpose::Personalization), (3, Purpose::Contextual)],
        ..Policy::default()
    }
}

/// The tag's own state granting every purpose, fresh, through the site's
/// API: whatever is denied once a string is sent, the string denied.
#[must_use]
pub fn tag_granting_all(tcf: &str, gpp: &str) -> Consent {
    let granted = Some(ConsentValue::Granted);
    Consent {
        measurement: granted,
        personalization: granted,
        functional: granted,
        contextual: granted,
        source: "api".to_owned(),
        tcf: tcf.to_owned(),
        gpp: gpp.to_owned(),
        updated_at: Some(NOW_MS),
        ..Consent::default()
    }
}

/// The TCF purposes each of ours needs, as `collector/README.md` tables
/// them (restated here, not taken from `tcf_purposes`).
fn readme_tcf_purposes(purpose: Purpose) -> &'static [u8] {
    match purpose {
        Purpose::Necessary => &[],
        Purpose::Measurement => &[1, 8],
        Purpose::Personalization => &[1, 5, 6],
        Purpose::Functional => &[1],
        Purpose::Contextual => &[11],
    }
}

/// Resolves the strings of `consent` into grants and checks the outcome
/// against the rules: a string that does not decode or validate grants
/// nothing, whatever the tag says; a valid one grants exactly what its
/// publisher segment (and the site's custom purpose map) consents, and is
/// fresh at [`NOW_MS`] (see also [`check_expiry`]); without a TCF signal
/// the tag's own state decides.
/// Returns the outcome, for the target's own checks.
///
/// # Panics
/// When a rule is broken: that is the finding.
#[must_use]
pub fn check_outcome(consent: &Consent) -> Option<Result<TcConsent, TcfError>> {
    let policy = policy();
    let resolution = resolve(
        &policy,
        consent,
        HeaderSignals::default(),
        None,
        false,
        NOW_MS,
    );
    let outcome = resolution.tcf.as_ref();
    let granted = |p: Purpose| resolution.grants.get(p).is_granted();
    match outcome {
        Some(Err(error)) => {
            for p in Purpose::CONSENTABLE {
                assert!(!granted(p), "{p:?} granted by a string refused as {error}");
                assert!(!resolution.choice.get(p).is_granted());
            }
        }
        Some(Ok(tc)) => {
            let max_age_ms = policy.max_age_ms;
            assert!(
                tc.last_updated_ms <= NOW_MS + DAY_MS,
                "valid from the future"
            );
            assert!(
                NOW_MS - tc.last_updated_ms <= max_age_ms,
                "valid but expired"
            );
            for p in Purpose::CONSENTABLE {
                let standard = tc.has_publisher_segment()
                    && readme_tcf_purposes(p)
                        .iter()
                        .all(|&id| tc.publisher_consents(id));
                let custom = policy
                    .tcf_custom
                    .iter()
                    .any(|&(id, q)| q == p && tc.custom_consents(id));
                assert_eq!(
                    granted(p),
                    standard || custom,
                    "{p:?} against the README table"
                );
            }
        }
        None => {
            assert!(consent.tcf.is_empty(), "a TC string that is no TCF signal");
            for p in Purpose::CONSENTABLE {
                assert!(granted(p), "{p:?}: without a TCF signal the tag decides");
            }
        }
    }
    resolution.tcf
}

/// Checks that the string `decoded` (valid at [`NOW_MS`] as `tc`) expires
/// and comes from the future at the right instants: one millisecond past
/// the site's maximum age after `LastUpdated`, and a day and a millisecond
/// before it.
///
/// # Panics
/// When it does not: that is the finding.
pub fn check_expiry(decoded: &TcfEuV2, tc: &TcConsent) {
    let max_age_ms = policy().max_age_ms;
    let aged = NOW_MS.max(tc.last_updated_ms) + max_age_ms + 1;
    let early = tc.last_updated_ms - DAY_MS - 1;
    assert_eq!(validate(decoded, aged, max_age_ms), Err(TcfError::Expired));
    assert_eq!(
        validate(decoded, early, max_age_ms),
        Err(TcfError::FromTheFuture)
    );
}

/// Whether `text` passes the decoder's length and alphabet checks:
/// at most 8192 bytes of base64url and the given separators.
#[must_use]
pub fn plausible(text: &str, separators: &str) -> bool {
    text.len() <= fiducia_collector::consent::tcf::MAX_LEN
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || separators.contains(c))
}
