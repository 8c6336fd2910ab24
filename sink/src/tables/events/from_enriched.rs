//! How an [`EnrichedEvent`] becomes an [`EventRow`]: every field into its
//! column, times split into `DateTime` seconds and milliseconds, and the
//! events that cannot be a row refused with why ([`InvalidEvent`]).

use fiducia_proto::v1::{Decision, EnrichedEvent};
use uuid::Uuid;

use super::EventRow;
use crate::tables::{TimeOutOfRange, split_ms};

/// An event that decodes but breaks a rule of the contract or of the table;
/// it is dead-lettered with reason `INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// `event_id` must be exactly 16 bytes (a UUID).
    #[error("event_id has {0} bytes, want 16")]
    EventIdLength(usize),
    /// The nil UUID would collapse unrelated events into one row.
    #[error("event_id is the nil UUID")]
    NilEventId,
    /// A time `DateTime` cannot hold (before 1970 or after 2106).
    #[error("{field} = {ms} ms is outside the DateTime range")]
    TimeOutOfRange {
        /// The offending field.
        field: &'static str,
        /// Its value, Unix milliseconds.
        ms: i64,
    },
    /// Only kept and stripped events are ever published.
    #[error("decision {0} is neither keep nor strip")]
    UnknownDecision(i32),
}

impl From<TimeOutOfRange> for InvalidEvent {
    fn from(TimeOutOfRange { field, ms }: TimeOutOfRange) -> Self {
        Self::TimeOutOfRange { field, ms }
    }
}

impl TryFrom<EnrichedEvent> for EventRow {
    type Error = InvalidEvent;

