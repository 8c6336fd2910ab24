//! The periods of the sink's `retention` section that other services must
//! agree with, read leniently (the sink checks the section's keys): the
//! collector offers visitors only retention choices shorter than
//! `identified_events_months`; the enricher forgets a profile after
//! `profiles_months` without activity, as the warehouse forgets its signals.

use serde::Deserialize;

/// Both periods' default (SPEC section 7: 13 months).
pub const DEFAULT_MONTHS: u32 = 13;

/// The keys of `[sites.<id>.retention]` read outside the sink.
#[derive(Debug, Default, Deserialize)]
pub struct RetentionView {
    identified_events_months: Option<u32>,
    profiles_months: Option<u32>,
}

impl RetentionView {
    /// Months identified events are kept (at least 1).
    #[must_use]
    pub fn identified_events_months(&self) -> u32 {
        self.identified_events_months
            .unwrap_or(DEFAULT_MONTHS)
            .max(1)
    }

    /// Months a profile is kept after the visitor's last activity (at least 1).
    #[must_use]
    pub fn profiles_months(&self) -> u32 {
        self.profiles_months.unwrap_or(DEFAULT_MONTHS).max(1)
    }
}
