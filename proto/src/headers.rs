//! Kafka header names carried by every message, so a consumer can route or
//! skip a message without decoding its payload.

/// The site the message belongs to.
pub const SITE: &str = "fiducia-site";
/// The event type (`page_view`, `click`, ...) for event topics.
pub const EVENT_TYPE: &str = "fiducia-event-type";
/// The fully qualified protobuf message name, e.g. `fiducia.v1.RawEvent`.
pub const SCHEMA: &str = "fiducia-schema";

/// Schema names written in the [`SCHEMA`] header.
pub mod schema {
    /// `fiducia.raw.v1` payloads.
    pub const RAW_EVENT: &str = "fiducia.v1.RawEvent";
    /// `fiducia.enriched.v1` payloads.
    pub const ENRICHED_EVENT: &str = "fiducia.v1.EnrichedEvent";
    /// `fiducia.consent.v1` payloads.
    pub const CONSENT_RECORD: &str = "fiducia.v1.ConsentRecord";
    /// `fiducia.deadletter.v1` payloads.
    pub const DEAD_LETTER: &str = "fiducia.v1.DeadLetter";
    /// `fiducia.privacy.v1` payloads.
    pub const PRIVACY_REQUEST: &str = "fiducia.v1.PrivacyRequest";
    /// `fiducia.sessions.v1` payloads.
    pub const SESSION_STATE: &str = "fiducia.v1.SessionState";
    /// `fiducia.profiles.v1` payloads.
    pub const PROFILE: &str = "fiducia.v1.Profile";
    /// `fiducia.items.v1` payloads.
    pub const ITEM_LIST: &str = "fiducia.v1.ItemList";
}
