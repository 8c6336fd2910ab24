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

/// What happens to a subject's rows in a [`Holder`] on erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErasure {
    /// Deleted, and verified gone.
    Delete,
    /// A view over deleted tables: nothing to delete, verified gone.
    Follows,
    /// Kept as proof of consent, the subject replaced by a pseudonym.
    Pseudonymise,
    /// The request audit itself: kept.
    Keep,
}

/// A ClickHouse table or view that holds a subject's data (SPEC section 7):
/// what an export reads and an erasure empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Table or view name in the `fiducia` database.
    pub name: &'static str,
    /// The column holding the visitor id.
    pub visitor_column: &'static str,
    /// The column holding the first-party user id, where it is kept; rows
    /// of a user key are those whose `lower(hex(SHA256(concat(site_id,
    /// '\0', <column>))))` equals it.
    pub user_column: Option<&'static str>,
    /// The column holding a user key (the audit trail's), where it is kept.
    pub user_key_column: Option<&'static str>,
    /// What erasure does to its rows.
    pub on_erasure: OnErasure,
    /// A table that collapses redelivered rows only when it merges (a
    /// `ReplacingMergeTree`): read it with `FINAL`, as analysts do. Views
    /// do that themselves.
    pub read_final: bool,
}

/// Every place in ClickHouse a subject's data lives, in the order an export
/// lists them. `dead_letters` is not one: it keeps no payload.
pub const HOLDERS: &[Holder] = &[
    Holder {
        name: "events",
        visitor_column: "visitor_id",
        user_column: Some("user_id"),
        user_key_column: None,
        on_erasure: OnErasure::Delete,
        read_final: true,
    },
    Holder {
        name: "sessions",
        visitor_column: "visitor_id",
        user_column: None,
        user_key_column: None,
        on_erasure: OnErasure::Follows,
        read_final: false,
    },
    Holder {
        name: "profile_events",
        visitor_column: "visitor_id",
        user_column: None,
        user_key_column: None,
        on_erasure: OnErasure::Delete,
        read_final: true,
    },
    Holder {
        name: "profiles",
        visitor_column: "visitor_id",
        user_column: None,
        user_key_column: None,
        on_erasure: OnErasure::Follows,
        read_final: false,
    },
    Holder {
        name: "consent_log",
        visitor_column: "subject",
        user_column: None,
        user_key_column: None,
        on_erasure: OnErasure::Pseudonymise,
        read_final: true,
    },
    Holder {
        name: "privacy_requests",
        visitor_column: "subject",
        user_column: None,
        user_key_column: Some("user_key"),
        on_erasure: OnErasure::Keep,
        read_final: true,
    },
];

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
