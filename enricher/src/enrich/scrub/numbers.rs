//! The number-shaped personal data of free text: IP addresses, IBANs and
//! phone numbers. Each has a loose regex that finds candidates and a judge
//! here that keeps only real ones, so version strings (`1.2.3`), prices
//! (`12.99`), product ids (`123456789`), dates (`2026-12-06`, `06.12.2026`)
//! and UUIDs stay as they are. [`super::detect`] runs them.

use std::net::Ipv6Addr;
use std::ops::Range;
use std::str::FromStr;
use std::sync::LazyLock;

use iban::Iban;
use regex::Regex;

/// Fewest digits of a phone number (and of an IBAN, in practice): shorter
/// strings are not looked at.
pub const MIN_PHONE_DIGITS: usize = 8;
/// Most digits of a national phone number (trunk `0` included).
const MAX_NATIONAL_DIGITS: usize = 13;
/// Most digits of an international one (E.164, without `+` or `00`).
const MAX_E164_DIGITS: usize = 15;

/// Four dotted groups of one to three digits (ASCII only: `\d` is Unicode).
pub static IPV4: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").expect("a valid static regex"));

/// Hex groups joined by at least two colons, maybe ending in a dotted quad
/// (`::ffff:192.0.2.1`).
pub static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.[0-9]{1,3}){0,3}")
        .expect("a valid static regex")
});

/// Country code, check digits and 11 to 30 letters or digits, in the
/// electronic form or in groups (`DE89 3704 0044 0532 0130 00`), any case.
pub static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}").expect("a valid static regex")
});

/// Digits with at most three separators between them (space, `-`, `.`,
/// `/`, parentheses), maybe after `+` or `(`, 8 to 17 digits in all.
pub static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[+(]?[0-9](?:[ \-./()]{0,3}[0-9]){7,16}").expect("a valid static regex")
});

/// Whether the candidate at `at` is an IPv4 address: four groups each at
/// most 255, the first not 0 (`0.x.y.z` is no host, and versions start so),
/// not glued to letters or to more dotted digits (`v2.0.1.4`, `1.2.3.4.5`).
/// A port after it (`:8080`) is fine.
pub fn ipv4(text: &str, at: Range<usize>) -> Option<Range<usize>> {
    let mut parts = text[at.clone()].split('.').map(u16::from_str);
    let first = parts.next()?.ok()?;
    if first == 0 || first > 255 || !parts.all(|part| part.is_ok_and(|p| p <= 255)) {
        return None;
    }
    (!glued(text, &at, &['.'])).then_some(at)
}

/// Whether the candidate at `at` is an IPv6 address: std parses it (maybe
/// after one stray colon is cut at either end) and it has at least two
/// non-empty groups (`::1` and `::` say nothing about anyone).
pub fn ipv6(text: &str, at: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[at.clone()];
    let trims = [(0, 0), (1, 0), (0, 1), (1, 1)];
    let (head, tail) = trims.into_iter().find(|&(head, tail)| {
        (head == 0 || candidate.starts_with(':'))
            && (tail == 0 || candidate.ends_with(':'))
            && candidate
                .get(head..candidate.len().saturating_sub(tail))
                .is_some_and(|inner| Ipv6Addr::from_str(inner).is_ok())
    })?;
    let at = at.start + head..at.end - tail;
    let groups = text[at.clone()]
        .split(':')
        .filter(|group| !group.is_empty())
        .count();
    (groups >= 2 && !glued(text, &at, &[])).then_some(at)
}

/// Whether the candidate at `at`, or its longest prefix ending before a
/// space, is an IBAN: valid checksum and the country's format.
pub fn iban(text: &str, at: Range<usize>) -> Option<Range<usize>> {
    shrink(
        text,
        at,
        |c| c == ' ',
        |candidate| {
            let electronic: String = candidate
                .chars()
                .filter(|c| *c != ' ')
                .map(|c| c.to_ascii_uppercase())
                .collect();
            Iban::from_str(&electronic).is_ok()
        },
    )
}

/// Whether the candidate at `at`, or its longest prefix ending before a
/// separator, is a phone number. See [`is_phone`].
pub fn phone(text: &str, at: Range<usize>) -> Option<Range<usize>> {
    shrink(text, at, |c: char| !c.is_ascii_digit(), is_phone)
}

