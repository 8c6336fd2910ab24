//! Session rules, pure: given a visitor's state (if any) and an event, does
//! the event continue the session, start a new one, or stand alone?
//!
//! A new session starts after 30 minutes of inactivity, when the event falls
//! on a later day than the session (midnight in the site's time zone), or
//! when the event brings a campaign (utm source, medium or campaign) other
//! than the session's. A session's id is its first event's id, so the same
//! events give the same sessions wherever and however often they are
//! enriched. Events that arrive out of order join the session they fall in,
//! if it is the current one; an event from before it (a late one from a
//! queue) gets a session of its own and leaves the current one alone.
//!
//! State is kept per visitor only while it can matter: it is ignored once
//! the visitor has been quiet for [`RETAIN_MS`] of collector time.

use fiducia_proto::v1::SessionState;

/// Inactivity that ends a session.
pub const IDLE_MS: i64 = 30 * 60 * 1000;
/// Collector time after a visitor's last event for which its state is kept.
pub const RETAIN_MS: i64 = 60 * 60 * 1000;

/// What the session rules need of one event.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    /// The event's id (16 bytes, validated).
    pub event_id: &'a [u8],
    /// Skew-corrected event time, Unix ms.
    pub event_time_ms: i64,
    /// Collector receive time, Unix ms.
    pub received_at_ms: i64,
    /// Day of the event time in the site's time zone.
    pub local_day: i64,
    /// Normalised page path.
    pub path: &'a str,
    /// Scrubbed referrer and its class.
    pub referrer: &'a str,
    /// See [`super::referrer::ReferrerClass::as_str`].
    pub referrer_class: &'static str,
    /// utm source, medium and campaign of the page URL.
    pub campaign: [&'a str; 3],
    /// Position in the raw topic.
    pub raw_partition: i32,
    /// Offset in the raw topic.
    pub raw_offset: i64,
}

/// Why a session started: the label of `fiducia_enricher_sessions_started_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The visitor's first event (or first after its state expired).
    First,
    /// Thirty minutes without events.
    Idle,
    /// The event falls on a later day.
    Midnight,
    /// The event brings another campaign.
    Campaign,
    /// A late event from before the current session: a session of its own.
    Late,
}

impl Start {
    /// The metric label.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Idle => "idle",
            Self::Midnight => "midnight",
            Self::Campaign => "campaign",
            Self::Late => "late",
        }
    }
}

/// What to do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Already applied before a restart (its output was acknowledged): skip it.
    AlreadyApplied,
    /// Another copy of an event of the visitor's latest ones (the tag sent
    /// it again): skip it.
    Duplicate,
    /// Part of the current session.
    Continue,
    /// Starts a new session that replaces the current one.
    Start(Start),
    /// A session of its own ([`Start::Late`]); the state stays as it is.
    Stray,
}

/// Decides for `visit` given the visitor's state.
#[must_use]
pub fn decide(state: Option<&SessionState>, visit: &Visit<'_>) -> Decision {
    let Some(s) = state else {
        return Decision::Start(Start::First);
    };
    if s.raw_partition == visit.raw_partition && visit.raw_offset <= s.raw_offset {
        return Decision::AlreadyApplied;
    }
    if s.recent_events.contains(&event_tail(visit.event_id)) {
        return Decision::Duplicate;
    }
    if visit.received_at_ms.saturating_sub(s.updated_at_ms) > RETAIN_MS {
        return Decision::Start(Start::First);
    }
    if visit.event_time_ms < s.last_event_ms {
        let joins = visit.local_day == s.local_day
            && s.started_at_ms.saturating_sub(visit.event_time_ms) <= IDLE_MS;
        return if joins {
            Decision::Continue
        } else {
            Decision::Stray
        };
    }
    if visit.event_time_ms.saturating_sub(s.last_event_ms) > IDLE_MS {
        return Decision::Start(Start::Idle);
    }
    if visit.local_day != s.local_day {
        return Decision::Start(Start::Midnight);
    }
    let [source, medium, campaign] = visit.campaign;
    let has_campaign = !(source.is_empty() && medium.is_empty() && campaign.is_empty());
    if has_campaign && [source, medium, campaign] != [&s.utm_source, &s.utm_medium, &s.utm_campaign]
    {
        return Decision::Start(Start::Campaign);
    }
    Decision::Continue
}

