//! IAB TCF v2.2/2.3 TC strings, alone or inside a GPP string, decoded with
//! `iab_gpp` and validated as `collector/reference/consent.md` section 2.7 says.
//! A string that fails any rule grants nothing.
//!
//! We are the site owner's processor, so the signal is the **publisher**
//! segment (`PubPurposesConsent`, plus publisher custom purposes the site
//! maps to ours), not vendor consent: the consent table in `collector/README.md` maps
//! `measurement` = {1, 8}, `personalization` = {1, 5, 6}, `functional` =
//! {1}, `contextual` = {11}. A string without a publisher segment grants
//! nothing.
//!
//! Pinned decoder behaviour: a string truncated inside its trailing zero
//! bits still decodes (as `@iabtechlabtcf/core` and `iab_gpp` do; only
//! `lib_tcstring` refuses it), then faces the same validation as any other.
//!
//! `iab_gpp` 0.1.2 can panic on hostile GPP headers (an integer overflow in
//! its Fibonacci range decoding, found by `collector/fuzz`), so every call
//! into it is guarded: a panic is a decode error like any other. It also
//! expands every vendor range into one id per vendor, so a short string of
//! overlapping ranges cost it seconds and ~100 MB: `ranges` refuses those
//! before it sees them.

use std::panic::{UnwindSafe, catch_unwind};
use std::str::FromStr;

use fiducia_proto::consent::Purpose;
use iab_gpp::sections::tcfeuv2::TcfEuV2;
use iab_gpp::v1::GPPString;

mod ranges;

/// Longest TC or GPP string looked at.
pub const MAX_LEN: usize = 8192;
/// `Created` is a day-level timestamp: allow a day of clock difference.
const FUTURE_SKEW_MS: i64 = 86_400_000;
/// TCF 2.2 raised the policy version to 4; older strings are stale.
const MIN_POLICY_VERSION: u8 = 4;

/// Why a TC string grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcfError {
    /// Longer than [`MAX_LEN`].
    #[error("longer than {MAX_LEN} characters")]
    TooLong,
    /// A character outside base64url (and `.`/`~` separators).
    #[error("not base64url")]
    Alphabet,
    /// The bits do not decode as a TCF v2 core segment.
    #[error("does not decode as TCF v2: {0}")]
    Decode(String),
    /// A GPP string that does not decode.
    #[error("GPP string does not decode: {0}")]
    Gpp(String),
    /// `IsServiceSpecific` is 0 (global scope, invalid since 2021).
    #[error("IsServiceSpecific is 0")]
    NotServiceSpecific,
    /// `TcfPolicyVersion` below 4 (before TCF 2.2).
    #[error("policy version {0} is below 4 (TCF 2.2)")]
    PolicyVersion(u8),
    /// `Created` lies in the future.
    #[error("created in the future")]
    FromTheFuture,
    /// `LastUpdated` is older than the site's maximum consent age.
    #[error("older than the site's maximum consent age")]
    Expired,
    /// Vendor ranges that cover some vendor many times over: refused
    /// before decoding, which would expand each of them (see `ranges`).
    #[error("vendor ranges cover more ids than a TC string can mean")]
    RangesTooWide,
}

impl TcfError {
    /// Label of the validation-outcome counter: a bounded set.
    #[must_use]
    pub const fn outcome(&self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::Alphabet => "alphabet",
            Self::Decode(_) => "decode_error",
            Self::Gpp(_) => "gpp_decode_error",
            Self::NotServiceSpecific => "not_service_specific",
            Self::PolicyVersion(_) => "policy_version",
            Self::FromTheFuture => "from_the_future",
            Self::Expired => "expired",
            Self::RangesTooWide => "ranges_too_wide",
        }
    }
}

/// What a valid TC string tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcConsent {
    /// The CMP that wrote it.
    pub cmp_id: u16,
    /// `LastUpdated`, Unix milliseconds.
    pub last_updated_ms: i64,
    /// Publisher purposes consented (bit `i - 1` = purpose `i`); `None`
    /// without a publisher segment.
    publisher: Option<u32>,
    /// Publisher custom purposes consented (bit `i - 1` = custom purpose `i`).
    custom: u64,
    /// Whether the DisclosedVendors segment (mandatory since 2.3) is there.
    pub has_disclosed_vendors: bool,
}

/// The TCF purposes each of our purposes needs (`collector/README.md`, Consent).
#[must_use]
pub const fn tcf_purposes(purpose: Purpose) -> &'static [u8] {
    match purpose {
        Purpose::Necessary => &[],
        Purpose::Measurement => &[1, 8],
        Purpose::Personalization => &[1, 5, 6],
        Purpose::Functional => &[1],
        Purpose::Contextual => &[11],
    }
}

impl TcConsent {
    /// Whether the string has a publisher segment at all.
    #[must_use]
    pub const fn has_publisher_segment(&self) -> bool {
        self.publisher.is_some()
    }