/// The longest prefix of `text[at]` that ends where `cut` matches (or at
/// the end), is `wanted` and is not glued to letters or digits around it.
fn shrink(
    text: &str,
    mut at: Range<usize>,
    cut: impl Fn(char) -> bool + Copy,
    wanted: impl Fn(&str) -> bool,
) -> Option<Range<usize>> {
    loop {
        let candidate = &text[at.clone()];
        if !glued(text, &at, &['.', ',', '-', '/']) && wanted(candidate) {
            return Some(at);
        }
        // Cut the last group and the separators before it.
        let last_group = candidate.rfind(cut)?;
        let end = candidate[..last_group].trim_end_matches(cut).len();
        if end == 0 {
            return None;
        }
        at.end = at.start + end;
    }
}

/// A phone number: 8 digits or more, and one of
/// * `+` and an E.164 number (`+49 30 1234567`, `+4930123456`);
/// * `00` and one, written with separators (`0049 30 1234567`): without
///   them it may be a GTIN (`00012345678905`);
/// * a national number with a trunk `0`, an area code and a separator
///   (`030 1234567`, `06 12 34 56 78`, `(0171) 1234567`), not a date
///   (`06.12.2026`) and not a decimal (`0.12345678`);
/// * the North American shape (`555-123-4567`, `(555) 123-4567`, `1 800 555 0199`).
///
/// Plain integers (ids, timestamps, prices) have no separator and no `+`,
/// so none of these.
fn is_phone(candidate: &str) -> bool {
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    let mut groups = [0_usize; 8];
    let mut count = 0;
    for group in candidate
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
    {
        if count == groups.len() {
            return false;
        }
        groups[count] = group.len();
        count += 1;
    }
    let groups = &groups[..count];
    let separators = candidate
        .trim_start_matches(['+', '('])
        .bytes()
        .filter(|b| !b.is_ascii_digit())
        .count();
    if digits < MIN_PHONE_DIGITS || (separators == 1 && candidate.contains('.')) {
        // Too short, or a decimal number (`+1.23456789`, `0.12345678`).
        return false;
    }
    if let Some(number) = candidate.strip_prefix('+') {
        return number.starts_with(|c: char| ('1'..='9').contains(&c)) && digits <= MAX_E164_DIGITS;
    }
    if candidate.starts_with("00") {
        return separators > 0 && digits - 2 <= MAX_E164_DIGITS;
    }
    let national = candidate.strip_prefix('(').unwrap_or(candidate);
    if national.starts_with('0') {
        return separators > 0
            && groups[0] >= 2
            && digits <= MAX_NATIONAL_DIGITS
            && !starts_with_date(national);
    }
    separators > 0 && matches!(groups, [3, 3, 4] | [1, 3, 3, 4])
}

/// Whether `text` starts with a day-first date (`06.12.2026`, `06/12/26`)
/// that ends the candidate or is followed by another separator (a time):
/// French numbers in pairs (`06.12.34.56.78`) are not dates.
fn starts_with_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(&separator) = bytes.get(2) else {
        return false;
    };
    if !matches!(separator, b'.' | b'/' | b'-') || bytes.get(5) != Some(&separator) {
        return false;
    }
    let number = |range: Range<usize>| text.get(range).and_then(|n| n.parse::<u16>().ok());
    let (Some(day), Some(month)) = (number(0..2), number(3..5)) else {
        return false;
    };
    let year_digits = bytes[6..].iter().take_while(|b| b.is_ascii_digit()).count();
    (1..=31).contains(&day)
        && (1..=12).contains(&month)
        && matches!(year_digits, 2 | 4)
        && bytes.get(6 + year_digits) != Some(&separator)
}