/// A new session starting with `visit`.
#[must_use]
pub fn begin(visit: &Visit<'_>) -> SessionState {
    let [source, medium, campaign] = visit.campaign;
    SessionState {
        session_id: uuid::Uuid::from_slice(visit.event_id)
            .map_or_else(|_| String::new(), |id| id.hyphenated().to_string()),
        started_at_ms: visit.event_time_ms,
        last_event_ms: visit.event_time_ms,
        events: 1,
        landing_page: visit.path.to_owned(),
        entry_referrer: visit.referrer.to_owned(),
        entry_referrer_class: visit.referrer_class.to_owned(),
        utm_source: source.to_owned(),
        utm_medium: medium.to_owned(),
        utm_campaign: campaign.to_owned(),
        local_day: visit.local_day,
        raw_partition: visit.raw_partition,
        raw_offset: visit.raw_offset,
        updated_at_ms: visit.received_at_ms,
        rate_window_start_ms: 0,
        rate_window_events: 0,
        rate_window_page_views: 0,
        recent_events: vec![event_tail(visit.event_id)],
    }
}

/// Events remembered per visitor to recognise copies.
pub const RECENT_EVENTS: usize = 32;

/// The part of an event id a state remembers: its last 8 bytes (the random
/// ones of a UUIDv7).
#[must_use]
pub fn event_tail(event_id: &[u8]) -> u64 {
    let mut tail = [0u8; 8];
    let n = event_id.len().min(8);
    tail[8 - n..].copy_from_slice(&event_id[event_id.len() - n..]);
    u64::from_le_bytes(tail)
}

fn remember(state: &mut SessionState, event_id: &[u8]) {
    if state.recent_events.len() >= RECENT_EVENTS {
        state.recent_events.remove(0);
    }
    state.recent_events.push(event_tail(event_id));
}

