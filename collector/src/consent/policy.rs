//! One site's consent policy, from the `[sites.<id>.consent]` table of the
//! sites file, validated at start-up:
//!
//! ```toml
//! [sites.demo.consent]
//! anonymous_measurement = false  # STRIP mode (consent-exempt audience measurement)
//! max_age_days = 395             # 13 months: older grants are denied
//! honor_dnt = false              # DNT: 1 objects to personalization like GPC
//! [sites.demo.consent.notices]   # notice version -> SHA-256 of the notice text
//! "2026-01" = "9f2c…"
//! [sites.demo.consent.events]    # purposes an event type needs
//! custom = ["measurement", "functional"]
//! [sites.demo.consent.fields]    # purposes a field needs
//! user_id = ["personalization"]
//! [sites.demo.consent.tcf_custom_purposes]  # publisher custom purpose -> ours
//! 1 = "personalization"
//! ```
//!
//! `anonymous_props = ["plan"]` (beside `anonymous_measurement`) lists the
//! property keys an anonymous (STRIP) event may keep; it keeps no other.
//!
//! When `notices` lists versions, a grant from the tag that names another
//! version grants nothing: consent is informed only by a notice we know.

use std::collections::{BTreeMap, BTreeSet};

use crate::consent::{Field, Rules};
use fiducia_proto::consent::{EventType, Purpose, PurposeSet};
use serde::Deserialize;

/// Default maximum consent age: 13 months.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 395;
const DAY_MS: i64 = 86_400_000;

/// The `consent` table as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// STRIP mode: events without consent are kept without identifiers, for
    /// jurisdictions where exempt audience measurement is lawful.
    #[serde(default)]
    anonymous_measurement: bool,
    /// The only property keys a STRIP event keeps (1-128 characters each).
    #[serde(default)]
    anonymous_props: BTreeSet<String>,
    /// Grants older than this many days grant nothing (1-395, the default).
    max_age_days: Option<u32>,
    /// Whether `DNT: 1` objects to personalization.
    #[serde(default)]
    honor_dnt: bool,
    /// Notice version (1-64 characters) = SHA-256 (hex) of the notice text.
    #[serde(default)]
    notices: BTreeMap<String, String>,
    /// Purposes an event type needs, by event type.
    #[serde(default)]
    events: BTreeMap<String, Vec<String>>,
    /// Purposes a field needs, by field.
    #[serde(default)]
    fields: BTreeMap<String, Vec<String>>,
    /// Publisher custom purpose id (1-64) = one of our purposes.
    #[serde(default)]
    tcf_custom_purposes: BTreeMap<String, String>,
}

/// A site's validated consent policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Purposes per event type and field, and whether STRIP is allowed.
    pub rules: Rules,
    /// Grants older than this are denied, in milliseconds.
    pub max_age_ms: i64,
    /// Whether `DNT: 1` objects to personalization.
    pub honor_dnt: bool,
    /// Known notice versions and the SHA-256 (hex) of each notice text.
    pub notices: BTreeMap<String, String>,
    /// Publisher custom purposes (1-based) that grant one of ours.
    pub tcf_custom: Vec<(u8, Purpose)>,
    /// Property keys an anonymous (STRIP) event keeps; it drops all others.
    pub anonymous_props: BTreeSet<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            max_age_ms: i64::from(DEFAULT_MAX_AGE_DAYS) * DAY_MS,
            honor_dnt: false,
            notices: BTreeMap::new(),
            tcf_custom: Vec::new(),
            anonymous_props: BTreeSet::new(),
        }
    }
}

