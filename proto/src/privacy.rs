//! The visitors' rights in the contract (`fiducia.privacy.v1`): how a
//! request names its subject, and the retention choices a visitor has.

use sha2::{Digest, Sha256};

/// The key a request by first-party user id names its subject with:
/// SHA-256 of `site`, a NUL byte and `user_id`, in lower-case hex. The
/// privacy topic, the consent topic and the audit trail carry this key,
/// never the user id: an erased user's id is not kept to remember the
/// erasure. ClickHouse finds the user's rows with the same digest,
/// `lower(hex(SHA256(concat(site_id, '\0', user_id))))`.
#[must_use]
pub fn user_key(site: &str, user_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(site.as_bytes());
    hasher.update([0]);
    hasher.update(user_id.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// The Kafka key of a request or erase record by user key: it is not a
/// visitor id, and `:` never appears in one.
#[must_use]
pub fn user_partition_key(site: &str, user_key: &str) -> String {
    format!("{site}/user:{user_key}")
}

/// Channels a request comes through (`PrivacyRequest.channel`).
pub mod channel {
    /// The visitor, in the privacy center, proven by their token.
    pub const CENTER: &str = "center";
    /// The site's operator, through the admin API.
    pub const ADMIN: &str = "admin";
}

/// The retention periods of identified data, in months, a visitor may
/// choose in the privacy center; only those shorter than the site's own
/// period are offered, and 0 returns to the site's default.
pub const RETENTION_CHOICES_MONTHS: [u32; 3] = [1, 6, 13];

/// The period that applies: the visitor's choice when it is shorter than
/// the site's, else the site's (a choice never lengthens retention).
#[must_use]
pub fn effective_retention_months(chosen: u32, site_default: u32) -> u32 {
    if chosen == 0 {
        site_default
    } else {
        chosen.min(site_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_key_is_the_sha256_of_site_nul_user() {
        // printf 'shop\0u-42' | sha256sum
        assert_eq!(
            user_key("shop", "u-42"),
            "202650766036b8a7b04f8b55045ded1320aee2245857fe278a58678bf7504446"
        );
        assert_ne!(user_key("shop", "u-42"), user_key("shop2", "u-42"));
        assert_ne!(user_key("sh", "opu-42"), user_key("shop", "u-42"));
    }

    #[test]
    fn a_choice_only_shortens_retention() {
        assert_eq!(effective_retention_months(0, 13), 13);
        assert_eq!(effective_retention_months(1, 13), 1);
        assert_eq!(effective_retention_months(25, 13), 13);
    }
}
