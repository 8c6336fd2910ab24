//! Referrer classes for the acquisition report: where did the visit come
//! from, and through which search engine or social network. The campaign
//! tags the site put on its links win over the referrer (an e-mail link
//! opened in a webmail has the webmail as referrer, or none at all). Read
//! by the enricher (every event) and the collector (contextual answers of
//! `GET /v1/profile`, from `document.referrer` alone).

/// The class of a referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerClass {
    /// No referrer and no campaign.
    Direct,
    /// The same site.
    Internal,
    /// A search engine, or `utm_medium=organic`.
    Search,
    /// A social network, or a social `utm_medium`.
    Social,
    /// A webmail client, or an e-mail `utm_medium`.
    Email,
    /// A paid `utm_medium` (cpc, display, ...) or a paid-only click id (gclid, ...).
    Paid,
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
            Self::Paid => "paid",
            Self::Other => "other",
        }
    }
}

/// What the referrer and the campaign say about a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The class.
    pub class: ReferrerClass,
    /// The search engine's name when the referrer is one, else empty.
    pub search_engine: &'static str,
    /// The social network's name when the referrer is one, else empty.
    pub social_network: &'static str,
}

/// Host labels of search engines (`google` matches `www.google.co.uk`).
const SEARCH: &[(&str, &str)] = &[
    ("google", "google"),
    ("bing", "bing"),
    ("duckduckgo", "duckduckgo"),
    ("yahoo", "yahoo"),
    ("baidu", "baidu"),
    ("yandex", "yandex"),
    ("ecosia", "ecosia"),
    ("qwant", "qwant"),
    ("startpage", "startpage"),
    ("naver", "naver"),
    ("seznam", "seznam"),
    ("kagi", "kagi"),
    ("googlequicksearchbox", "google"),
];
/// Domains of social networks (the host or a parent domain of it).
const SOCIAL: &[(&str, &str)] = &[
    ("facebook.com", "facebook"),
    ("fb.com", "facebook"),
    ("instagram.com", "instagram"),
    ("twitter.com", "x"),
    ("x.com", "x"),
    ("t.co", "x"),
    ("linkedin.com", "linkedin"),
    ("lnkd.in", "linkedin"),
    ("reddit.com", "reddit"),
    ("pinterest.com", "pinterest"),
    ("tiktok.com", "tiktok"),
    ("youtube.com", "youtube"),
    ("mastodon.social", "mastodon"),
    ("threads.net", "threads"),
    ("bsky.app", "bluesky"),
    ("com.facebook.katana", "facebook"),
];
/// Hosts of webmail clients (and the Android Gmail app's referrer).
const EMAIL: &[&str] = &[
    "mail.google.com",
    "com.google.android.gm",
    "outlook.live.com",
    "outlook.office.com",
    "mail.yahoo.com",
    "mail.proton.me",
];
/// `utm_medium` values per class, lower case.
const EMAIL_MEDIA: &[&str] = &["email", "e-mail", "e_mail", "newsletter"];
const PAID_MEDIA: &[&str] = &[
    "cpc",
    "ppc",
    "paid",
    "paidsearch",
    "paid_search",
    "paid-search",
    "paidsocial",
    "paid_social",
    "paid-social",
    "display",
    "banner",
    "cpm",
    "cpv",
    "cpa",
    "retargeting",
];
const SOCIAL_MEDIA: &[&str] = &["social", "social-network", "social_network", "sm"];