    /// Whether publisher purpose `id` (1-24) is consented.
    #[must_use]
    pub fn publisher_consents(&self, id: u8) -> bool {
        (1..=24).contains(&id) && self.publisher.is_some_and(|bits| bits & 1 << (id - 1) != 0)
    }

    /// Whether publisher custom purpose `id` (1-64) is consented.
    #[must_use]
    pub fn custom_consents(&self, id: u8) -> bool {
        (1..=64).contains(&id) && self.custom & 1 << (id - 1) != 0
    }

    /// Whether `purpose` is granted: every TCF purpose it needs consented in
    /// the publisher segment, or a custom purpose the site maps to it.
    #[must_use]
    pub fn grants(&self, purpose: Purpose, custom_map: &[(u8, Purpose)]) -> bool {
        let standard = self.has_publisher_segment()
            && tcf_purposes(purpose)
                .iter()
                .all(|&id| self.publisher_consents(id));
        standard
            || custom_map
                .iter()
                .any(|&(id, p)| p == purpose && self.custom_consents(id))
    }
}

/// Decodes a standalone TC string after checking its length, its alphabet
/// and what its vendor ranges expand to.
///
/// # Errors
/// [`TcfError::TooLong`], [`TcfError::Alphabet`],
/// [`TcfError::RangesTooWide`] or [`TcfError::Decode`].
pub fn decode(tc: &str) -> Result<TcfEuV2, TcfError> {
    check_text(tc, b".")?;
    if ranges::too_wide(tc) {
        return Err(TcfError::RangesTooWide);
    }
    guarded(|| TcfEuV2::from_str(tc).map_err(|e| e.to_string())).map_err(TcfError::Decode)
}

/// Runs a decoder, turning a panic into an error.
fn guarded<T>(decode: impl FnOnce() -> Result<T, String> + UnwindSafe) -> Result<T, String> {
    catch_unwind(decode).unwrap_or_else(|_| Err("the decoder failed on this input".to_owned()))
}

/// The TC string carried by an envelope: `consent.tcf`, else section 2
/// (tcfeuv2) of `consent.gpp`. `None` when there is no TCF signal at all
/// (a GPP string of US sections only is not one).
#[must_use]
pub fn from_envelope(
    tcf: &str,
    gpp: &str,
    now_ms: i64,
    max_age_ms: i64,
) -> Option<Result<TcConsent, TcfError>> {
    if !tcf.is_empty() {
        return Some(decode(tcf).and_then(|d| validate(&d, now_ms, max_age_ms)));
    }
    if gpp.is_empty() {
        return None;
    }
    let parsed = check_text(gpp, b".~").and_then(|()| {
        guarded(|| GPPString::from_str(gpp).map_err(|e| e.to_string())).map_err(TcfError::Gpp)
    });
    match parsed {
        Err(error) => Some(Err(error)),
        Ok(gpp) => {
            let section = gpp.section(<TcfEuV2 as iab_gpp::sections::DecodableSection>::ID)?;
            Some(decode(section).and_then(|d| validate(&d, now_ms, max_age_ms)))
        }
    }
}

/// Applies the validation rules to a decoded string.
///
/// # Errors
/// The first rule broken.
pub fn validate(decoded: &TcfEuV2, now_ms: i64, max_age_ms: i64) -> Result<TcConsent, TcfError> {
    let core = &decoded.core;
    if !core.is_service_specific {
        return Err(TcfError::NotServiceSpecific);
    }
    if core.policy_version < MIN_POLICY_VERSION {
        return Err(TcfError::PolicyVersion(core.policy_version));
    }
    let created_ms = seconds_to_ms(core.created);
    let last_updated_ms = seconds_to_ms(core.last_updated);
    if created_ms > now_ms.saturating_add(FUTURE_SKEW_MS)
        || last_updated_ms > now_ms.saturating_add(FUTURE_SKEW_MS)
    {
        return Err(TcfError::FromTheFuture);
    }
    if now_ms.saturating_sub(last_updated_ms) > max_age_ms {
        return Err(TcfError::Expired);
    }
    let publisher = decoded
        .publisher_purposes
        .as_ref()
        .map(|p| bits(p.consents.iter()));
    let custom = decoded
        .publisher_purposes
        .as_ref()
        .map_or(0, |p| bits(p.custom_consents.iter()));
    Ok(TcConsent {
        cmp_id: core.cmp_id,
        last_updated_ms,
        publisher: publisher.map(|b| u32::try_from(b & 0xff_ffff).unwrap_or_default()),
        custom,
        has_disclosed_vendors: decoded.disclosed_vendors.is_some(),
    })
}

fn check_text(text: &str, separators: &[u8]) -> Result<(), TcfError> {
    if text.len() > MAX_LEN {
        return Err(TcfError::TooLong);
    }
    let ok = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || separators.contains(&b));
    if ok { Ok(()) } else { Err(TcfError::Alphabet) }
}

fn seconds_to_ms(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

fn bits<'a>(ids: impl Iterator<Item = &'a u16>) -> u64 {
    ids.filter(|&&id| (1..=64).contains(&id))
        .fold(0, |acc, &id| acc | 1 << (id - 1))
}
