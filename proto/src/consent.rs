//! The consent model shared by every service (SPEC section 5).
//!
//! Fail closed: a purpose is granted only when it was explicitly granted;
//! missing, unknown or unspecified means denied. The collector applies
//! [`decide`] to every event before anything reaches Kafka.
//!
//! This is the first gate: an event is kept only with `measurement` granted.
//! Per-event-type purposes, STRIP mode and the consent sources (ledger, TCF,
//! GPC) extend this module.

use crate::v1::{ConsentSnapshot, ConsentState, Decision};

/// Our purposes; there is no advertising purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Security, abuse and bot defence, delivery.
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

impl Purpose {
    /// Every purpose, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::Necessary,
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

    /// Whether the snapshot grants this purpose. `necessary` is never a
    /// consent question; the others are granted only when explicitly so.
    #[must_use]
    pub fn granted_by(self, snapshot: &ConsentSnapshot) -> bool {
        let state = match self {
            Self::Necessary => return true,
            Self::Measurement => snapshot.measurement,
            Self::Personalization => snapshot.personalization,
            Self::Functional => snapshot.functional,
            Self::Contextual => snapshot.contextual,
        };
        state == ConsentState::Granted as i32
    }
}

/// Why an event was dropped. Labels of the drop counters: a bounded set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// `measurement` is not granted.
    NoMeasurementConsent,
}

impl DropReason {
    /// Stable machine-readable name, used in metrics and response headers.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoMeasurementConsent => "no_measurement_consent",
        }
    }
}

/// The gate's answer for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Publish, marked with this decision.
    Publish(Decision),
    /// Never published; counted by reason.
    Drop(DropReason),
}

/// Decides one event from the consent snapshot of its envelope.
#[must_use]
pub fn decide(consent: &ConsentSnapshot) -> Verdict {
    if Purpose::Measurement.granted_by(consent) {
        Verdict::Publish(Decision::Keep)
    } else {
        Verdict::Drop(DropReason::NoMeasurementConsent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(measurement: ConsentState) -> ConsentSnapshot {
        ConsentSnapshot {
            measurement: measurement as i32,
            ..ConsentSnapshot::default()
        }
    }

    #[test]
    fn measurement_granted_keeps_the_event() {
        assert_eq!(
            decide(&snapshot(ConsentState::Granted)),
            Verdict::Publish(Decision::Keep)
        );
    }

    #[test]
    fn denied_unspecified_and_unknown_states_drop_the_event() {
        for state in [
            ConsentState::Denied as i32,
            ConsentState::Unspecified as i32,
            99,
        ] {
            let consent = ConsentSnapshot {
                measurement: state,
                ..ConsentSnapshot::default()
            };
            assert_eq!(
                decide(&consent),
                Verdict::Drop(DropReason::NoMeasurementConsent),
                "state {state}"
            );
        }
    }

    #[test]
    fn other_purposes_do_not_stand_in_for_measurement() {
        let consent = ConsentSnapshot {
            personalization: ConsentState::Granted as i32,
            functional: ConsentState::Granted as i32,
            contextual: ConsentState::Granted as i32,
            ..ConsentSnapshot::default()
        };
        assert!(matches!(decide(&consent), Verdict::Drop(_)));
    }

    #[test]
    fn necessary_is_never_a_consent_question() {
        assert!(Purpose::Necessary.granted_by(&ConsentSnapshot::default()));
        for purpose in &Purpose::ALL[1..] {
            assert!(
                !purpose.granted_by(&ConsentSnapshot::default()),
                "{purpose:?}"
            );
        }
    }
}
