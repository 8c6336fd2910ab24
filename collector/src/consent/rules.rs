//! Which purposes each event type and each field needs. The defaults below
//! are the product's; a site may change them, but every analytics event type
//! keeps needing at least one purpose that takes consent, so no site
//! configuration can collect events without consent.

use fiducia_proto::consent::{EventType, Flag, Flags, Purpose, PurposeSet};

/// What the product requires of `kind` by default: consent records are
/// necessary (they are the proof, and how a withdrawal propagates); linking
/// a user id builds a profile, so `identify` also needs personalization;
/// every other event is measurement.
#[must_use]
pub fn default_needs(kind: EventType) -> PurposeSet {
    match kind {
        EventType::Consent => PurposeSet::of(&[Purpose::Necessary]),
        EventType::Identify => PurposeSet::of(&[Purpose::Measurement, Purpose::Personalization]),
        _ => PurposeSet::of(&[Purpose::Measurement]),
    }
}

/// Parts of an event that have a purpose of their own: removed from a kept
/// event whose grants do not cover them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `visitor.id`: the tag's random visitor id.
    VisitorId,
    /// `visitor.user_id`: the site's own user id after `identify`.
    UserId,
    /// `context.title`.
    Title,
    /// `context.referrer`.
    Referrer,
    /// `context.screen` and `context.viewport`.
    Device,
    /// `context.lang` and `context.tz`.
    Locale,
    /// The event's `props`.
    Props,
}

/// A set of fields.
pub type FieldSet = Flags<Field>;

impl Flag for Field {
    const ALL: &'static [Self] = &Self::ALL;
    fn index(self) -> u8 {
        self as u8
    }
}

impl Field {
    /// Every field, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::VisitorId,
        Self::UserId,
        Self::Title,
        Self::Referrer,
        Self::Device,
        Self::Locale,
        Self::Props,
    ];

    /// The configuration name (`visitor_id`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VisitorId => "visitor_id",
            Self::UserId => "user_id",
            Self::Title => "title",
            Self::Referrer => "referrer",
            Self::Device => "device",
            Self::Locale => "locale",
            Self::Props => "props",
        }
    }

    /// The field with this configuration name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Defaults: a user id is a profile key (personalization); everything
    /// else is part of measurement.
    #[must_use]
    pub fn default_needs(self) -> PurposeSet {
        match self {
            Self::UserId => PurposeSet::of(&[Purpose::Personalization]),
            _ => PurposeSet::of(&[Purpose::Measurement]),
        }
    }

    /// Whether the field names a person (a visitor or a user).
    #[must_use]
    pub const fn is_identifier(self) -> bool {
        matches!(self, Self::VisitorId | Self::UserId)
    }

    /// The fields an anonymous (STRIP) event never carries whole: it keeps
    /// only what exempt audience measurement needs (event type, page path,
    /// the referrer's origin, campaign tags, a coarse device class), and of
    /// its properties only the keys the site lists as anonymous-safe.
    #[must_use]
    pub fn identifying() -> FieldSet {
        FieldSet::of(&[
            Self::VisitorId,
            Self::UserId,
            Self::Title,
            Self::Device,
            Self::Locale,
            Self::Props,
        ])
    }
}

/// One site's consent rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    events: [PurposeSet; EventType::ALL.len()],
    fields: [PurposeSet; Field::ALL.len()],
    /// Whether anonymous measurement without consent (STRIP) is allowed:
    /// off by default, for jurisdictions where consent-exempt audience
    /// measurement is lawful.
    pub anonymous_measurement: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            events: EventType::ALL.map(default_needs),
            fields: Field::ALL.map(Field::default_needs),
            anonymous_measurement: false,
        }
    }
}

impl Rules {
    /// What events of type `kind` need.
    #[must_use]
    pub fn needs(&self, kind: EventType) -> PurposeSet {
        self.events[kind as usize]
    }

    /// What `field` needs.
    #[must_use]
    pub fn field_needs(&self, field: Field) -> PurposeSet {
        self.fields[field as usize]
    }

