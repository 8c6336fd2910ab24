//! The event types of the wire contract (`collector/README.md`, the envelope), shared by every
//! service. Which purposes each needs is the collector's decision
//! (`collector/src/consent/rules.rs`).

use super::flags::Flag;

/// The event types the tag sends (`collector/README.md`, the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A page (or SPA route) was shown.
    PageView,
    /// A link or button was clicked.
    Click,
    /// A form was submitted (never its field values).
    FormSubmit,
    /// Scroll depth reached.
    Scroll,
    /// Active, visible time on the page.
    Engagement,
    /// A link to another site was followed.
    OutboundLink,
    /// A file download was started.
    Download,
    /// `fiducia('track', …)`.
    Custom,
    /// `fiducia('identify', userId)`.
    Identify,
    /// A consent change: becomes a consent record, never an analytics event.
    Consent,
}

impl Flag for EventType {
    const ALL: &'static [Self] = &Self::ALL;
    fn index(self) -> u8 {
        self as u8
    }
}

impl EventType {
    /// Every event type, in a stable order.
    pub const ALL: [Self; 10] = [
        Self::PageView,
        Self::Click,
        Self::FormSubmit,
        Self::Scroll,
        Self::Engagement,
        Self::OutboundLink,
        Self::Download,
        Self::Custom,
        Self::Identify,
        Self::Consent,
    ];

    /// The wire name (`page_view`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PageView => "page_view",
            Self::Click => "click",
            Self::FormSubmit => "form_submit",
            Self::Scroll => "scroll",
            Self::Engagement => "engagement",
            Self::OutboundLink => "outbound_link",
            Self::Download => "download",
            Self::Custom => "custom",
            Self::Identify => "identify",
            Self::Consent => "consent",
        }
    }

    /// The event type with this wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}
