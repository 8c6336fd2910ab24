//! Our purposes (`collector/README.md`, Consent). There is no advertising purpose: data is
//! never shared with third parties.

use super::flags::{Flag, Flags};
use crate::v1::{ConsentSnapshot, ConsentState};

/// A reason to process data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Security, abuse and bot defence, delivery: never a consent question.
    Necessary,
    /// First-party analytics; a visitor id for up to 13 months.
    Measurement,
    /// Visitor profiles and personalized content.
    Personalization,
    /// Remembered preferences.
    Functional,
    /// Page-context decisions, no identifier, no storage.
    Contextual,
}

/// A set of purposes.
pub type PurposeSet = Flags<Purpose>;

impl Flag for Purpose {
    const ALL: &'static [Self] = &Self::ALL;
    fn index(self) -> u8 {
        self as u8
    }
}

impl Purpose {
    /// Every purpose, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::Necessary,
        Self::Measurement,
        Self::Personalization,
        Self::Functional,
        Self::Contextual,
    ];

    /// The purposes a visitor can grant or refuse (all but `necessary`).
    pub const CONSENTABLE: [Self; 4] = [
        Self::Measurement,
        Self::Personalization,
        Self::Functional,
        Self::Contextual,
    ];

    /// The wire name (`measurement`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Necessary => "necessary",
            Self::Measurement => "measurement",
            Self::Personalization => "personalization",
            Self::Functional => "functional",
            Self::Contextual => "contextual",
        }
    }

    /// The purpose with this wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// This purpose's field in a snapshot; `None` for `necessary`.
    #[must_use]
    pub fn state_in(self, snapshot: &ConsentSnapshot) -> Option<i32> {
        match self {
            Self::Necessary => None,
            Self::Measurement => Some(snapshot.measurement),
            Self::Personalization => Some(snapshot.personalization),
            Self::Functional => Some(snapshot.functional),
            Self::Contextual => Some(snapshot.contextual),
        }
    }

    /// Sets this purpose's field in a snapshot (`necessary` has none).
    pub fn set_in(self, snapshot: &mut ConsentSnapshot, granted: bool) {
        let state = if granted {
            ConsentState::Granted
        } else {
            ConsentState::Denied
        } as i32;
        match self {
            Self::Necessary => {}
            Self::Measurement => snapshot.measurement = state,
            Self::Personalization => snapshot.personalization = state,
            Self::Functional => snapshot.functional = state,
            Self::Contextual => snapshot.contextual = state,
        }
    }

    /// Whether the snapshot grants this purpose. `necessary` is never a
    /// consent question; the others are granted only when explicitly so
    /// (unspecified or unknown states are denied).
    #[must_use]
    pub fn granted_by(self, snapshot: &ConsentSnapshot) -> bool {
        self.state_in(snapshot)
            .is_none_or(|state| state == ConsentState::Granted as i32)
    }
}

impl PurposeSet {
    /// The purposes a snapshot grants, `necessary` always among them.
    #[must_use]
    pub fn granted_by(snapshot: &ConsentSnapshot) -> Self {
        Purpose::ALL
            .into_iter()
            .filter(|p| p.granted_by(snapshot))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn necessary_is_never_a_consent_question() {
        assert!(Purpose::Necessary.granted_by(&ConsentSnapshot::default()));
        for purpose in Purpose::CONSENTABLE {
            assert!(
                !purpose.granted_by(&ConsentSnapshot::default()),
                "{purpose:?}"
            );
        }
    }

    #[test]
    fn only_an_explicit_grant_grants() {
        for (state, granted) in [
            (ConsentState::Granted as i32, true),
            (ConsentState::Denied as i32, false),
            (ConsentState::Unspecified as i32, false),
            (99, false),
        ] {
            let snapshot = ConsentSnapshot {
                personalization: state,
                ..ConsentSnapshot::default()
            };
            assert_eq!(
                Purpose::Personalization.granted_by(&snapshot),
                granted,
                "{state}"
            );
            assert!(!Purpose::Measurement.granted_by(&snapshot));
        }
    }

    #[test]
    fn set_in_and_granted_by_agree_for_every_purpose() {
        for purpose in Purpose::CONSENTABLE {
            let mut snapshot = ConsentSnapshot::default();
            purpose.set_in(&mut snapshot, true);
            assert_eq!(
                PurposeSet::granted_by(&snapshot),
                PurposeSet::of(&[Purpose::Necessary, purpose])
            );
            purpose.set_in(&mut snapshot, false);
            assert_eq!(
                PurposeSet::granted_by(&snapshot),
                PurposeSet::of(&[Purpose::Necessary])
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for purpose in Purpose::ALL {
            assert_eq!(Purpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(Purpose::parse("advertising"), None);
    }
}
