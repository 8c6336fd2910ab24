//! Bot and crawler detection: signals from the user agent (known crawlers,
//! headless browsers, automation tools, HTTP libraries), from the page
//! context (screen geometry no real display has) and from the visitor's
//! pace (more events than a person can make). Each signal has a weight; the
//! score is their sum capped at 100, and a site's threshold turns it into
//! `is_bot`. Bots are flagged, not dropped, unless the site asks for it, so
//! analysts choose whether to count them.

use fiducia_proto::v1::{PageContext, SessionState};

/// A reason to believe the client is not a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A crawler or link previewer that says so in its user agent.
    KnownCrawler,
    /// A headless browser (HeadlessChrome, PhantomJS, ...).
    HeadlessBrowser,
    /// A browser driven by an automation tool (Selenium, Puppeteer, ...).
    AutomationTool,
    /// A plain HTTP library (curl, python-requests, ...).
    HttpLibrary,
    /// No user agent at all.
    EmptyUserAgent,
    /// More events in a short window than a person can make.
    ImpossibleRate,
    /// A page view that reports no screen.
    NoScreen,
    /// A viewport larger than the screen it is on.
    ViewportExceedsScreen,
}

impl Signal {
    /// The value stored in `bot_reasons`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KnownCrawler => "known_crawler",
            Self::HeadlessBrowser => "headless_browser",
            Self::AutomationTool => "automation_tool",
            Self::HttpLibrary => "http_library",
            Self::EmptyUserAgent => "empty_user_agent",
            Self::ImpossibleRate => "impossible_rate",
            Self::NoScreen => "no_screen",
            Self::ViewportExceedsScreen => "viewport_exceeds_screen",
        }
    }

    /// How much the signal adds to the score (0-100).
    #[must_use]
    pub const fn weight(self) -> u32 {
        match self {
            Self::KnownCrawler => 100,
            Self::HeadlessBrowser | Self::AutomationTool | Self::HttpLibrary => 90,
            Self::ImpossibleRate => 80,
            Self::EmptyUserAgent => 70,
            Self::ViewportExceedsScreen => 30,
            Self::NoScreen => 20,
        }
    }

    /// Whether the signal alone says "automated": such clients get device `bot`.
    #[must_use]
    pub const fn is_automation(self) -> bool {
        self.weight() >= 70
    }
}

/// The score of a set of signals: the sum of their weights, at most 100.
#[must_use]
pub fn score(signals: &[Signal]) -> u32 {
    signals.iter().map(|s| s.weight()).sum::<u32>().min(100)
}

/// Slack for viewports measured in CSS pixels against screens in device
/// pixels, zoom and scrollbars.
const VIEWPORT_SLACK_PX: u32 = 64;

/// Signals from the page context, appended to `out`.
pub fn context_signals(context: &PageContext, page_view: bool, out: &mut Vec<Signal>) {
    let no_screen = context.screen_width == 0 || context.screen_height == 0;
    if page_view && no_screen {
        out.push(Signal::NoScreen);
    }
    if !no_screen
        && (context.viewport_width > context.screen_width + VIEWPORT_SLACK_PX
            || context.viewport_height > context.screen_height + VIEWPORT_SLACK_PX)
    {
        out.push(Signal::ViewportExceedsScreen);
    }
}

/// Length of the rate window, in event time.
pub const RATE_WINDOW_MS: i64 = 10_000;
/// Events per window a person cannot exceed (clicks, scrolls and all).
pub const MAX_EVENTS_PER_WINDOW: u32 = 50;
/// Page views per window a person cannot exceed.
pub const MAX_PAGE_VIEWS_PER_WINDOW: u32 = 10;

/// Counts an event in the visitor's rate window (kept in its session state)
/// and says whether the pace is beyond a person's. Events older than the
/// window's start count in the current window.
pub fn impossible_rate(state: &mut SessionState, event_time_ms: i64, page_view: bool) -> bool {
    if event_time_ms >= state.rate_window_start_ms.saturating_add(RATE_WINDOW_MS) {
        state.rate_window_start_ms = event_time_ms;
        state.rate_window_events = 0;
        state.rate_window_page_views = 0;
    }
    state.rate_window_events = state.rate_window_events.saturating_add(1);
    if page_view {
        state.rate_window_page_views = state.rate_window_page_views.saturating_add(1);
    }
    state.rate_window_events > MAX_EVENTS_PER_WINDOW
        || state.rate_window_page_views > MAX_PAGE_VIEWS_PER_WINDOW
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    #[test]
    fn scores_add_up_and_are_capped() {
        for (signals, want) in [
            (vec![], 0),
            (vec![Signal::NoScreen], 20),
            (vec![Signal::NoScreen, Signal::ViewportExceedsScreen], 50),
            (vec![Signal::KnownCrawler], 100),
            (vec![Signal::HeadlessBrowser, Signal::ImpossibleRate], 100),
            (vec![Signal::EmptyUserAgent], 70),
        ] {
            assert_eq!(score(&signals), want, "{signals:?}");
        }
    }

    #[test]
    fn impossible_geometry_is_a_signal() {
        let context = |screen: (u32, u32), viewport: (u32, u32)| PageContext {
            screen_width: screen.0,
            screen_height: screen.1,
            viewport_width: viewport.0,
            viewport_height: viewport.1,
            ..PageContext::default()
        };
        for (ctx, page_view, want) in [
            (context((1920, 1080), (1280, 800)), true, vec![]),
            (context((1920, 1080), (1960, 1080)), true, vec![]),
            (
                context((800, 600), (1920, 1080)),
                true,
                vec![Signal::ViewportExceedsScreen],
            ),
            (context((0, 0), (0, 0)), true, vec![Signal::NoScreen]),
            (context((0, 0), (0, 0)), false, vec![]),
        ] {
            let mut out = Vec::new();
            context_signals(&ctx, page_view, &mut out);
            assert_eq!(out, want, "{ctx:?}");
        }
    }

    #[test]
    fn a_pace_beyond_a_person_is_flagged_and_the_window_moves_on() {
        let mut state = SessionState::default();
        let start = midnight_days_ago_ms(1);
        // Ten page views in ten seconds: a fast reader, not a bot.
        for i in 0..10 {
            assert!(!impossible_rate(&mut state, start + i * 900, true), "{i}");
        }
        // The eleventh inside the window is too many.
        assert!(impossible_rate(&mut state, start + 9_500, true));
        // A new window starts clean.
        assert!(!impossible_rate(&mut state, start + 20_000, true));
        // Fifty clicks in a window are fine, the fifty-first is not.
        let later = start + 60_000;
        for i in 0..50 {
            assert!(!impossible_rate(&mut state, later + i, false), "{i}");
        }
        assert!(impossible_rate(&mut state, later + 60, false));
        // An event older than the window counts in it.
        assert!(impossible_rate(&mut state, later - 5_000, false));
    }
}
