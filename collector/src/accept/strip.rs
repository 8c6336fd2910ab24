//! Coarse context for anonymous (STRIP) events: the page without query
//! parameters other than campaign tags, and the referrer's origin only.

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
