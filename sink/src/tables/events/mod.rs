//! `events`: one row per enriched event, from `fiducia.enriched.v1`. An
//! [`EnrichedEvent`] becomes one [`EventRow`] (`from_enriched.rs`), or an
//! [`InvalidEvent`] that the handler dead-letters; `ddl.rs` holds the
//! statements that made the table as it is.

mod ddl;
mod from_enriched;

use fiducia_proto::headers::schema;
use fiducia_proto::v1::EnrichedEvent;
use uuid::Uuid;

pub use self::ddl::{
    CODECS, CREATE, ENRICHMENT_COLUMNS, ITEM_COLUMN, LOW_CARDINALITY, RETENTION_COLUMN,
};
pub use self::from_enriched::InvalidEvent;
use super::TableRow;
use crate::handler::Rejection;

/// The table's name, in the configured database.
pub const NAME: &str = "events";

/// One row of `events`. Field order is free: the insert names its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The tag-minted UUIDv7; the dedup key.
    pub event_id: Uuid,
    /// The site the event belongs to.
    pub site_id: String,
    /// `page_view`, `click`, ...
    pub event_type: String,
    /// Client time corrected for clock skew, whole seconds (`DateTime`).
    pub event_time: u32,
    /// The millisecond part of the event time, 0-999 (`UInt16`).
    pub event_ms: u16,
    /// When the collector received the event, whole seconds (`DateTime`).
    pub received_at: u32,
    /// Per-page sequence number from the tag.
    pub seq: u32,
    /// Anonymous visitor id; empty when no purpose allows one.
    pub visitor_id: String,
    /// Session id; empty when no purpose allows one.
    pub session_id: String,
    /// First-party user id after `identify`; empty when not allowed.
    pub user_id: String,
    /// Scrubbed page URL.
    pub url: String,
    /// The URL's path.
    pub path: String,
    /// Scrubbed referrer URL.
    pub referrer: String,
    /// `direct`, `internal`, `search`, `social`, `email`, `other`.
    pub referrer_class: String,
    /// Campaign parameters.
    pub utm_source: String,
    /// Campaign parameters.
    pub utm_medium: String,
    /// Campaign parameters.
    pub utm_campaign: String,
    /// Campaign parameters.
    pub utm_term: String,
    /// Campaign parameters.
    pub utm_content: String,
    /// ISO country code from the truncated IP.
    pub country: String,
    /// Region, when consent allows that precision.
    pub region: String,
    /// City, when consent allows that precision.
    pub city: String,
    /// Browser family.
    pub browser: String,
    /// Browser version.
    pub browser_version: String,
    /// Operating system.
    pub os: String,
    /// `desktop`, `mobile`, `tablet`, `bot`, `other`.
    pub device: String,
    /// 1 when bot detection flagged the event (`UInt8`).
    pub is_bot: u8,
    /// Why it was flagged.
    pub bot_reasons: Vec<String>,
    /// Consent for measurement at the time of the event (`UInt8`).
    pub consent_measurement: u8,
    /// Consent for personalization (`UInt8`).
    pub consent_personalization: u8,
    /// Consent for functional storage (`UInt8`).
    pub consent_functional: u8,
    /// The consent gate's decision: `keep` or `strip`.
    pub decision: String,
    /// The event's properties as a JSON object.
    pub props: String,
    /// Page title.
    pub title: String,
    /// Page language.
    pub lang: String,
    /// 0-100: how strongly the bot signals point at automation (`UInt8`).
    pub bot_score: u8,
    /// Search engine of the referrer, when it is one.
    pub search_engine: String,
    /// Social network of the referrer, when it is one.
    pub social_network: String,
    /// Campaign parameters.
    pub utm_id: String,
    /// Campaign parameters.
    pub utm_source_platform: String,
    /// Campaign parameters.
    pub utm_creative_format: String,
    /// Campaign parameters.
    pub utm_marketing_tactic: String,
    /// Names of the ad click ids the page URL carried; never their values.
    pub click_ids: Vec<String>,
    /// Position of the event in its session, from 1; 0 without a session.
    pub session_seq: u32,
    /// Path of the session's first event.
    pub landing_page: String,
    /// Scrubbed referrer of the session's first event.
    pub entry_referrer: String,
    /// Class of that referrer.
    pub entry_referrer_class: String,
    /// Categories of the page from the site's path rules.
    pub page_categories: Vec<String>,
    /// The retention of identified data the subject chose, in months, as
    /// the event carried it; 0 = the site's default (`UInt8`).
    pub retention_months: u8,
    /// The item the event is about (the site's item rules or the `item_id`
    /// property); empty when none.
    pub item_id: String,
}

crate::columns!(EventRow {
    event_id,
    site_id,
    event_type,
    event_time as "DateTime('UTC')",
    event_ms,
    received_at as "DateTime('UTC')",
    seq,
    visitor_id,
    session_id,
    user_id,
    url,
    path,
    referrer,
    referrer_class,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    country,
    region,
    city,
    browser,
    browser_version,
    os,
    device,
    is_bot,
    bot_reasons,
    consent_measurement,
    consent_personalization,
    consent_functional,
    decision,
    props,
    title,
    lang,
    bot_score,
    search_engine,
    social_network,
    utm_id,
    utm_source_platform,
    utm_creative_format,
    utm_marketing_tactic,
    click_ids,
    session_seq,
    landing_page,
    entry_referrer,
    entry_referrer_class,
    page_categories,
    retention_months,
    item_id,
});

impl TableRow for EventRow {
    type Message = EnrichedEvent;
    const TABLE: &'static str = NAME;
    const SCHEMA: &'static str = schema::ENRICHED_EVENT;
    const DENIED: bool = true;

    fn from_message(message: EnrichedEvent) -> Result<Self, Rejection> {
        Self::try_from(message).map_err(Rejection::invalid)
    }

    fn subject(&self) -> (&str, &str, &str) {
        (&self.site_id, &self.visitor_id, &self.user_id)
    }

    fn received_at_ms(message: &EnrichedEvent) -> Option<i64> {
        Some(message.received_at_ms)
    }
}