/// Applies `decision` (from [`decide`]) to the state; the state then
/// describes the event's session, except for [`Decision::Stray`], where the
/// caller uses [`begin`] for the event alone.
pub fn apply(state: &mut SessionState, decision: Decision, visit: &Visit<'_>) {
    match decision {
        Decision::AlreadyApplied | Decision::Duplicate => return,
        Decision::Continue => {
            state.events = state.events.saturating_add(1);
            state.last_event_ms = state.last_event_ms.max(visit.event_time_ms);
        }
        Decision::Start(_) => {
            // The pace of a visitor outlives its sessions.
            let fresh = SessionState {
                rate_window_start_ms: state.rate_window_start_ms,
                rate_window_events: state.rate_window_events,
                rate_window_page_views: state.rate_window_page_views,
                recent_events: std::mem::take(&mut state.recent_events),
                ..begin(visit)
            };
            *state = fresh;
        }
        Decision::Stray => {}
    }
    remember(state, visit.event_id);
    state.raw_partition = visit.raw_partition;
    state.raw_offset = state.raw_offset.max(visit.raw_offset);
    state.updated_at_ms = state.updated_at_ms.max(visit.received_at_ms);
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    const MIN: i64 = 60 * 1000;
    /// 16:00 UTC yesterday: recent, and hours from any midnight.
    fn t0() -> i64 {
        midnight_days_ago_ms(1) + 16 * 60 * MIN
    }

    /// A visit with an id of its own per offset (a copy of an event is a
    /// visit with the same id at another offset).
    fn visit(offset: i64, minutes: i64) -> Visit<'static> {
        let mut id = [7u8; 16];
        id[8..].copy_from_slice(&offset.to_le_bytes());
        Visit {
            event_id: Box::leak(Box::new(id)),
            event_time_ms: t0() + minutes * MIN,
            received_at_ms: t0() + minutes * MIN,
            local_day: (t0() + minutes * MIN) / (24 * 60 * MIN),
            path: "/p",
            referrer: "",
            referrer_class: "direct",
            campaign: ["", "", ""],
            raw_partition: 0,
            raw_offset: offset,
        }
    }

    fn state_after(visits: &[Visit<'_>]) -> (Option<SessionState>, Vec<Decision>) {
        let mut state: Option<SessionState> = None;
        let mut decisions = Vec::new();
        for v in visits {
            let decision = decide(state.as_ref(), v);
            match (&mut state, decision) {
                (None, _) => state = Some(begin(v)),
                (Some(s), d) => apply(s, d, v),
            }
            decisions.push(decision);
        }
        (state, decisions)
    }

    #[test]
    fn session_boundaries() {
        use Decision::{Continue, Start as S, Stray};
        let campaign = |mut v: Visit<'static>, c: [&'static str; 3]| {
            v.campaign = c;
            v
        };
        let day = |mut v: Visit<'static>, d: i64| {
            v.local_day = d;
            v
        };
        let base = visit(0, 0).local_day;
        for (name, visits, want) in [
            (
                "29 minutes apart: one session",
                vec![visit(0, 0), visit(1, 29), visit(2, 58)],
                vec![S(Start::First), Continue, Continue],
            ),
            (
                "31 minutes apart: a new session",
                vec![visit(0, 0), visit(1, 31)],
                vec![S(Start::First), S(Start::Idle)],
            ),
            (
                "exactly 30 minutes: still the same session",
                vec![visit(0, 0), visit(1, 30)],
                vec![S(Start::First), Continue],
            ),
            (
                "a later day: a new session",
                vec![day(visit(0, 0), base), day(visit(1, 5), base + 1)],
                vec![S(Start::First), S(Start::Midnight)],
            ),
            (
                "a new campaign: a new session; the same one again: none",
                vec![
                    visit(0, 0),
                    campaign(visit(1, 1), ["news", "email", "spring"]),
                    campaign(visit(2, 2), ["news", "email", "spring"]),
                    visit(3, 3),
                    campaign(visit(4, 4), ["google", "cpc", "spring"]),
                ],
                vec![
                    S(Start::First),
                    S(Start::Campaign),
                    Continue,
                    Continue,
                    S(Start::Campaign),
                ],
            ),
            (
                "out of order inside the session: joins it",
                vec![visit(0, 10), visit(1, 20), visit(2, 15), visit(3, 5)],
                vec![S(Start::First), Continue, Continue, Continue],
            ),
            (
                "from before the session: stands alone",
                vec![visit(0, 100), visit(1, 110), visit(2, 20), visit(3, 111)],
                vec![S(Start::First), Continue, Stray, Continue],
            ),
            (
                "from the previous day: stands alone",
                vec![day(visit(0, 10), base + 1), day(visit(1, 9), base)],
                vec![S(Start::First), Stray],
            ),
        ] {
            let (_, decisions) = state_after(&visits);
            assert_eq!(decisions, want, "{name}");
        }
    }

    #[test]
    fn sequence_landing_page_and_entry_referrer_follow_the_session() {
        let mut first = visit(0, 0);
        first.path = "/landing";
        first.referrer = "https://www.google.com/";
        first.referrer_class = "search";
        let mut second = visit(1, 1);
        second.path = "/next";
        second.referrer = "https://shop.example/landing";
        second.referrer_class = "internal";
        let (state, _) = state_after(&[first, second]);
        let state = state.unwrap();
        assert_eq!(state.events, 2);
        assert_eq!(state.landing_page, "/landing");
        assert_eq!(
            (
                state.entry_referrer.as_str(),
                state.entry_referrer_class.as_str()
            ),
            ("https://www.google.com/", "search")
        );
        // The first event's id (offset 0).
        assert_eq!(state.session_id, "07070707-0707-0707-0000-000000000000");
    }

    #[test]
    fn a_copy_of_a_recent_event_is_a_duplicate_and_changes_nothing() {
        let (state, _) = state_after(&[visit(5, 0), visit(6, 1)]);
        let mut state = state.unwrap();
        let copy = Visit {
            raw_offset: 9,
            ..visit(5, 0)
        };
        assert_eq!(decide(Some(&state), &copy), Decision::Duplicate);
        let before = state.clone();
        apply(&mut state, Decision::Duplicate, &copy);
        assert_eq!(state, before);
        // Only the latest RECENT_EVENTS are remembered.
        let many: Vec<Visit<'_>> = (10..10 + i64::try_from(RECENT_EVENTS).unwrap() + 1)
            .map(|n| visit(n, 2))
            .collect();
        let (state, _) = state_after(&many);
        let state = state.unwrap();
        assert_eq!(state.recent_events.len(), RECENT_EVENTS);
        let oldest = Visit {
            raw_offset: 99,
            ..visit(10, 2)
        };
        assert_eq!(decide(Some(&state), &oldest), Decision::Continue);
        let newest = Visit {
            raw_offset: 99,
            ..visit(10 + i64::try_from(RECENT_EVENTS).unwrap(), 2)
        };
        assert_eq!(decide(Some(&state), &newest), Decision::Duplicate);
    }

    #[test]
    fn events_already_applied_are_recognised() {
        let (state, _) = state_after(&[visit(5, 0), visit(6, 1)]);
        let state = state.unwrap();
        for (offset, want) in [(5, Decision::AlreadyApplied), (6, Decision::AlreadyApplied)] {
            assert_eq!(decide(Some(&state), &visit(offset, 1)), want);
        }
        assert_eq!(decide(Some(&state), &visit(7, 2)), Decision::Continue);
        let mut other_partition = visit(3, 2);
        other_partition.raw_partition = 1;
        assert_eq!(decide(Some(&state), &other_partition), Decision::Continue);
    }

    #[test]
    fn state_of_a_quiet_visitor_is_ignored() {
        let (state, _) = state_after(&[visit(0, 0)]);
        let mut late = visit(1, 5);
        late.received_at_ms = t0() + RETAIN_MS + MIN;
        assert_eq!(decide(state.as_ref(), &late), Decision::Start(Start::First));
    }
}
