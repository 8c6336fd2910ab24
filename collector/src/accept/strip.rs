//! Coarse context for anonymous (STRIP) events: the page without query
//! parameters other than campaign tags, the referrer's origin only, and a
//! device class instead of the user agent. Also [`without_fragment`], for
//! every event's URLs.

use std::cell::RefCell;
use std::collections::HashMap;

use fiducia_proto::device::Device;
use foldhash::fast::RandomState;

/// The URL up to its fragment (`#…` can carry tokens, e.g.
/// `#access_token=…`, and never reaches Kafka).
#[must_use]
pub fn without_fragment(raw: &str) -> &str {
    raw.split_once('#').map_or(raw, |(url, _)| url)
}

/// The coarse device class of an anonymous event or a contextual answer,
/// by the rule the enricher applies to full user agents
/// ([`Device::classify`]). Parsing a user agent is a tenth of a contextual
/// answer (`benches/README.md`, `GET /v1/profile`) and browsers send few
/// distinct ones, so each worker thread keeps the classes it has seen,
/// up to [`DEVICE_CACHE`] (then it starts over: a stream of made-up agents
/// costs the parse, never memory).
#[must_use]
pub fn device_class(user_agent: &str) -> &'static str {
    thread_local! {
        static SEEN: RefCell<HashMap<Box<str>, &'static str, RandomState>> =
            RefCell::new(HashMap::with_hasher(RandomState::default()));
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some(&class) = seen.get(user_agent) {
            return class;
        }
        let class = parse_device_class(user_agent);
        if seen.len() >= DEVICE_CACHE {
            seen.clear();
        }
        seen.insert(user_agent.into(), class);
        class
    })
}

/// User agents whose device class a worker thread keeps.
pub const DEVICE_CACHE: usize = 1024;

fn parse_device_class(user_agent: &str) -> &'static str {
    woothee::parser::Parser::new()
        .parse(user_agent)
        .map_or(Device::Other, |p| {
            Device::classify(p.category, p.os, user_agent)
        })
        .as_str()
}

/// The URL without its fragment and without query parameters other than
/// `utm_*`; empty when it does not parse.
#[must_use]
pub fn coarse_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return String::new();
    };
    let campaign: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k.starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_fragment(None);
    url.set_query(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !campaign.is_empty() {
        url.query_pairs_mut().extend_pairs(campaign);
    }
    url.into()
}

/// `scheme://host[:port]/` of a URL; empty when it has none.
#[must_use]
pub fn origin_only(raw: &str) -> String {
    match url::Url::parse(raw).map(|u| u.origin()) {
        Ok(origin) if origin.is_tuple() => format!("{}/", origin.ascii_serialization()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_campaign_parameters_survive() {
        for (raw, expected) in [
            (
                "https://shop.example/p/42?utm_source=news&email=a%40b.c&utm_medium=mail#token=x",
                "https://shop.example/p/42?utm_source=news&utm_medium=mail",
            ),
            (
                "https://user:pw@shop.example/a?q=1",
                "https://shop.example/a",
            ),
            ("not a url", ""),
            ("", ""),
        ] {
            assert_eq!(coarse_url(raw), expected, "{raw}");
        }
    }

    #[test]
    fn fragments_never_leave() {
        for (raw, expected) in [
            (
                "https://shop.example/cb#access_token=eyJ.x.y",
                "https://shop.example/cb",
            ),
            ("https://shop.example/#/p/42", "https://shop.example/"),
            ("https://shop.example/p?q=1", "https://shop.example/p?q=1"),
            ("#x", ""),
        ] {
            assert_eq!(without_fragment(raw), expected, "{raw}");
        }
    }

    #[test]
    fn the_kept_classes_are_the_parsed_ones_past_the_cache_bound() {
        let agents: Vec<String> = (0..2 * DEVICE_CACHE + 3)
            .map(|i| match i % 3 {
                0 => format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{i} like Mac OS X) Mobile/15E148"
                ),
                1 => {
                    format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{i}.0 Safari/537.36")
                }
                _ => format!("made-up agent {i}"),
            })
            .collect();
        for _ in 0..2 {
            for agent in &agents {
                assert_eq!(device_class(agent), parse_device_class(agent), "{agent}");
            }
        }
    }

    #[test]
    fn a_user_agent_becomes_a_coarse_class() {
        for (agent, class) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
                "desktop",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "mobile",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "tablet",
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "bot",
            ),
            ("", "other"),
        ] {
            assert_eq!(device_class(agent), class, "{agent}");
        }
    }

    #[test]
    fn a_referrer_keeps_its_origin_only() {
        for (raw, expected) in [
            (
                "https://www.google.com/search?q=red+shoes",
                "https://www.google.com/",
            ),
            ("http://localhost:8000/a/b", "http://localhost:8000/"),
            ("android-app://com.example", ""),
            ("", ""),
        ] {
            assert_eq!(origin_only(raw), expected, "{raw}");
        }
    }
}
