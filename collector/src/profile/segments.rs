//! The site's segments a profile is in, evaluated at request time from the
//! `personalization` section (`fiducia_runtime::service::sites::personalization`):
//! a segment applies when every condition it states holds, and says why in
//! the visitor's words.

use fiducia_proto::profile::recency_days;
use fiducia_proto::v1::Profile;
use fiducia_runtime::service::sites::personalization::{SEGMENT_TOP_INTERESTS, SegmentRule};

/// A segment the visitor is in, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentHit {
    /// The segment's name, as the site wrote it.
    pub name: String,
    /// Why, in plain words.
    pub reason: String,
}

/// The segments of `rules` that `profile` is in at `now_ms`, in the site's
/// order. `interests`: the profile's interests now, strongest first
/// ([`fiducia_proto::profile::interests_at`]).
#[must_use]
pub fn segments(
    rules: &[SegmentRule],
    profile: &Profile,
    interests: &[(&str, f64)],
    now_ms: i64,
) -> Vec<SegmentHit> {
    rules
        .iter()
        .filter_map(|rule| {
            reasons(rule, profile, interests, now_ms).map(|reasons| SegmentHit {
                name: rule.name.trim().to_owned(),
                reason: reasons.join(", and "),
            })
        })
        .collect()
}

/// Why `rule` holds, one phrase per condition, or `None` when one fails.
fn reasons(
    rule: &SegmentRule,
    profile: &Profile,
    interests: &[(&str, f64)],
    now_ms: i64,
) -> Option<Vec<String>> {
    let mut why = Vec::new();
    if let Some(interest) = &rule.interest {
        let score = interests
            .iter()
            .take(SEGMENT_TOP_INTERESTS)
            .find(|(category, _)| category == interest)?
            .1;
        if rule.min_score.is_some_and(|min| score < min) {
            return None;
        }
        why.push(format!("{interest} is among your top interests"));
    }
    if let Some(min) = rule.min_events {
        if profile.events < min {
            return None;
        }
        why.push(format!("you viewed {min} or more pages"));
    }
    if let Some(min) = rule.min_sessions {
        if profile.sessions < min {
            return None;
        }
        why.push(format!("you came back {min} or more times"));
    }
    if let Some(max) = rule.max_recency_days {
        if recency_days(profile, now_ms) > max {
            return None;
        }
        why.push(format!("you visited in the last {max} days"));
    }
    if let Some(campaign) = &rule.campaign {
        if profile.last_campaign != *campaign {
            return None;
        }
        why.push(format!("you came through {campaign}"));
    }
    if let Some(device) = &rule.device {
        if profile.device != *device {
            return None;
        }
        why.push(format!("you browse on {device}"));
    }
    (!why.is_empty()).then_some(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiducia_proto::time::DAY_MS;

    const NOW: i64 = 1_796_601_600_000;

    fn rule(name: &str) -> SegmentRule {
        SegmentRule {
            name: name.into(),
            ..SegmentRule::default()
        }
    }

    fn profile() -> Profile {
        Profile {
            events: 8,
            sessions: 2,
            last_seen_ms: NOW - 3 * DAY_MS,
            last_campaign: "winter".into(),
            device: "mobile".into(),
            ..Profile::default()
        }
    }

    #[test]
    fn a_segment_applies_when_every_condition_holds_and_says_why() {
        let interests = [("hats", 4.0), ("shoes", 2.5), ("bags", 1.0), ("socks", 0.5)];
        let rules = [
            SegmentRule {
                interest: Some("shoes".into()),
                min_score: Some(2.0),
                min_sessions: Some(2),
                ..rule("returning shoe buyer")
            },
            SegmentRule {
                interest: Some("shoes".into()),
                min_score: Some(3.0),
                ..rule("shoe fan")
            },
            SegmentRule {
                interest: Some("socks".into()),
                ..rule("socks, fourth interest")
            },
            SegmentRule {
                max_recency_days: Some(2),
                ..rule("seen lately")
            },
            SegmentRule {
                campaign: Some("winter".into()),
                device: Some("mobile".into()),
                min_events: Some(8),
                max_recency_days: Some(3),
                ..rule("winter on phones")
            },
            SegmentRule {
                device: Some("desktop".into()),
                ..rule("desk")
            },
        ];
        let hits = segments(&rules, &profile(), &interests, NOW);
        let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["returning shoe buyer", "winter on phones"]);
        assert_eq!(
            hits[0].reason,
            "shoes is among your top interests, and you came back 2 or more times"
        );
        assert_eq!(
            hits[1].reason,
            "you viewed 8 or more pages, and you visited in the last 3 days, and you came \
             through winter, and you browse on mobile"
        );
    }

    #[test]
    fn a_rule_without_conditions_matches_nobody() {
        assert!(segments(&[rule("empty")], &profile(), &[], NOW).is_empty());
    }
}
