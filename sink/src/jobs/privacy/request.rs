//! A privacy request as the workflow handles it, and the states it goes
//! through: an erasure `received` → `enforced` → `deleted` → `verified`,
//! an access request (an export the collector served) `completed`. Each
//! state is one `privacy_requests` row, written once and in this order; a
//! request handled again (redelivered, or after a crash) goes on from the
//! first state it has no row for.

use fiducia_proto::privacy::channel;
use fiducia_proto::v1::{PrivacyRequest, PrivacyRequestKind};
use uuid::Uuid;

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An export (GDPR art. 15, 20), served by the collector.
    Access,
    /// Erasure (art. 17).
    Erasure,
}

impl Kind {
    /// The `kind` column and metric label.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Erasure => "erasure",
        }
    }

    /// The states a request of this kind goes through, in order.
    #[must_use]
    pub fn states(self) -> &'static [State] {
        match self {
            Self::Access => &[State::Completed],
            Self::Erasure => &[
                State::Received,
                State::Enforced,
                State::Deleted,
                State::Verified,
            ],
        }
    }
}

/// A state a request reached: one `privacy_requests` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// The sink's workflow has the request.
    Received,
    /// The subject is in this sink's deny-list and every insert checked
    /// before it was acknowledged: nothing of the subject is inserted any more.
    Enforced,
    /// Deletions issued in every table that holds the subject, consent
    /// records pseudonymised.
    Deleted,
    /// A count of the subject's rows is zero in every table and view.
    Verified,
    /// An access request, recorded.
    Completed,
}

impl State {
    /// The `status` column and metric label.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Enforced => "enforced",
            Self::Deleted => "deleted",
            Self::Verified => "verified",
            Self::Completed => "completed",
        }
    }

    /// The state named `name` in the table.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Received,
            Self::Enforced,
            Self::Deleted,
            Self::Verified,
            Self::Completed,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

/// The states of `kind` still to reach, in order, when `reached` are
/// already in the table. A state is never written twice; a state written
/// out of order (which the workflow never does) does not excuse the ones
/// before it.
#[must_use]
pub fn remaining(kind: Kind, reached: &[State]) -> Vec<State> {
    kind.states()
        .iter()
        .copied()
        .filter(|state| !reached.contains(state))
        .collect()
}

/// A usable request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its id; retries share it.
    pub id: Uuid,
    /// What was asked.
    pub kind: Kind,
    /// The message as read (the deny-list's key for it).
    pub message: PrivacyRequest,
}

/// Why a message of the privacy topic is not a usable request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// `request_id` must be a 16-byte, non-nil UUID.
    #[error("request_id is not a UUID")]
    Id,
    /// No site, or neither a visitor id nor a user key.
    #[error("request without a site or a subject")]
    NoSubject,
    /// A kind this sink does not know.
    #[error("unknown request kind {0}")]
    Kind(i32),
}

impl TryFrom<PrivacyRequest> for Request {
    type Error = InvalidRequest;

    fn try_from(message: PrivacyRequest) -> Result<Self, Self::Error> {
        let id = <[u8; 16]>::try_from(message.request_id.as_slice())
            .map(Uuid::from_bytes)
            .map_err(|_| InvalidRequest::Id)?;
        if id.is_nil() {
            return Err(InvalidRequest::Id);
        }
        if message.site_id.is_empty() || (message.subject.is_empty() && message.user_key.is_empty())
        {
            return Err(InvalidRequest::NoSubject);
        }
        let kind = match PrivacyRequestKind::try_from(message.kind) {
            Ok(PrivacyRequestKind::Access) => Kind::Access,
            Ok(PrivacyRequestKind::Erasure) => Kind::Erasure,
            _ => return Err(InvalidRequest::Kind(message.kind)),
        };
        Ok(Self { id, kind, message })
    }
}

impl Request {
    /// Who asked; `center` when the message does not say.
    #[must_use]
    pub fn channel(&self) -> &str {
        if self.message.channel.is_empty() {
            channel::CENTER
        } else {
            &self.message.channel
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: PrivacyRequestKind) -> PrivacyRequest {
        PrivacyRequest {
            request_id: Uuid::now_v7().as_bytes().to_vec(),
            site_id: "demo".into(),
            subject: "v1".into(),
            kind: kind.into(),
            requested_at_ms: 1,
            ..PrivacyRequest::default()
        }
    }

    #[test]
    fn an_erasure_goes_on_from_the_first_state_it_has_no_row_for() {
        use State::{Deleted, Enforced, Received, Verified};
        let cases: [(&[State], &[State]); 5] = [
            (&[], &[Received, Enforced, Deleted, Verified]),
            (&[Received], &[Enforced, Deleted, Verified]),
            (&[Received, Enforced], &[Deleted, Verified]),
            (&[Received, Enforced, Deleted], &[Verified]),
            (&[Received, Enforced, Deleted, Verified], &[]),
        ];
        for (reached, want) in cases {
            assert_eq!(remaining(Kind::Erasure, reached), want, "{reached:?}");
        }
    }

    #[test]
    fn an_access_request_is_completed_once() {
        assert_eq!(remaining(Kind::Access, &[]), [State::Completed]);
        assert!(remaining(Kind::Access, &[State::Completed]).is_empty());
    }

    #[test]
    fn state_names_round_trip() {
        for state in Kind::Erasure.states().iter().chain(Kind::Access.states()) {
            assert_eq!(State::parse(state.name()), Some(*state));
        }
        assert_eq!(State::parse("failed"), None);
    }

    #[test]
    fn requests_without_an_id_a_subject_or_a_kind_are_refused() {
        assert!(Request::try_from(message(PrivacyRequestKind::Erasure)).is_ok());
        let mut no_id = message(PrivacyRequestKind::Erasure);
        no_id.request_id = vec![0; 16];
        let mut no_subject = message(PrivacyRequestKind::Erasure);
        no_subject.subject.clear();
        let mut by_user = no_subject.clone();
        by_user.user_key = "ab".into();
        assert!(Request::try_from(by_user).is_ok());
        for (message, want) in [
            (no_id, InvalidRequest::Id),
            (no_subject, InvalidRequest::NoSubject),
            (
                message(PrivacyRequestKind::Unspecified),
                InvalidRequest::Kind(0),
            ),
        ] {
            assert_eq!(Request::try_from(message).unwrap_err(), want);
        }
    }
}