    fn try_from(event: EnrichedEvent) -> Result<Self, Self::Error> {
        let id: [u8; 16] = event
            .event_id
            .as_slice()
            .try_into()
            .map_err(|_| InvalidEvent::EventIdLength(event.event_id.len()))?;
        let event_id = Uuid::from_bytes(id);
        if event_id.is_nil() {
            return Err(InvalidEvent::NilEventId);
        }
        let decision = match Decision::try_from(event.decision) {
            Ok(Decision::Keep) => "keep",
            Ok(Decision::Strip) => "strip",
            Ok(Decision::Unspecified) | Err(_) => {
                return Err(InvalidEvent::UnknownDecision(event.decision));
            }
        };
        let (event_time, event_ms) = split_ms("event_time_ms", event.event_time_ms)?;
        let (received_at, _) = split_ms("received_at_ms", event.received_at_ms)?;
        Ok(Self {
            event_id,
            site_id: event.site_id,
            event_type: event.event_type,
            event_time,
            event_ms,
            received_at,
            seq: event.seq,
            visitor_id: event.visitor_id,
            session_id: event.session_id,
            user_id: event.user_id,
            url: event.url,
            path: event.path,
            referrer: event.referrer,
            referrer_class: event.referrer_class,
            utm_source: event.utm_source,
            utm_medium: event.utm_medium,
            utm_campaign: event.utm_campaign,
            utm_term: event.utm_term,
            utm_content: event.utm_content,
            country: event.country,
            region: event.region,
            city: event.city,
            browser: event.browser,
            browser_version: event.browser_version,
            os: event.os,
            device: event.device,
            is_bot: event.is_bot.into(),
            bot_reasons: event.bot_reasons,
            consent_measurement: event.consent_measurement.into(),
            consent_personalization: event.consent_personalization.into(),
            consent_functional: event.consent_functional.into(),
            decision: decision.to_owned(),
            props: event.props_json,
            title: event.title,
            lang: event.lang,
            bot_score: u8::try_from(event.bot_score.min(100)).unwrap_or(100),
            search_engine: event.search_engine,
            social_network: event.social_network,
            utm_id: event.utm_id,
            utm_source_platform: event.utm_source_platform,
            utm_creative_format: event.utm_creative_format,
            utm_marketing_tactic: event.utm_marketing_tactic,
            click_ids: event.click_ids,
            session_seq: event.session_seq,
            landing_page: event.landing_page,
            entry_referrer: event.entry_referrer,
            entry_referrer_class: event.entry_referrer_class,
            page_categories: event.page_categories,
            retention_months: u8::try_from(event.retention_months).unwrap_or(u8::MAX),
            item_id: event.item_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    const ID: &str = "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70";

    /// Yesterday's UTC midnight: the whole second the events' times start at.
    fn day() -> i64 {
        midnight_days_ago_ms(1)
    }

    fn event() -> EnrichedEvent {
        EnrichedEvent {
            event_id: Uuid::parse_str(ID).unwrap().as_bytes().to_vec(),
            site_id: "demo".into(),
            event_type: "page_view".into(),
            event_time_ms: day() + 123,
            received_at_ms: day() + 456,
            item_id: "sku-42".into(),
            seq: 3,
            visitor_id: "v1".into(),
            session_id: "s1".into(),
            user_id: "u1".into(),
            url: "https://shop.example/p/42".into(),
            path: "/p/42".into(),
            referrer: "https://www.google.com/".into(),
            referrer_class: "search".into(),
            utm_source: "news".into(),
            utm_medium: "email".into(),
            utm_campaign: "spring".into(),
            utm_term: "shoes".into(),
            utm_content: "top".into(),
            country: "IT".into(),
            region: "RM".into(),
            city: "Rome".into(),
            browser: "Firefox".into(),
            browser_version: "140.0".into(),
            os: "Linux".into(),
            device: "desktop".into(),
            is_bot: true,
            bot_reasons: vec!["headless".into()],
            consent_measurement: true,
            consent_personalization: false,
            consent_functional: true,
            decision: Decision::Keep.into(),
            props_json: r#"{"a":1}"#.into(),
            title: "Red shoes".into(),
            lang: "it-IT".into(),
            bot_score: 90,
            search_engine: "google".into(),
            social_network: "linkedin".into(),
            utm_id: "7".into(),
            utm_source_platform: "sa360".into(),
            utm_creative_format: "banner".into(),
            utm_marketing_tactic: "prospecting".into(),
            click_ids: vec!["gclid".into()],
            session_seq: 4,
            landing_page: "/".into(),
            entry_referrer: "https://www.google.com/".into(),
            entry_referrer_class: "search".into(),
            page_categories: vec!["product".into()],
            retention_months: 6,
        }
    }

    #[test]
    fn every_field_lands_in_its_column() {
        let row = EventRow::try_from(event()).unwrap();
        assert_eq!(row.event_id.to_string(), ID);
        let second = u32::try_from(day() / 1000).unwrap();
        assert_eq!((row.event_time, row.event_ms), (second, 123));
        assert_eq!(row.received_at, second);
        assert_eq!(row.seq, 3);
        assert_eq!(
            (row.site_id.as_str(), row.event_type.as_str()),
            ("demo", "page_view")
        );
        assert_eq!(
            (
                row.visitor_id.as_str(),
                row.session_id.as_str(),
                row.user_id.as_str()
            ),
            ("v1", "s1", "u1")
        );
        assert_eq!(
            (row.url.as_str(), row.path.as_str()),
            ("https://shop.example/p/42", "/p/42")
        );
        assert_eq!(
            (row.referrer.as_str(), row.referrer_class.as_str()),
            ("https://www.google.com/", "search")
        );
        assert_eq!(
            [
                &row.utm_source,
                &row.utm_medium,
                &row.utm_campaign,
                &row.utm_term,
                &row.utm_content
            ],
            ["news", "email", "spring", "shoes", "top"]
        );
        assert_eq!([&row.country, &row.region, &row.city], ["IT", "RM", "Rome"]);
        assert_eq!(
            [&row.browser, &row.browser_version, &row.os, &row.device],
            ["Firefox", "140.0", "Linux", "desktop"]
        );
        assert_eq!(
            (row.is_bot, row.bot_reasons.clone()),
            (1, vec!["headless".to_owned()])
        );
        assert_eq!(
            (
                row.consent_measurement,
                row.consent_personalization,
                row.consent_functional
            ),
            (1, 0, 1)
        );
        assert_eq!(row.decision, "keep");
        assert_eq!(
            (row.props.as_str(), row.title.as_str(), row.lang.as_str()),
            (r#"{"a":1}"#, "Red shoes", "it-IT")
        );
        assert_eq!(row.bot_score, 90);
        assert_eq!(
            [&row.search_engine, &row.social_network],
            ["google", "linkedin"]
        );
        assert_eq!(
            [
                &row.utm_id,
                &row.utm_source_platform,
                &row.utm_creative_format,
                &row.utm_marketing_tactic
            ],
            ["7", "sa360", "banner", "prospecting"]
        );
        assert_eq!(row.click_ids, ["gclid"]);
        assert_eq!(row.session_seq, 4);
        assert_eq!(
            [
                &row.landing_page,
                &row.entry_referrer,
                &row.entry_referrer_class
            ],
            ["/", "https://www.google.com/", "search"]
        );
        assert_eq!(row.page_categories, ["product"]);
        assert_eq!(row.item_id, "sku-42");
    }

    #[test]
    fn a_bot_score_beyond_100_is_stored_as_100() {
        let mut event = event();
        event.bot_score = 1_000;
        assert_eq!(EventRow::try_from(event).unwrap().bot_score, 100);
    }

    #[test]
    fn a_stripped_event_keeps_its_decision_and_empty_identifiers() {
        let mut stripped = event();
        stripped.decision = Decision::Strip.into();
        stripped.visitor_id.clear();
        stripped.user_id.clear();
        let row = EventRow::try_from(stripped).unwrap();
        assert_eq!(row.decision, "strip");
        assert!(row.visitor_id.is_empty() && row.user_id.is_empty());
    }

    #[test]
    fn times_datetime_cannot_hold_are_invalid() {
        for ms in [-1, i64::MIN, (i64::from(u32::MAX) + 1) * 1000, i64::MAX] {
            let mut bad = event();
            bad.event_time_ms = ms;
            assert_eq!(
                EventRow::try_from(bad),
                Err(InvalidEvent::TimeOutOfRange {
                    field: "event_time_ms",
                    ms
                })
            );
        }
        let mut bad = event();
        bad.received_at_ms = -5;
        assert!(matches!(
            EventRow::try_from(bad),
            Err(InvalidEvent::TimeOutOfRange {
                field: "received_at_ms",
                ..
            })
        ));
    }

    #[test]
    fn an_event_id_that_is_not_16_bytes_is_invalid() {
        for len in [0, 15, 17, 36] {
            let mut bad = event();
            bad.event_id = vec![1; len];
            assert_eq!(
                EventRow::try_from(bad),
                Err(InvalidEvent::EventIdLength(len))
            );
        }
    }

    #[test]
    fn the_nil_event_id_is_invalid() {
        let mut bad = event();
        bad.event_id = vec![0; 16];
        assert_eq!(EventRow::try_from(bad), Err(InvalidEvent::NilEventId));
    }

    #[test]
    fn an_unspecified_or_unknown_decision_is_invalid() {
        for decision in [0, 3, -1] {
            let mut bad = event();
            bad.decision = decision;
            assert_eq!(
                EventRow::try_from(bad),
                Err(InvalidEvent::UnknownDecision(decision))
            );
        }
    }
}
