//! The two answers of `GET /v1/profile` (`collector/README.md`, Profiles):
//! their JSON shape, what each item and interest is explained with, and the
//! sentence that says why the answer is what it is. The tag codes against
//! these field names: add, never rename.

use fiducia_proto::profile::interests_at;
use fiducia_proto::v1::Profile;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::consent::{Basis, Contextual};
use super::items::{self, Lists, Pick};
use super::page::Context;
use super::segments::{SegmentHit, segments};
use crate::sites::Site;

/// Interests an answer lists.
pub const TOP_INTERESTS: usize = 5;

/// A personal answer.
#[derive(Debug, Serialize)]
pub struct Personal<'a> {
    /// The site id.
    pub site: &'a str,
    /// Always `personal`.
    pub kind: &'static str,
    /// The consent that allows it.
    pub consent: ConsentBasis,
    /// Segments the visitor is in.
    pub segments: Vec<SegmentHit>,
    /// Strongest interests first.
    pub interests: Vec<InterestOut>,
    /// Recommended items.
    pub items: Vec<Pick>,
    /// Why this answer is personal, and where to change it.
    pub explanation: String,
}

/// The consent behind a personal answer.
#[derive(Debug, Serialize)]
pub struct ConsentBasis {
    /// Always `personalization`.
    pub purpose: &'static str,
    /// When the ledger's latest record (the one that allows it now) was
    /// received, RFC 3339 UTC.
    pub granted_at: String,
    /// That record's id (UUID).
    pub record_id: String,
    /// Since when personalization stands granted without a break.
    pub granted_since: String,
}

/// One interest.
#[derive(Debug, Serialize)]
pub struct InterestOut {
    /// The page category.
    pub category: String,
    /// Its score now (the analysts' `profiles` view's number).
    pub score: f64,
    /// Why, in plain words.
    pub reason: String,
}

/// A contextual answer.
#[derive(Debug, Serialize)]
pub struct ContextualAnswer<'a> {
    /// The site id.
    pub site: &'a str,
    /// Always `contextual`.
    pub kind: &'static str,
    /// What the answer was chosen from.
    pub context: &'a Context,
    /// Recommended items.
    pub items: Vec<Pick>,
    /// Why nothing personal was used.
    pub explanation: &'static str,
    /// Why the answer is not personal (`no_token`, `not_granted`, …).
    pub basis: &'static str,
}

/// The explanation of every contextual answer.
pub const CONTEXTUAL_EXPLANATION: &str = "Chosen from this page only: nothing about you was used.";

/// The personal answer for `profile`.
#[must_use]
pub fn personal<'a>(
    site_id: &'a str,
    site: &Site,
    basis: &Basis,
    profile: &Profile,
    lists: &impl Lists,
    limit: usize,
    now_ms: i64,
) -> Personal<'a> {
    let ranked = interests_at(profile, now_ms);
    let zone = &site.page.time_zone;
    let interests = ranked
        .iter()
        .take(TOP_INTERESTS)
        .map(|&(category, score)| InterestOut {
            category: category.to_owned(),
            score,
            reason: interest_reason(profile, category, zone),
        })
        .collect();
    Personal {
        site: site_id,
        kind: "personal",
        consent: ConsentBasis {
            purpose: "personalization",
            granted_at: rfc3339(basis.record_at_ms),
            record_id: uuid::Uuid::from_bytes(basis.record_id).to_string(),
            granted_since: rfc3339(basis.granted_since_ms),
        },
        segments: segments(&site.personalization.segments, profile, &ranked, now_ms),
        items: items::personal(
            lists,
            &profile.recent_items,
            ranked.first().map(|i| i.0),
            limit,
        ),
        interests,
        explanation: format!(
            "Personalized because you allowed personalization on {}. Change it in the privacy center.",
            long_date(basis.granted_since_ms, zone)
        ),
    }
}