    /// Requires `needs` for events of type `kind` instead of the default.
    ///
    /// # Errors
    /// For `consent` events (they stay necessary: a withdrawal must always
    /// get through) and for sets without a purpose that takes consent.
    pub fn require_for_event(mut self, kind: EventType, needs: PurposeSet) -> Result<Self, String> {
        if kind == EventType::Consent {
            return Err("consent events are always accepted as records".into());
        }
        if needs.without(Purpose::Necessary).is_empty() {
            return Err(format!(
                "{} events must need at least one of {:?}",
                kind.as_str(),
                Purpose::CONSENTABLE.map(Purpose::as_str)
            ));
        }
        self.events[kind as usize] = needs;
        Ok(self)
    }

    /// Requires `needs` for `field` instead of the default.
    ///
    /// # Errors
    /// For sets without a purpose that takes consent (the field would be
    /// kept on any event, whatever was granted), and for an identifier
    /// (`visitor_id`, `user_id`) whose set drops a purpose it needs by
    /// default: a site may make an identifier stricter, never looser.
    pub fn require_for_field(mut self, field: Field, needs: PurposeSet) -> Result<Self, String> {
        if needs.without(Purpose::Necessary).is_empty() {
            return Err(format!(
                "{} must need at least one of {:?}",
                field.as_str(),
                Purpose::CONSENTABLE.map(Purpose::as_str)
            ));
        }
        let default = field.default_needs();
        if field.is_identifier() && !default.is_subset(needs) {
            return Err(format!(
                "{} is an identifier: it must keep needing {:?}",
                field.as_str(),
                default.iter().map(Purpose::as_str).collect::<Vec<_>>()
            ));
        }
        self.fields[field as usize] = needs;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        for field in Field::ALL {
            assert_eq!(Field::parse(field.as_str()), Some(field));
        }
        assert_eq!(EventType::parse("purchase"), None);
        assert_eq!(Field::parse("email"), None);
    }

    #[test]
    fn defaults_need_consent_for_everything_but_consent_records() {
        let rules = Rules::default();
        for kind in EventType::ALL {
            let needs = rules.needs(kind);
            if kind == EventType::Consent {
                assert_eq!(needs, PurposeSet::of(&[Purpose::Necessary]));
            } else {
                assert!(needs.contains(Purpose::Measurement), "{kind:?}");
            }
        }
        assert!(
            rules
                .needs(EventType::Identify)
                .contains(Purpose::Personalization)
        );
        assert!(!rules.anonymous_measurement);
    }

    #[test]
    fn no_rule_lets_an_analytics_event_through_without_consent() {
        let rules = Rules::default();
        for needs in [PurposeSet::EMPTY, PurposeSet::of(&[Purpose::Necessary])] {
            assert!(
                rules
                    .clone()
                    .require_for_event(EventType::PageView, needs)
                    .is_err()
            );
        }
        assert!(
            rules
                .clone()
                .require_for_event(EventType::Consent, PurposeSet::of(&[Purpose::Measurement]))
                .is_err()
        );
        let stricter = rules
            .clone()
            .require_for_event(
                EventType::Click,
                PurposeSet::of(&[Purpose::Measurement, Purpose::Functional]),
            )
            .unwrap();
        assert!(
            stricter
                .needs(EventType::Click)
                .contains(Purpose::Functional)
        );
    }

    #[test]
    fn no_field_rule_keeps_a_field_or_an_identifier_without_its_purpose() {
        let rules = Rules::default();
        for field in Field::ALL {
            for needs in [PurposeSet::EMPTY, PurposeSet::of(&[Purpose::Necessary])] {
                assert!(
                    rules.clone().require_for_field(field, needs).is_err(),
                    "{field:?} {needs:?}"
                );
            }
        }
        let measurement = PurposeSet::of(&[Purpose::Measurement]);
        assert!(
            rules
                .clone()
                .require_for_field(Field::UserId, measurement)
                .is_err(),
            "a user id without personalization"
        );
        let both = measurement.with(Purpose::Personalization);
        assert!(rules.clone().require_for_field(Field::UserId, both).is_ok());
        assert!(
            rules
                .clone()
                .require_for_field(Field::VisitorId, PurposeSet::of(&[Purpose::Functional]))
                .is_err()
        );
        assert!(
            rules
                .require_for_field(Field::Title, PurposeSet::of(&[Purpose::Functional]))
                .is_ok(),
            "other fields may move to another purpose"
        );
    }
}
