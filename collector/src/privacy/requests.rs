//! The messages a privacy request makes (`fiducia.privacy.v1`,
//! `fiducia.consent.v1`): a [`PrivacyRequest`] per export or erasure, and for
//! an erasure the `erase` consent record every collector's ledger enforces.
//! Both are published in one batch (one send, every ack awaited) before
//! the request is answered; the request's id is the record's, so either
//! names the other and a retry finds the erasure it already made.
//!
//! A request names its subject by visitor id or by user key
//! ([`fiducia_proto::privacy::user_key`]), never by user id: the user id of
//! an erased user is not kept anywhere to remember the erasure.

use fiducia_proto::consent::Purpose;
use fiducia_proto::keys::partition_key;
use fiducia_proto::privacy::user_partition_key;
use fiducia_proto::v1::{
    ConsentAction, ConsentRecord, ConsentSnapshot, IpPrefix, PrivacyRequest, PrivacyRequestKind,
};

/// Whom a request is about, as Kafka may carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A visitor id.
    Visitor(String),
    /// A user key (a request by user id).
    UserKey(String),
}

impl Named {
    /// The Kafka key of the subject's messages on `site`: a visitor's is
    /// its events' key, so the request meets them on one partition.
    #[must_use]
    pub fn key(&self, site: &str) -> String {
        match self {
            Self::Visitor(id) => partition_key(site, id, ""),
            Self::UserKey(key) => user_partition_key(site, key),
        }
    }

    /// The audit trail's subject: the visitor id or `user:<user_key>`.
    #[must_use]
    pub fn audit(&self) -> String {
        match self {
            Self::Visitor(id) => id.clone(),
            Self::UserKey(key) => format!("user:{key}"),
        }
    }

    fn fields(&self) -> (String, String) {
        match self {
            Self::Visitor(id) => (id.clone(), String::new()),
            Self::UserKey(key) => (String::new(), key.clone()),
        }
    }
}

/// A new request of `kind` about `subject` on `site`, through `channel`
/// (`fiducia_proto::privacy::channel`), with a fresh UUIDv7.
#[must_use]
pub fn request(
    kind: PrivacyRequestKind,
    site: &str,
    subject: &Named,
    channel: &str,
    now_ms: i64,
) -> PrivacyRequest {
    let (visitor, user_key) = subject.fields();
    PrivacyRequest {
        request_id: uuid::Uuid::now_v7().into_bytes().to_vec(),
        site_id: site.to_owned(),
        subject: visitor,
        kind: kind.into(),
        requested_at_ms: now_ms,
        user_key,
        channel: channel.to_owned(),
    }
}

/// The `erase` consent record of an erasure `request`: every purpose
/// denied for good, source `privacy:<channel>`, the request's id as its own.
#[must_use]
pub fn erase_record(request: &PrivacyRequest, ip: Option<&IpPrefix>) -> ConsentRecord {
    let mut state = ConsentSnapshot {
        source: "privacy".to_owned(),
        updated_at_ms: request.requested_at_ms,
        ..ConsentSnapshot::default()
    };
    for purpose in Purpose::CONSENTABLE {
        purpose.set_in(&mut state, false);
    }
    ConsentRecord {
        record_id: request.request_id.clone(),
        site_id: request.site_id.clone(),
        subject: request.subject.clone(),
        action: ConsentAction::Erase.into(),
        state: Some(state),
        source: format!("privacy:{}", request.channel),
        client_ts_ms: request.requested_at_ms,
        server_ts_ms: request.requested_at_ms,
        ip: ip.cloned(),
        user_key: request.user_key.clone(),
        ..ConsentRecord::default()
    }
}

/// A 16-byte id (a request's, a record's) as a UUID string; empty when
/// it is not 16 bytes.
#[must_use]
pub fn id_text(id: &[u8]) -> String {
    uuid::Uuid::from_slice(id).map_or_else(|_| String::new(), |u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiducia_proto::privacy::{channel, user_key};

    #[test]
    fn an_erasure_by_user_names_the_key_never_the_id() {
        let key = user_key("demo", "u-42");
        let named = Named::UserKey(key.clone());
        let request = request(
            PrivacyRequestKind::Erasure,
            "demo",
            &named,
            channel::ADMIN,
            7,
        );
        let record = erase_record(&request, None);
        assert_eq!(request.subject, "");
        assert_eq!(request.user_key, key);
        assert_eq!(record.user_key, key);
        assert_eq!(record.subject, "");
        assert_eq!(record.record_id, request.request_id);
        assert_eq!(record.action(), ConsentAction::Erase);
        assert_eq!(record.source, "privacy:admin");
        assert_eq!(named.key("demo"), format!("demo/user:{key}"));
        assert_eq!(named.audit(), format!("user:{key}"));
        let text = format!("{request:?}{record:?}");
        assert!(!text.contains("u-42"));
        assert_eq!(
            uuid::Uuid::from_slice(&request.request_id)
                .unwrap()
                .get_version_num(),
            7
        );
    }
}
