//! Referrer classes for the acquisition report: where did the visit come from.

/// The class of a referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerClass {
    /// No referrer.
    Direct,
    /// The same site.
    Internal,
    /// A search engine.
    Search,
    /// A social network.
    Social,
    /// A webmail client, or a campaign tagged `utm_medium=email`.
    Email,
    /// Anything else.
    Other,
}

impl ReferrerClass {
    /// The value stored in `referrer_class`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Internal => "internal",
            Self::Search => "search",
            Self::Social => "social",
            Self::Email => "email",
            Self::Other => "other",
        }
    }
}

/// Host labels (second-level names) of search engines.
const SEARCH: &[&str] = &[
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
    "seznam",
];
/// Hosts of social networks (matched as the host or a parent domain of it).
const SOCIAL: &[&str] = &[
    "facebook.com",
    "fb.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "t.co",
    "linkedin.com",
    "lnkd.in",
    "reddit.com",
    "pinterest.com",
    "tiktok.com",
    "youtube.com",
    "mastodon.social",
    "threads.net",
    "bsky.app",
];
/// Hosts of webmail clients.
const EMAIL: &[&str] = &[
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "mail.yahoo.com",
    "mail.proton.me",
];

/// Classifies `referrer` for a page on `page_host`.
#[must_use]
pub fn classify(referrer: &str, page_host: Option<&str>, utm_medium: &str) -> ReferrerClass {
    if utm_medium.eq_ignore_ascii_case("email") {
        return ReferrerClass::Email;
    }
    if referrer.trim().is_empty() {
        return ReferrerClass::Direct;
    }
    let Some(host) = url::Url::parse(referrer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return ReferrerClass::Other;
    };
    let host = host.strip_prefix("www.").unwrap_or(&host);
    if page_host.is_some_and(|page| page.strip_prefix("www.").unwrap_or(page) == host) {
        return ReferrerClass::Internal;
    }
    let under = |domain: &&str| host == *domain || host.ends_with(&format!(".{domain}"));
    if EMAIL.iter().any(under) {
        return ReferrerClass::Email;
    }
    if SOCIAL.iter().any(under) {
        return ReferrerClass::Social;
    }
    if host.split('.').any(|label| SEARCH.contains(&label)) {
        return ReferrerClass::Search;
    }
    ReferrerClass::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_are_classified() {
        let page = Some("shop.example");
        for (referrer, medium, class) in [
            ("", "", ReferrerClass::Direct),
            ("https://shop.example/cart", "", ReferrerClass::Internal),
            ("https://www.shop.example/", "", ReferrerClass::Internal),
            ("https://www.google.com/", "", ReferrerClass::Search),
            (
                "https://www.google.co.uk/search?q=x",
                "",
                ReferrerClass::Search,
            ),
            ("https://duckduckgo.com/", "", ReferrerClass::Search),
            ("https://m.facebook.com/", "", ReferrerClass::Social),
            ("https://t.co/abc", "", ReferrerClass::Social),
            ("https://mail.google.com/mail/u/0", "", ReferrerClass::Email),
            ("https://blog.example/post", "email", ReferrerClass::Email),
            ("https://blog.example/post", "", ReferrerClass::Other),
            ("not a url", "", ReferrerClass::Other),
            ("https://notfacebook.com/", "", ReferrerClass::Other),
        ] {
            assert_eq!(
                classify(referrer, page, medium),
                class,
                "{referrer} {medium}"
            );
        }
    }
}