impl Policy {
    /// Validates the table as written.
    ///
    /// # Errors
    /// A message naming the offending key.
    pub fn from_file(file: PolicyFile) -> Result<Self, String> {
        let mut rules = Rules::default();
        rules.anonymous_measurement = file.anonymous_measurement;
        for (name, purposes) in &file.events {
            let kind = EventType::parse(name).ok_or_else(|| {
                format!(
                    "consent.events.{name}: unknown event type; one of {:?}",
                    EventType::ALL.map(EventType::as_str)
                )
            })?;
            let needs = purpose_set(purposes).map_err(|e| format!("consent.events.{name}: {e}"))?;
            rules = rules
                .require_for_event(kind, needs)
                .map_err(|e| format!("consent.events.{name}: {e}"))?;
        }
        for (name, purposes) in &file.fields {
            let field = Field::parse(name).ok_or_else(|| {
                format!(
                    "consent.fields.{name}: unknown field; one of {:?}",
                    Field::ALL.map(Field::as_str)
                )
            })?;
            let needs = purpose_set(purposes).map_err(|e| format!("consent.fields.{name}: {e}"))?;
            rules = rules
                .require_for_field(field, needs)
                .map_err(|e| format!("consent.fields.{name}: {e}"))?;
        }
        let max_age_days = file.max_age_days.unwrap_or(DEFAULT_MAX_AGE_DAYS);
        if !(1..=DEFAULT_MAX_AGE_DAYS).contains(&max_age_days) {
            return Err(format!(
                "consent.max_age_days: {max_age_days}; must be 1-{DEFAULT_MAX_AGE_DAYS} (13 months at most)"
            ));
        }
        for (version, hash) in &file.notices {
            if version.is_empty() || version.len() > 64 {
                return Err(format!(
                    "consent.notices: version {version:?} must be 1-64 characters"
                ));
            }
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "consent.notices.{version}: must be the SHA-256 of the notice text, 64 hex digits"
                ));
            }
        }
        if let Some(key) = file
            .anonymous_props
            .iter()
            .find(|k| k.is_empty() || k.len() > 128)
        {
            return Err(format!(
                "consent.anonymous_props: {key:?} must be 1-128 characters"
            ));
        }
        let mut tcf_custom = Vec::new();
        for (id, purpose) in &file.tcf_custom_purposes {
            let key = format!("consent.tcf_custom_purposes.{id}");
            let id = id
                .parse::<u8>()
                .ok()
                .filter(|id| (1..=64).contains(id))
                .ok_or_else(|| format!("{key}: a custom purpose id is 1-64"))?;
            let purpose = consentable(purpose).map_err(|e| format!("{key}: {e}"))?;
            tcf_custom.push((id, purpose));
        }
        Ok(Self {
            rules,
            max_age_ms: i64::from(max_age_days) * DAY_MS,
            honor_dnt: file.honor_dnt,
            notices: file
                .notices
                .into_iter()
                .map(|(v, h)| (v, h.to_ascii_lowercase()))
                .collect(),
            tcf_custom,
            anonymous_props: file.anonymous_props,
        })
    }

    /// The notice hash to record for `version`, and whether a grant naming
    /// it may count: any version when the site lists none.
    #[must_use]
    pub fn notice(&self, version: &str) -> (Option<&str>, bool) {
        let hash = self.notices.get(version).map(String::as_str);
        (hash, self.notices.is_empty() || hash.is_some())
    }
}

fn consentable(name: &str) -> Result<Purpose, String> {
    Purpose::parse(name)
        .filter(|&p| p != Purpose::Necessary)
        .ok_or_else(|| {
            format!(
                "unknown purpose {name:?}; one of {:?}",
                Purpose::CONSENTABLE.map(Purpose::as_str)
            )
        })
}

fn purpose_set(names: &[String]) -> Result<PurposeSet, String> {
    names
        .iter()
        .map(|name| {
            Purpose::parse(name).ok_or_else(|| {
                format!(
                    "unknown purpose {name:?}; one of {:?}",
                    Purpose::ALL.map(Purpose::as_str)
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::from_file(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn an_empty_table_is_the_product_default() {
        assert_eq!(parse("").unwrap(), Policy::default());
        assert_eq!(Policy::default().max_age_ms, 395 * DAY_MS);
    }

    #[test]
    fn a_full_table_loads() {
        let policy = parse(
            r#"
            anonymous_measurement = true
            anonymous_props = ["plan"]
            max_age_days = 180
            honor_dnt = true
            [notices]
            "2026-01" = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
            [events]
            custom = ["measurement", "functional"]
            [fields]
            user_id = ["measurement", "personalization"]
            [tcf_custom_purposes]
            2 = "personalization"
            "#,
        )
        .unwrap();
        assert!(policy.rules.anonymous_measurement);
        assert!(policy.anonymous_props.contains("plan"));
        assert_eq!(policy.max_age_ms, 180 * DAY_MS);
        assert!(policy.honor_dnt);
        assert!(
            policy
                .rules
                .needs(EventType::Custom)
                .contains(Purpose::Functional)
        );
        assert!(
            policy
                .rules
                .field_needs(Field::UserId)
                .contains(Purpose::Measurement)
        );
        assert_eq!(policy.tcf_custom, vec![(2, Purpose::Personalization)]);
        let (hash, known) = policy.notice("2026-01");
        assert!(known);
        assert!(hash.unwrap().starts_with("9f86d0"));
        assert_eq!(policy.notice("2025-01"), (None, false));
        assert_eq!(Policy::default().notice("anything"), (None, true));
    }

    #[test]
    fn bad_tables_are_refused_naming_the_key() {
        for (text, expected) in [
            ("max_age_days = 0", "consent.max_age_days"),
            ("max_age_days = 500", "13 months"),
            (
                "[events]\npurchase = [\"measurement\"]",
                "consent.events.purchase",
            ),
            ("[events]\npage_view = [\"necessary\"]", "at least one of"),
            ("[events]\npage_view = [\"advertising\"]", "unknown purpose"),
            ("[events]\nconsent = [\"measurement\"]", "always accepted"),
            (
                "[fields]\nemail = [\"measurement\"]",
                "consent.fields.email",
            ),
            ("[fields]\nuser_id = []", "at least one of"),
            ("[fields]\nvisitor_id = [\"necessary\"]", "at least one of"),
            ("[fields]\nuser_id = [\"measurement\"]", "identifier"),
            ("[fields]\nprops = []", "consent.fields.props"),
            ("[notices]\n\"v1\" = \"abc\"", "64 hex digits"),
            ("[tcf_custom_purposes]\n0 = \"measurement\"", "1-64"),
            (
                "[tcf_custom_purposes]\n3 = \"necessary\"",
                "unknown purpose",
            ),
            ("strip = true", "unknown field"),
            ("anonymous_props = [\"\"]", "consent.anonymous_props"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?} → {error}");
        }
    }
}
