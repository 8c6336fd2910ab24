//! User agent → browser, version, OS, device class, and the bot signals a
//! user agent alone can give, parsed with woothee (a maintained,
//! table-driven parser) behind a bounded cache: a site sees few distinct
//! user agents, so almost every event is a cache hit.

use std::num::NonZeroUsize;

use fiducia_proto::device::Device;
use lru::LruCache;

use super::bots::Signal;

/// Longest user agent parsed; the rest is ignored (real ones are far shorter,
/// and a hostile one must not make parsing or the cache expensive).
pub const MAX_USER_AGENT_BYTES: usize = 512;

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
    /// Automation signals found in the user agent.
    pub signals: Vec<Signal>,
}

/// Substrings of automation that woothee does not flag as crawlers.
const AUTOMATION_HINTS: &[(&str, Signal)] = &[
    ("HeadlessChrome", Signal::HeadlessBrowser),
    ("PhantomJS", Signal::HeadlessBrowser),
    ("SlimerJS", Signal::HeadlessBrowser),
    ("HtmlUnit", Signal::HeadlessBrowser),
    ("Selenium", Signal::AutomationTool),
    ("WebDriver", Signal::AutomationTool),
    ("Puppeteer", Signal::AutomationTool),
    ("Playwright", Signal::AutomationTool),
    ("Cypress", Signal::AutomationTool),
    ("python-requests", Signal::HttpLibrary),
    ("python-urllib", Signal::HttpLibrary),
    ("aiohttp", Signal::HttpLibrary),
    ("python-httpx", Signal::HttpLibrary),
    ("curl/", Signal::HttpLibrary),
    ("Wget/", Signal::HttpLibrary),
    ("Go-http-client", Signal::HttpLibrary),
    ("okhttp", Signal::HttpLibrary),
    ("axios/", Signal::HttpLibrary),
    ("node-fetch", Signal::HttpLibrary),
    ("undici", Signal::HttpLibrary),
    ("Java/", Signal::HttpLibrary),
    ("Apache-HttpClient", Signal::HttpLibrary),
    ("libwww-perl", Signal::HttpLibrary),
    ("Scrapy", Signal::HttpLibrary),
    // Link previewers fetch pages like crawlers do.
    ("facebookexternalhit", Signal::KnownCrawler),
    ("Slackbot", Signal::KnownCrawler),
    ("WhatsApp/", Signal::KnownCrawler),
    ("TelegramBot", Signal::KnownCrawler),
    ("Discordbot", Signal::KnownCrawler),
    ("Twitterbot", Signal::KnownCrawler),
    ("LinkedInBot", Signal::KnownCrawler),
    ("Lighthouse", Signal::AutomationTool),
];

/// Parses a user agent string (cut to [`MAX_USER_AGENT_BYTES`]).
#[must_use]
pub fn parse(user_agent: &str) -> Agent {
    let user_agent = truncate(user_agent);
    let mut signals = Vec::new();
    if user_agent.trim().is_empty() {
        signals.push(Signal::EmptyUserAgent);
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
        signals.push(Signal::KnownCrawler);
    }
    for (needle, signal) in AUTOMATION_HINTS {
        if user_agent.contains(needle) && !signals.contains(signal) {
            signals.push(*signal);
        }
    }
    let device = if signals.iter().any(|s| s.is_automation()) {
        Device::Bot
    } else {
        Device::classify(category, &os, user_agent)
    };
    Agent {
        browser,
        version,
        os,
        device,
        signals,
    }
}

/// The agent of an anonymous (STRIP) event, which carries only the device
/// class the collector derived from the user agent it did not publish. A
/// `bot` class is a known crawler; an unknown class is `other`.
#[must_use]
pub fn from_class(class: &str) -> Agent {
    let device = Device::from_name(class);
    Agent {
        browser: String::new(),
        version: String::new(),
        os: String::new(),
        device,
        signals: if device == Device::Bot {
            vec![Signal::KnownCrawler]
        } else {
            Vec::new()
        },
    }
}

