//! A site's `personalization` section (SPEC section 8), read by the
//! collector (segments, for `GET /v1/profile`) and the sink (the item
//! lists it computes), so its type lives here, once:
//!
//! ```toml
//! [sites.demo.personalization]
//! min_visitors = 10        # k: a pair of items or a popular item needs this many distinct visitors
//! window_days = 90         # how far back item lists look
//!
//! [[sites.demo.personalization.segments]]
//! name = "returning shoe buyer"  # shown to the visitor
//! interest = "shoes"             # among the visitor's top three interests...
//! min_score = 2.0                # ...with at least this score now
//! min_sessions = 2
//! ```
//!
//! A segment applies when every condition it states holds; a segment with
//! no condition is refused (it would say nothing about anyone).

use schemars::JsonSchema;
use serde::Deserialize;

/// The k of item lists when the site sets none.
pub const DEFAULT_MIN_VISITORS: u32 = 10;
/// Below this k a list could point at one or two people.
pub const LEAST_MIN_VISITORS: u32 = 2;
/// How far back item lists look when the site sets nothing, in days.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;
/// How many of the visitor's strongest interests a segment's `interest`
/// is looked for in.
pub const SEGMENT_TOP_INTERESTS: usize = 3;
/// Longest segment name.
const MAX_NAME_CHARS: usize = 64;

/// The section as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalizationSection {
    /// k: the fewest distinct visitors behind a related pair or a popular
    /// item (default 10, at least 2).
    pub min_visitors: Option<u32>,
    /// How far back item lists look, in days (default 90, 1-400).
    pub window_days: Option<u32>,
    /// The site's segments, in the order they are answered.
    #[serde(default)]
    pub segments: Vec<SegmentRule>,
}

/// One segment as written: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    /// The segment's name, shown to the visitor.
    pub name: String,
    /// A page category among the visitor's strongest three interests.
    pub interest: Option<String>,
    /// That interest's score now is at least this (needs `interest`).
    pub min_score: Option<f64>,
    /// At least this many events.
    pub min_events: Option<u32>,
    /// At least this many sessions (2: a returning visitor).
    pub min_sessions: Option<u32>,
    /// Active within this many days.
    pub max_recency_days: Option<u32>,
    /// The latest campaign (`utm_campaign`) is this.
    pub campaign: Option<String>,
    /// The latest device class is this (`desktop`, `mobile`, `tablet`).
    pub device: Option<String>,
}

/// A checked section.
#[derive(Debug, Clone, PartialEq)]
pub struct Personalization {
    /// k of item lists.
    pub min_visitors: u32,
    /// How far back item lists look, in days.
    pub window_days: u32,
    /// The segments, in order.
    pub segments: Vec<SegmentRule>,
}

impl Default for Personalization {
    fn default() -> Self {
        Self {
            min_visitors: DEFAULT_MIN_VISITORS,
            window_days: DEFAULT_WINDOW_DAYS,
            segments: Vec::new(),
        }
    }
}

impl Personalization {
    /// Checks `section`.
    ///
    /// # Errors
    /// `key: reason` (for [`super::SitesFile::invalid`]) on a k below 2, a
    /// window outside 1-400 days, or a segment without a name, with a
    /// duplicate name, without a condition, or with `min_score` but no
    /// `interest`.
    pub fn check(section: PersonalizationSection) -> Result<Self, String> {
        let min_visitors = section.min_visitors.unwrap_or(DEFAULT_MIN_VISITORS);
        if min_visitors < LEAST_MIN_VISITORS {
            return Err(format!(
                "min_visitors: at least {LEAST_MIN_VISITORS}, so no list points at one person"
            ));
        }
        let window_days = section.window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
        if !(1..=400).contains(&window_days) {
            return Err("window_days: 1-400".into());
        }
        for (i, rule) in section.segments.iter().enumerate() {
            let name = rule.name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(format!(
                    "segments: segment {i}: name must be 1-{MAX_NAME_CHARS} characters"
                ));
            }
            if section.segments[..i].iter().any(|r| r.name.trim() == name) {
                return Err(format!("segments: segment {i}: the name {name:?} is taken"));
            }
            let conditions = [
                rule.interest.is_some(),
                rule.min_events.is_some(),
                rule.min_sessions.is_some(),
                rule.max_recency_days.is_some(),
                rule.campaign.is_some(),
                rule.device.is_some(),
            ];
            if !conditions.contains(&true) {
                return Err(format!("segments: segment {name:?}: states no condition"));
            }
            if rule.min_score.is_some() && rule.interest.is_none() {
                return Err(format!(
                    "segments: segment {name:?}: min_score needs an interest"
                ));
            }
            if rule.min_score.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(format!(
                    "segments: segment {name:?}: min_score must be a number ≥ 0"
                ));
            }
        }
        Ok(Self {
            min_visitors,
            window_days,
            segments: section.segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(name: &str) -> SegmentRule {
        SegmentRule {
            name: name.into(),
            min_sessions: Some(2),
            ..SegmentRule::default()
        }
    }

    #[test]
    fn an_empty_section_is_the_defaults() {
        let checked = Personalization::check(PersonalizationSection::default()).unwrap();
        assert_eq!(checked, Personalization::default());
        assert_eq!(checked.min_visitors, 10);
    }

    #[test]
    fn unusable_sections_are_refused_naming_the_key() {
        let bad = |section: PersonalizationSection, key: &str| {
            let error = Personalization::check(section).unwrap_err();
            assert!(error.starts_with(key), "{error}");
        };
        bad(
            PersonalizationSection {
                min_visitors: Some(1),
                ..Default::default()
            },
            "min_visitors",
        );
        bad(
            PersonalizationSection {
                window_days: Some(0),
                ..Default::default()
            },
            "window_days",
        );
        let with = |segments| PersonalizationSection {
            segments,
            ..Default::default()
        };
        bad(with(vec![segment(" ")]), "segments");
        bad(with(vec![segment("a"), segment("a")]), "segments");
        bad(
            with(vec![SegmentRule {
                name: "x".into(),
                ..Default::default()
            }]),
            "segments",
        );
        bad(
            with(vec![SegmentRule {
                min_score: Some(1.0),
                ..segment("x")
            }]),
            "segments",
        );
        assert!(Personalization::check(with(vec![segment("a"), segment("b")])).is_ok());
    }
}
