//! What the detectors find in free text, and what they leave alone.

use super::*;

#[test]
fn tokens_are_told_from_slugs_and_ids() {
    for (run, token) in [
        // JWT
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            true,
        ),
        ("d41d8cd98f00b204e9800998ecf8427e", true), // md5
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            true,
        ), // sha256
        ("Xk9mQ2vL7pR4tY8wZ3nB6cF1hJ5sD0gA", true), // random base62
        ("AbCdEf12GhIj34KlMn56OpQr78StUv90WxYz", true),
        ("red-running-shoes-for-men-size-42-black", false),
        ("MyProduct-Name-2024-Edition-Special-Blue", false),
        ("0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", false), // a UUID stays an id
        ("averyveryverylongwordwithoutanydigitsatall", false),
        ("short1A", false),
    ] {
        assert_eq!(is_token(run), token, "{run}");
    }
}

#[test]
fn emails_in_any_script_and_encoding_are_found() {
    for text in [
        "ada@example.com",
        "ADA.Lovelace+news@Mail.Example.CO.UK",
        "ada@exämple.de",
        "adä@example.de",
        "用户@例子.广告",
        "ada@xn--exmple-cua.xn--p1ai",
        "ada＠example.com",
        "ada﹫example.com",
        "ada%40example.com",
        "ada%2540example.com",
        "ada%252540example.com",
        "ada%EF%BC%A0example.com",
        "ada&#64;example.com",
        "ada&#x40;example.com",
        "ada&commat;example.com",
        "ada@example。com",
    ] {
        assert_eq!(scrub(text), EMAIL, "{text}");
    }
    for text in [
        "50% off",
        "@ada on social",
        "ada@localhost",
        "Q&A",
        "a & b",
        "１００％",
    ] {
        assert_eq!(scrub(text), text, "{text}");
    }
}

#[test]
fn each_kind_gets_its_marker_and_the_rest_is_kept() {
    for (text, want) in [
        ("Welcome back, ada@example.com!", "Welcome back, [email]!"),
        // A run of token characters that ends inside an address.
        ("aAAAaAaaA0A/ada@example.com", "aAAAaAaaA0A/[email]"),
        (
            "reset with d41d8cd98f00b204e9800998ecf8427e today",
            "reset with [token] today",
        ),
        ("from 203.0.113.42 and 2001:db8::7", "from [ip] and [ip]"),
        ("mapped ::ffff:192.0.2.1", "mapped [ip]"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [iban]"),
        (
            "call +49 30 1234567 or 030 1234567",
            "call [phone] or [phone]",
        ),
        (
            "ada@example.com, +49 30 1234567, 10.0.0.1",
            "[email], [phone], [ip]",
        ),
        // What is not personal stays.
        ("Red shoes | Shop", "Red shoes | Shop"),
        (
            "order 0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70",
            "order 0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70",
        ),
        (
            "v1.2.3 from 2026-12-06 at 10:30:00, 12.99 EUR, SKU 123456789",
            "v1.2.3 from 2026-12-06 at 10:30:00, 12.99 EUR, SKU 123456789",
        ),
        ("release v2.0.1.4", "release v2.0.1.4"),
        ("", ""),
    ] {
        assert_eq!(scrub(text), want, "{text}");
    }
    assert!(matches!(scrub("Red shoes"), Cow::Borrowed(_)));
    assert!(matches!(
        scrub("Page 2 of 12.99 at 10:30"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn what_a_replacement_leaves_is_scrubbed_too() {
    // Found by enricher/fuzz: `2001:db8::18::1` is no address, but once
    // `18::1` became a marker, `2001:db8::` before it was one.
    let text = "from 2001:db8::18::1";
    let once = scrub(text).into_owned();
    assert_eq!(once, "from [ip][ip]");
    assert_eq!(scrub(&once), once, "scrubbed twice, changed again");
}

#[test]
fn the_byte_scan_passes_over_plain_text() {
    for text in ["Red shoes | Shop", "Page 2", "12.99", "/p/42", "v1.2.3"] {
        assert!(!Hints::of(text).any(), "{text}");
    }
    assert!(Hints::of("ada＠example.com").email);
    assert!(Hints::of("1.2.3.4").ipv4);
    assert!(Hints::of("fe80::1").ipv6);
    assert!(Hints::of("030 1234567").numbers);
}

proptest::proptest! {
    #[test]
    fn no_text_keeps_personal_data(text in ".{0,200}") {
        let clean = scrub(&text).into_owned();
        proptest::prop_assert!(!holds_personal_data(&clean), "{text:?} -> {clean:?}");
    }

    #[test]
    fn no_digit_soup_keeps_personal_data(text in "[0-9a-fA-Fx:.@+ ()/%&#;,-]{0,80}") {
        let clean = scrub(&text).into_owned();
        proptest::prop_assert!(!holds_personal_data(&clean), "{text:?} -> {clean:?}");
    }

    #[test]
    fn personal_data_anywhere_in_text_is_removed(
        before in "[ -~]{0,40}",
        after in "[ -~]{0,40}",
        which in 0_usize..6,
    ) {
        let secret = [
            "ada.lovelace@example.com",
            "ada.lovelace%2540example.com",
            "ada.lovelace＠exämple.de",
            "DE89 3704 0044 0532 0130 00",
            "+49 30 1234567",
            "2001:db8::42",
        ][which];
        let text = format!("{before} {secret} {after}");
        let clean = scrub(&text).into_owned();
        proptest::prop_assert!(!clean.contains(secret), "{text:?} -> {clean:?}");
    }
}