/// `user_agent` cut to at most [`MAX_USER_AGENT_BYTES`] on a character boundary.
fn truncate(user_agent: &str) -> &str {
    if user_agent.len() <= MAX_USER_AGENT_BYTES {
        return user_agent;
    }
    let mut end = MAX_USER_AGENT_BYTES;
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    &user_agent[..end]
}

/// Parsed user agents by string, least recently used evicted first.
pub struct AgentCache {
    cache: LruCache<String, Agent>,
}

impl AgentCache {
    /// A cache holding at most `entries` user agents.
    #[must_use]
    pub fn new(entries: NonZeroUsize) -> Self {
        Self {
            cache: LruCache::new(entries),
        }
    }

    /// The parsed agent; parses on a miss. A hit allocates nothing.
    pub fn get(&mut self, user_agent: &str) -> &Agent {
        let key = truncate(user_agent);
        self.cache.get_or_insert_ref(key, || parse(key))
    }

    /// Agents cached now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    #[test]
    fn an_anonymous_event_is_known_by_its_class_only() {
        for device in [
            Device::Desktop,
            Device::Mobile,
            Device::Tablet,
            Device::Other,
        ] {
            let agent = from_class(device.as_str());
            assert_eq!(agent.device, device);
            assert!(agent.signals.is_empty() && agent.browser.is_empty());
        }
        assert_eq!(from_class("bot").signals, vec![Signal::KnownCrawler]);
        assert_eq!(from_class("fridge").device, Device::Other);
    }

    #[test]
    fn common_agents_are_recognised() {
        for (ua, browser, os, device) in [
            (CHROME_WINDOWS, "Chrome", "Windows 10", Device::Desktop),
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
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                "Chrome",
                "Android",
                Device::Mobile,
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "Safari",
                "iPad",
                Device::Tablet,
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome",
                "Android",
                Device::Tablet,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge",
                "Mac OSX",
                Device::Desktop,
            ),
        ] {
            let agent = parse(ua);
            assert_eq!(
                (agent.browser.as_str(), agent.os.as_str(), agent.device),
                (browser, os, device),
                "{ua}"
            );
            assert!(agent.signals.is_empty(), "{ua}");
            assert!(!agent.version.is_empty(), "{ua}");
        }
    }

    #[test]
    fn bots_and_automation_are_flagged_with_signals() {
        for (ua, signal) in [
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                Signal::KnownCrawler,
            ),
            (
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
                Signal::KnownCrawler,
            ),
            (
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
                Signal::KnownCrawler,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
                Signal::HeadlessBrowser,
            ),
            (
                "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
                Signal::HeadlessBrowser,
            ),
            ("curl/8.5.0", Signal::HttpLibrary),
            ("python-requests/2.31.0", Signal::HttpLibrary),
            ("Go-http-client/1.1", Signal::HttpLibrary),
            ("", Signal::EmptyUserAgent),
            ("   ", Signal::EmptyUserAgent),
        ] {
            let agent = parse(ua);
            assert!(agent.signals.contains(&signal), "{ua}: {:?}", agent.signals);
            assert_eq!(agent.device, Device::Bot, "{ua}");
        }
    }

    #[test]
    fn hostile_agents_are_cut_and_never_panic() {
        let long = format!("{CHROME_WINDOWS}{}", "é".repeat(10_000));
        let agent = parse(&long);
        assert_eq!(agent.browser, "Chrome");
        assert!(truncate(&long).len() <= MAX_USER_AGENT_BYTES);
        for ua in ["\u{0}", "Mozilla/5.0 (", ")))(((", "Chrome/", "🦀🦀🦀"] {
            let _ = parse(ua);
        }
    }

    #[test]
    fn the_cache_is_bounded_and_answers_like_the_parser() {
        let mut cache = AgentCache::new(NonZeroUsize::new(4).unwrap());
        assert_eq!(cache.get(CHROME_WINDOWS), &parse(CHROME_WINDOWS));
        for i in 0..20 {
            cache.get(&format!("agent/{i}"));
        }
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.get(CHROME_WINDOWS), &parse(CHROME_WINDOWS));
    }
}