/// Classifies a visit from the referrer's host (`None`: no referrer, or one
/// without a host), the page's host, the campaign medium, whether a paid
/// click id was present, and the site's other own hosts.
#[must_use]
pub fn classify(
    referrer_host: Option<&str>,
    page_host: Option<&str>,
    utm_medium: &str,
    paid_click: bool,
    internal_hosts: &[String],
) -> Source {
    let source = |class| Source {
        class,
        search_engine: "",
        social_network: "",
    };
    let medium = utm_medium.trim().to_ascii_lowercase();
    let in_list = |list: &[&str]| list.contains(&medium.as_str());
    if in_list(EMAIL_MEDIA) {
        return source(ReferrerClass::Email);
    }
    if in_list(PAID_MEDIA) || paid_click {
        return source(ReferrerClass::Paid);
    }
    let Some(host) = referrer_host.filter(|h| !h.is_empty()) else {
        return source(match medium.as_str() {
            _ if in_list(SOCIAL_MEDIA) => ReferrerClass::Social,
            "organic" => ReferrerClass::Search,
            "" => ReferrerClass::Direct,
            _ => ReferrerClass::Other,
        });
    };
    if is_internal(Some(host), page_host, internal_hosts) {
        return source(ReferrerClass::Internal);
    }
    let host = bare(host);
    let under = |domain: &str| {
        host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    if EMAIL.iter().any(|d| under(d)) {
        return source(ReferrerClass::Email);
    }
    if let Some((_, name)) = SOCIAL.iter().find(|(d, _)| under(d)) {
        return Source {
            social_network: name,
            ..source(ReferrerClass::Social)
        };
    }
    if let Some((_, name)) = SEARCH
        .iter()
        .find(|(label, _)| host.split('.').any(|l| l == *label))
    {
        return Source {
            search_engine: name,
            ..source(ReferrerClass::Search)
        };
    }
    source(if in_list(SOCIAL_MEDIA) {
        ReferrerClass::Social
    } else {
        ReferrerClass::Other
    })
}

/// Whether the referrer is the site itself: the page's host or one of the
/// site's other hosts, with or without `www.`.
#[must_use]
pub fn is_internal(
    referrer_host: Option<&str>,
    page_host: Option<&str>,
    internal_hosts: &[String],
) -> bool {
    let Some(host) = referrer_host.filter(|h| !h.is_empty()).map(bare) else {
        return false;
    };
    page_host.is_some_and(|page| bare(page) == host)
        || internal_hosts.iter().any(|own| bare(own) == host)
}

/// A host in lower case without a leading `www.`.
fn bare(host: &str) -> String {
    host.strip_prefix("www.")
        .unwrap_or(host)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_are_classified_and_named() {
        let own = ["checkout.example".to_owned()];
        for (referrer, medium, paid, class, engine, network) in [
            (None, "", false, ReferrerClass::Direct, "", ""),
            (Some(""), "", false, ReferrerClass::Direct, "", ""),
            (
                Some("shop.example"),
                "",
                false,
                ReferrerClass::Internal,
                "",
                "",
            ),
            (
                Some("www.shop.example"),
                "",
                false,
                ReferrerClass::Internal,
                "",
                "",
            ),
            (
                Some("checkout.example"),
                "",
                false,
                ReferrerClass::Internal,
                "",
                "",
            ),
            (
                Some("www.google.com"),
                "",
                false,
                ReferrerClass::Search,
                "google",
                "",
            ),
            (
                Some("www.google.co.uk"),
                "",
                false,
                ReferrerClass::Search,
                "google",
                "",
            ),
            (
                Some("duckduckgo.com"),
                "",
                false,
                ReferrerClass::Search,
                "duckduckgo",
                "",
            ),
            (
                Some("m.facebook.com"),
                "",
                false,
                ReferrerClass::Social,
                "",
                "facebook",
            ),
            (Some("t.co"), "", false, ReferrerClass::Social, "", "x"),
            (
                Some("www.linkedin.com"),
                "",
                false,
                ReferrerClass::Social,
                "",
                "linkedin",
            ),
            (
                Some("mail.google.com"),
                "",
                false,
                ReferrerClass::Email,
                "",
                "",
            ),
            (
                Some("com.google.android.gm"),
                "",
                false,
                ReferrerClass::Email,
                "",
                "",
            ),
            (
                Some("blog.example"),
                "",
                false,
                ReferrerClass::Other,
                "",
                "",
            ),
            (
                Some("notfacebook.com"),
                "",
                false,
                ReferrerClass::Other,
                "",
                "",
            ),
            // The campaign wins over the referrer.
            (
                Some("blog.example"),
                "email",
                false,
                ReferrerClass::Email,
                "",
                "",
            ),
            (
                Some("www.google.com"),
                "Newsletter",
                false,
                ReferrerClass::Email,
                "",
                "",
            ),
            (
                Some("www.google.com"),
                "cpc",
                false,
                ReferrerClass::Paid,
                "",
                "",
            ),
            (
                Some("www.google.com"),
                "",
                true,
                ReferrerClass::Paid,
                "",
                "",
            ),
            (None, "paid_social", false, ReferrerClass::Paid, "", ""),
            (None, "social", false, ReferrerClass::Social, "", ""),
            (None, "organic", false, ReferrerClass::Search, "", ""),
            (None, "referral", false, ReferrerClass::Other, "", ""),
            (
                Some("blog.example"),
                "social",
                false,
                ReferrerClass::Social,
                "",
                "",
            ),
        ] {
            let got = classify(referrer, Some("shop.example"), medium, paid, &own);
            assert_eq!(
                (got.class, got.search_engine, got.social_network),
                (class, engine, network),
                "{referrer:?} {medium}"
            );
        }
    }
}