/// The contextual answer on a page with `context`.
#[must_use]
pub fn contextual<'a>(
    site_id: &'a str,
    context: &'a Context,
    lists: &impl Lists,
    limit: usize,
    why: Contextual,
) -> ContextualAnswer<'a> {
    ContextualAnswer {
        site: site_id,
        kind: "contextual",
        context,
        items: items::contextual(lists, &context.category, &context.item, limit),
        explanation: CONTEXTUAL_EXPLANATION,
        basis: why.as_str(),
    }
}

fn interest_reason(profile: &Profile, category: &str, zone: &TimeZone) -> String {
    let last = profile
        .interests
        .iter()
        .find(|i| i.category == category)
        .map_or(0, |i| i.last_seen_ms);
    format!(
        "you viewed pages about {category}, most recently on {}",
        long_date(last, zone)
    )
}

/// `2026-12-07T14:20:00.000Z`.
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// `7 December 2026`, in the site's time zone.
#[must_use]
pub fn long_date(ms: i64, zone: &TimeZone) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            let day = zone.to_datetime(t);
            let month = MONTHS[usize::try_from(day.month() - 1).unwrap_or(0)];
            format!("{} {month} {}", day.day(), day.year())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::{Interest, ItemCount};
    use fiducia_runtime::service::sites::personalization::SegmentRule;

    use super::*;

    /// No related lists; one popular item everywhere.
    struct PopularOnly(Vec<ItemCount>);
    impl Lists for PopularOnly {
        fn related(&self, _: &str) -> Option<&[ItemCount]> {
            None
        }
        fn popular(&self, _: &str) -> Option<&[ItemCount]> {
            Some(&self.0)
        }
    }

    // 2026-12-07 14:20 UTC.
    const GRANTED: i64 = 1_796_653_200_000;

    #[test]
    fn a_personal_answer_says_which_consent_allows_it_and_explains_each_part() {
        let mut site = Site::default();
        site.personalization.segments = vec![SegmentRule {
            name: "shoe lover".into(),
            interest: Some("shoes".into()),
            ..SegmentRule::default()
        }];
        let profile = Profile {
            interests: vec![Interest {
                category: "shoes".into(),
                score: 3.5,
                last_seen_ms: GRANTED,
            }],
            scores_at_ms: GRANTED,
            events: 4,
            ..Profile::default()
        };
        let basis = Basis {
            record_id: [7; 16],
            record_at_ms: GRANTED,
            granted_since_ms: GRANTED,
        };
        let lists = PopularOnly(vec![ItemCount {
            item: "runner-7".into(),
            visitors: 31,
        }]);
        let answer = personal("demo", &site, &basis, &profile, &lists, 6, GRANTED);
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["kind"], "personal");
        assert_eq!(json["consent"]["purpose"], "personalization");
        assert_eq!(json["consent"]["granted_at"], "2026-12-07T14:20:00.000Z");
        assert_eq!(
            json["consent"]["record_id"],
            "07070707-0707-0707-0707-070707070707"
        );
        assert_eq!(json["segments"][0]["name"], "shoe lover");
        assert_eq!(
            json["segments"][0]["reason"],
            "shoes is among your top interests"
        );
        assert_eq!(json["interests"][0]["score"], 3.5);
        assert_eq!(
            json["interests"][0]["reason"],
            "you viewed pages about shoes, most recently on 7 December 2026"
        );
        assert_eq!(json["items"][0]["reason"], "in your interest: shoes");
        assert_eq!(
            json["explanation"],
            "Personalized because you allowed personalization on 7 December 2026. \
             Change it in the privacy center."
        );
    }

    #[test]
    fn dates_are_said_in_the_sites_time_zone() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        // 2026-12-07 20:00 UTC is already the 8th in Tokyo.
        let evening = GRANTED + 5 * 3_600_000 + 40 * 60_000;
        assert_eq!(long_date(evening, &TimeZone::UTC), "7 December 2026");
        assert_eq!(long_date(evening, &tokyo), "8 December 2026");
    }
}