/// Whether `text[at]` continues a longer word or number: a letter or digit
/// right beside it, or one of `joiners` followed by a digit (`1.2.3.4.5`).
fn glued(text: &str, at: &Range<usize>, joiners: &[char]) -> bool {
    let side = |chars: &mut dyn Iterator<Item = char>| match chars.next() {
        Some(c) if c.is_alphanumeric() => true,
        Some(c) if joiners.contains(&c) => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    side(&mut text[..at.start].chars().rev()) || side(&mut text[at.end..].chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `judge` keeps of the first candidate `pattern` finds, trying
    /// each start like [`super::super::detect`] does.
    fn found(
        pattern: &Regex,
        judge: fn(&str, Range<usize>) -> Option<Range<usize>>,
        text: &str,
    ) -> Option<String> {
        let mut from = 0;
        while let Some(m) = pattern.find_at(text, from) {
            if let Some(at) = judge(text, m.range()) {
                return Some(text[at].to_owned());
            }
            from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        None
    }

    #[test]
    fn ipv4_addresses_are_told_from_versions_and_numbers() {
        for (text, want) in [
            ("from 203.0.113.42 today", Some("203.0.113.42")),
            ("ip=192.168.1.1:8080", Some("192.168.1.1")),
            ("at 10.0.0.1.", Some("10.0.0.1")),
            ("/ip/8.8.8.8/", Some("8.8.8.8")),
            ("(1.2.3.4)", Some("1.2.3.4")),
            ("version 1.2.3", None),
            ("v2.0.1.4", None), // a version glued to its `v`
            ("1.2.3.4.5", None),
            ("256.1.1.1", None),
            ("1.2.3.999", None),
            ("0.9.1.2", None),
            ("price 12.99", None),
            ("1234.1.2.3", None),
            ("2026-12-06", None),
        ] {
            assert_eq!(found(&IPV4, ipv4, text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn ipv6_addresses_need_std_to_parse_them_and_two_groups() {
        for (text, want) in [
            ("from 2001:db8::1 today", Some("2001:db8::1")),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                Some("2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
            ),
            (
                "[fe80::1ff:fe23:4567:890a]:443",
                Some("fe80::1ff:fe23:4567:890a"),
            ),
            ("ip:fe80::1", Some("fe80::1")),
            ("::ffff:192.0.2.1", Some("::ffff:192.0.2.1")),
            ("addr 2001:db8::1: next", Some("2001:db8::1")),
            ("::1", None),
            ("::", None),
            ("at 10:30:45", None),
            ("std::vec::Vec", None),
            ("00:1A:2B:3C:4D:5E", None),
            ("0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", None),
        ] {
            assert_eq!(found(&IPV6, ipv6, text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn ibans_need_a_valid_checksum_and_format() {
        for (text, want) in [
            ("DE89370400440532013000", Some("DE89370400440532013000")),
            (
                "pay to DE89 3704 0044 0532 0130 00 now",
                Some("DE89 3704 0044 0532 0130 00"),
            ),
            ("gb82west12345698765432", Some("gb82west12345698765432")),
            (
                "IBAN: FR1420041010050500013M02606.",
                Some("FR1420041010050500013M02606"),
            ),
            ("NO9386011117947", Some("NO9386011117947")),
            ("DE89370400440532013001", None), // checksum off by one
            ("XDE89370400440532013000", None),
            ("AB12345678901234567", None),
            ("SKU RS42 red running shoes", None),
            ("0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", None),
        ] {
            assert_eq!(found(&IBAN, iban, text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn phone_numbers_are_told_from_prices_ids_and_dates() {
        for (text, want) in [
            ("call +49 30 1234567", Some("+49 30 1234567")),
            ("+4915112345678", Some("+4915112345678")),
            ("+1 (555) 123-4567", Some("+1 (555) 123-4567")),
            ("+49 (0)30 1234567", Some("+49 (0)30 1234567")),
            ("0049 30 1234567", Some("0049 30 1234567")),
            ("Tel. 030 1234567", Some("030 1234567")),
            ("0171-1234567", Some("0171-1234567")),
            ("(030) 123 456 78", Some("(030) 123 456 78")),
            ("06 12 34 56 78", Some("06 12 34 56 78")),
            ("06.12.34.56.78", Some("06.12.34.56.78")),
            ("020 7946 0958", Some("020 7946 0958")),
            ("555-123-4567", Some("555-123-4567")),
            ("(555) 123-4567", Some("(555) 123-4567")),
            ("1-800-555-0199", Some("1-800-555-0199")),
            ("030 1234567 0171 7654321", Some("030 1234567")),
            ("on 2026-12-06 call 030 1234567", Some("030 1234567")),
            ("price 12.99", None),
            ("1,234,567.89", None),
            ("product 123456789", None),
            ("0123456789", None),
            ("00012345678905", None), // a GTIN
            ("1733443200000", None),  // a timestamp
            ("2026-12-06", None),
            ("06.12.2026", None),
            ("06.12.2026 10:30", None),
            ("06/12/26 10:30", None),
            ("0.12345678", None),
            ("+1.23456789", None),
            ("4111 1111 1111 1111", None),
            ("978-3-16-148410-0", None), // an ISBN
            ("0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70", None),
            ("1.2.3", None),
        ] {
            assert_eq!(found(&PHONE, phone, text).as_deref(), want, "{text}");
        }
    }
}
