//! User agent → browser, version, OS, device class and bot hints, with
//! woothee (a maintained, table-driven parser).

/// Device classes stored in `device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Desktop or laptop browser.
    Desktop,
    /// Phone or tablet.
    Mobile,
    /// Crawler or automation.
    Bot,
    /// Anything else (TV, console, unknown).
    Other,
}

impl Device {
    /// The stored value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }
}

/// What a user agent says about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Browser family, e.g. `Chrome`; empty when unknown.
    pub browser: String,
    /// Browser version; empty when unknown.
    pub version: String,
    /// Operating system, e.g. `Linux`; empty when unknown.
    pub os: String,
    /// Device class.
    pub device: Device,
    /// Why the client looks automated; empty for a human browser.
    pub bot_reasons: Vec<&'static str>,
}

/// Substrings of automation that woothee does not flag as crawlers.
const AUTOMATION_HINTS: &[(&str, &str)] = &[
    ("HeadlessChrome", "headless_browser"),
    ("PhantomJS", "headless_browser"),
    ("Playwright", "automation_tool"),
    ("Puppeteer", "automation_tool"),
    ("python-requests", "http_library"),
    ("curl/", "http_library"),
    ("Wget/", "http_library"),
];

/// Parses a user agent string.
#[must_use]
pub fn parse(user_agent: &str) -> Agent {
    let mut bot_reasons = Vec::new();
    if user_agent.trim().is_empty() {
        bot_reasons.push("empty_user_agent");
    }
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let known = |s: &str| {
        if s == woothee::woothee::VALUE_UNKNOWN {
            String::new()
        } else {
            s.to_owned()
        }
    };
    let (browser, version, os, category) = parsed.as_ref().map_or_else(
        || (String::new(), String::new(), String::new(), ""),
        |p| (known(p.name), known(p.version), known(p.os), p.category),
    );
    if category == "crawler" {
        bot_reasons.push("known_crawler");
    }
    for (needle, reason) in AUTOMATION_HINTS {
        if user_agent.contains(needle) && !bot_reasons.contains(reason) {
            bot_reasons.push(reason);
        }
    }
    let device = if !bot_reasons.is_empty() {
        Device::Bot
    } else {
        match category {
            "pc" => Device::Desktop,
            "smartphone" | "mobilephone" => Device::Mobile,
            _ => Device::Other,
        }
    };
    Agent {
        browser,
        version,
        os,
        device,
        bot_reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_are_recognised() {
        for (ua, browser, os, device) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome",
                "Windows 10",
                Device::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "Safari",
                "iPhone",
                Device::Mobile,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox",
                "Linux",
                Device::Desktop,
            ),
        ] {
            let agent = parse(ua);
            assert_eq!(
                (agent.browser.as_str(), agent.os.as_str(), agent.device),
                (browser, os, device),
                "{ua}"
            );
            assert!(agent.bot_reasons.is_empty(), "{ua}");
            assert!(!agent.version.is_empty(), "{ua}");
        }
    }

    #[test]
    fn bots_are_flagged_with_reasons() {
        for (ua, reason) in [
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "known_crawler",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                "headless_browser",
            ),
            ("curl/8.5.0", "http_library"),
            ("", "empty_user_agent"),
        ] {
            let agent = parse(ua);
            assert!(
                agent.bot_reasons.contains(&reason),
                "{ua}: {:?}",
                agent.bot_reasons
            );
            assert_eq!(agent.device, Device::Bot, "{ua}");
        }
    }
}
