//! The page URL split for analysts: host, path and UTM campaign fields.

/// UTM campaign parameters of a URL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// `utm_source`
    pub source: String,
    /// `utm_medium`
    pub medium: String,
    /// `utm_campaign`
    pub campaign: String,
    /// `utm_term`
    pub term: String,
    /// `utm_content`
    pub content: String,
}

/// The parts of a page URL the events table keeps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageUrl {
    /// Lower-case host, when the URL parses.
    pub host: Option<String>,
    /// Path, `/` at least when the URL parses; empty when it does not.
    pub path: String,
    /// UTM fields.
    pub campaign: Campaign,
}

/// Longest UTM value kept; longer ones are cut (they are labels, not payloads).
const MAX_UTM_CHARS: usize = 200;

/// Splits a page URL. A URL that does not parse yields empty parts.
#[must_use]
pub fn split(raw: &str) -> PageUrl {
    let Ok(url) = url::Url::parse(raw) else {
        return PageUrl::default();
    };
    let mut campaign = Campaign::default();
    for (key, value) in url.query_pairs() {
        let slot = match key.to_ascii_lowercase().as_str() {
            "utm_source" => &mut campaign.source,
            "utm_medium" => &mut campaign.medium,
            "utm_campaign" => &mut campaign.campaign,
            "utm_term" => &mut campaign.term,
            "utm_content" => &mut campaign.content,
            _ => continue,
        };
        // The first occurrence wins, as in most analytics tools.
        if slot.is_empty() {
            *slot = value.trim().chars().take(MAX_UTM_CHARS).collect();
        }
    }
    PageUrl {
        host: url.host_str().map(str::to_ascii_lowercase),
        path: url.path().to_owned(),
        campaign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_campaigns_are_split_out() {
        let page = split(
            "https://Shop.Example/p/42?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=red+shoes&utm_content=hero&x=1#top",
        );
        assert_eq!(page.host.as_deref(), Some("shop.example"));
        assert_eq!(page.path, "/p/42");
        assert_eq!(
            page.campaign,
            Campaign {
                source: "news".into(),
                medium: "email".into(),
                campaign: "spring sale".into(),
                term: "red shoes".into(),
                content: "hero".into(),
            }
        );
    }

    #[test]
    fn utm_edge_cases() {
        for (url, source) in [
            ("https://a.example/?UTM_SOURCE=Caps", "Caps"),
            (
                "https://a.example/?utm_source=first&utm_source=second",
                "first",
            ),
            ("https://a.example/?utm_source=", ""),
            ("https://a.example/?utm_source=%20padded%20", "padded"),
            ("https://a.example/", ""),
        ] {
            assert_eq!(split(url).campaign.source, source, "{url}");
        }
        assert_eq!(
            split(&format!("https://a.example/?utm_term={}", "x".repeat(500)))
                .campaign
                .term
                .len(),
            200
        );
    }

    #[test]
    fn unparseable_urls_yield_empty_parts() {
        assert_eq!(split("not a url"), PageUrl::default());
        assert_eq!(split(""), PageUrl::default());
        assert_eq!(split("https://a.example").path, "/");
    }
}
