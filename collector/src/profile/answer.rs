//! The two answers of `GET /v1/profile` (`collector/README.md`, Profiles):
//! their JSON shape, what each item and interest is explained with, and the
//! sentence that says why the answer is what it is. The tag codes against
//! these field names: add, never rename.

use std::fmt;

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

/// A personal answer, borrowed from the profile and item lists it was
/// built from; its sentences are written while it is serialised.
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
    pub interests: Vec<InterestOut<'a>>,
    /// Recommended items.
    pub items: Vec<Pick<'a>>,
    /// Why this answer is personal, and where to change it.
    pub explanation: Explanation<'a>,
}

/// The consent behind a personal answer.
#[derive(Debug, Serialize)]
pub struct ConsentBasis {
    /// Always `personalization`.
    pub purpose: &'static str,
    /// When the ledger's latest record (the one that allows it now) was
    /// received, RFC 3339 UTC.
    pub granted_at: Rfc3339,
    /// That record's id (UUID).
    pub record_id: uuid::Uuid,
    /// Since when personalization stands granted without a break.
    pub granted_since: Rfc3339,
}

/// One interest.
#[derive(Debug, Serialize)]
pub struct InterestOut<'a> {
    /// The page category.
    pub category: &'a str,
    /// Its score now (the analysts' `profiles` view's number).
    pub score: f64,
    /// Why, in plain words.
    pub reason: InterestReason<'a>,
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
    pub items: Vec<Pick<'a>>,
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
    site: &'a Site,
    basis: &Basis,
    profile: &'a Profile,
    lists: &'a impl Lists,
    limit: usize,
    now_ms: i64,
) -> Personal<'a> {
    let ranked = interests_at(profile, now_ms);
    let zone = &site.page.time_zone;
    let interests = ranked
        .iter()
        .take(TOP_INTERESTS)
        .map(|&(category, score)| InterestOut {
            category,
            score,
            reason: InterestReason {
                category,
                last_seen: LongDate {
                    ms: last_seen(profile, category),
                    zone,
                },
            },
        })
        .collect();
    Personal {
        site: site_id,
        kind: "personal",
        consent: ConsentBasis {
            purpose: "personalization",
            granted_at: Rfc3339(basis.record_at_ms),
            record_id: uuid::Uuid::from_bytes(basis.record_id),
            granted_since: Rfc3339(basis.granted_since_ms),
        },
        segments: segments(&site.personalization.segments, profile, &ranked, now_ms),
        items: items::personal(
            lists,
            &profile.recent_items,
            ranked.first().map(|i| i.0),
            limit,
        ),
        interests,
        explanation: Explanation {
            granted_since: LongDate {
                ms: basis.granted_since_ms,
                zone,
            },
        },
    }
}

/// The contextual answer on a page with `context`.
#[must_use]
pub fn contextual<'a>(
    site_id: &'a str,
    context: &'a Context,
    lists: &'a impl Lists,
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

/// When the visitor last viewed a page of `category` (0: never said).
fn last_seen(profile: &Profile, category: &str) -> i64 {
    profile
        .interests
        .iter()
        .find(|i| i.category == category)
        .map_or(0, |i| i.last_seen_ms)
}

/// Implements `Serialize` as the type's `Display`: the sentence is written
/// straight into the answer, with no string of its own.
macro_rules! serialize_as_text {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(Explanation<'_>, InterestReason<'_>, Rfc3339, LongDate<'_>);

/// Why a personal answer is personal.
#[derive(Debug)]
pub struct Explanation<'a> {
    granted_since: LongDate<'a>,
}

impl fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Personalized because you allowed personalization on {}. Change it in the privacy center.",
            self.granted_since
        )
    }
}

/// Why an interest is listed.
#[derive(Debug)]
pub struct InterestReason<'a> {
    category: &'a str,
    last_seen: LongDate<'a>,
}

impl fmt::Display for InterestReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "you viewed pages about {}, most recently on {}",
            self.category, self.last_seen
        )
    }
}

/// Unix milliseconds as `2026-12-07T14:20:00.000Z` (nothing when out of
/// range).
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub i64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(time) = jiff::Timestamp::from_millisecond(self.0) else {
            return Ok(());
        };
        let t = TimeZone::UTC.to_datetime(time);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.subsec_nanosecond() / 1_000_000
        )
    }
}

/// Unix milliseconds as `7 December 2026` in the site's time zone
/// (nothing when out of range).
#[derive(Debug, Clone, Copy)]
pub struct LongDate<'a> {
    /// The time.
    pub ms: i64,
    /// The site's time zone.
    pub zone: &'a TimeZone,
}

impl fmt::Display for LongDate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        let Ok(time) = jiff::Timestamp::from_millisecond(self.ms) else {
            return Ok(());
        };
        let day = self.zone.to_datetime(time);
        let month = MONTHS[usize::try_from(day.month() - 1).unwrap_or(0)];
        write!(f, "{} {month} {}", day.day(), day.year())
    }
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

    proptest::proptest! {
        /// Written by hand for speed, so checked against jiff's own
        /// formatter over the whole range of years.
        #[test]
        fn rfc3339_is_jiffs_format(ms in -62_135_596_800_000_i64..253_402_300_799_999) {
            let jiff = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            proptest::prop_assert_eq!(Rfc3339(ms).to_string(), jiff);
        }
    }

    #[test]
    fn dates_are_said_in_the_sites_time_zone() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        // 2026-12-07 20:00 UTC is already the 8th in Tokyo.
        let evening = GRANTED + 5 * 3_600_000 + 40 * 60_000;
        let utc = TimeZone::UTC;
        let said = |zone| LongDate { ms: evening, zone }.to_string();
        assert_eq!(said(&utc), "7 December 2026");
        assert_eq!(said(&tokyo), "8 December 2026");
    }
}
