//! Finds personal data in free text and replaces it with markers. One byte
//! scan first notes what the text could hold at all (an `@`-like sign, a
//! long run of token characters, enough dots, colons or digits), so most
//! strings (titles, path segments, query values) are passed over without a
//! regex; then each kind that could be there is looked for in turn, each a
//! loose regex whose candidates a judge confirms ([`super::numbers`] for
//! the number-shaped ones).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::numbers;

/// Replaces an e-mail address.
pub const EMAIL: &str = "[email]";
/// Replaces a token.
pub const TOKEN: &str = "[token]";
/// Replaces an IPv4 or IPv6 address.
pub const IP: &str = "[ip]";
/// Replaces an IBAN.
pub const IBAN: &str = "[iban]";
/// Replaces a phone number.
pub const PHONE: &str = "[phone]";

/// E-mail addresses: local part and domain in any script (`ada@exämple.de`,
/// an `xn--` top-level domain), the `@` also full-width (`＠`, U+FF20),
/// small (`﹫`, U+FE6B), percent-encoded once or more (`%40`, `%2540`, the
/// full-width one as `%EF%BC%A0`) or an HTML entity (`&#64;`, `&commat;`);
/// dots also ideographic or full-width.
static EMAIL_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)[\p{L}\p{M}\p{N}._%+\-]+",
        r"(?:@|＠|﹫|%(?:25)*40|%(?:25)*EF%(?:25)*BC%(?:25)*A0|%(?:25)*EF%(?:25)*B9%(?:25)*AB|&#0*64;|&#x0*40;|&commat;)",
        r"[\p{L}\p{M}\p{N}\-]+(?:[.。．｡][\p{L}\p{M}\p{N}\-]+)*",
        r"[.。．｡](?:xn--[a-z0-9\-]+|[\p{L}\p{M}]{2,})",
    ))
    .expect("a valid static regex")
});

/// Runs of the characters tokens are made of, which [`is_token`] then judges.
static RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9_\-+/=.~]{24,}").expect("a valid static regex"));

/// Shortest run of token characters [`RUN`] finds.
const MIN_RUN_CHARS: usize = 24;
/// Shortest run of token characters judged a token, unless it is a JWT.
const MIN_TOKEN_CHARS: usize = 32;

/// Whether a run of token characters is a token: a JWT, a long hex string
/// (hashes, ids), or a long string mixing upper case, lower case and digits
/// the way random ones do (few separators, frequent letter/digit changes),
/// so slugs such as `red-running-shoes-size-42` are left alone.
#[must_use]
pub fn is_token(run: &str) -> bool {
    if run.starts_with("eyJ") && run.matches('.').count() >= 2 {
        return true;
    }
    if run.len() < MIN_TOKEN_CHARS {
        return false;
    }
    let body = run.trim_end_matches('=');
    if body.len() >= MIN_TOKEN_CHARS && body.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    let (mut upper, mut lower, mut digit, mut separators, mut changes) = (0, 0, 0, 0, 0);
    let mut last_digit = None;
    for b in body.bytes() {
        match b {
            b'A'..=b'Z' => upper += 1,
            b'a'..=b'z' => lower += 1,
            b'0'..=b'9' => digit += 1,
            _ => separators += 1,
        }
        let is_digit = b.is_ascii_digit();
        if last_digit.is_some_and(|d| d != is_digit) {
            changes += 1;
        }
        last_digit = Some(is_digit);
    }
    upper > 0 && lower > 0 && digit > 0 && separators * 10 <= body.len() && changes >= 6
}

/// What one pass over the bytes says a text could hold.
#[derive(Debug, Clone, Copy, Default)]
struct Hints {
    /// An `@`, `%`, `&`, `＠` or `﹫`.
    email: bool,
    /// A run of [`MIN_RUN_CHARS`] token characters.
    token: bool,
    /// Four digits and three dots.
    ipv4: bool,
    /// Two colons.
    ipv6: bool,
    /// [`numbers::MIN_PHONE_DIGITS`] digits: a phone number or an IBAN.
    numbers: bool,
}

impl Hints {
    fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let (mut digits, mut dots, mut colons, mut run) = (0_usize, 0_usize, 0_usize, 0_usize);
        let mut hints = Self::default();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'0'..=b'9' => digits += 1,
                b'.' => dots += 1,
                b':' => colons += 1,
                b'@' | b'%' | b'&' => hints.email = true,
                // `＠` (U+FF20) and `﹫` (U+FE6B) in UTF-8.
                0xEF => {
                    hints.email |=
                        matches!(bytes.get(i + 1..i + 3), Some([0xBC, 0xA0] | [0xB9, 0xAB]));
                }
                _ => {}
            }
            if b.is_ascii_alphanumeric() || b"_-+/=.~".contains(&b) {
                run += 1;
                hints.token |= run >= MIN_RUN_CHARS;
            } else {
                run = 0;
            }
        }
        hints.ipv4 = digits >= 4 && dots >= 3;
        hints.ipv6 = colons >= 2;
        hints.numbers = digits >= numbers::MIN_PHONE_DIGITS;
        hints
    }

    fn any(self) -> bool {
        self.email || self.token || self.ipv4 || self.ipv6 || self.numbers
    }
}

/// One kind of personal data.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Email,
    Iban,
    Ipv6,
    Ipv4,
    Phone,
    Token,
}

impl Kind {
    /// In the order they are replaced: e-mail addresses first (a local
    /// part may hold digits or end a run of token characters), IBANs
    /// before phone numbers (grouped IBANs hold phone-like digits), IPs
    /// before phone numbers (dotted digits) and IPv6 before IPv4 (a mapped
    /// `::ffff:192.0.2.1`), tokens last.
    const ALL: [Self; 6] = [
        Self::Email,
        Self::Iban,
        Self::Ipv6,
        Self::Ipv4,
        Self::Phone,
        Self::Token,
    ];

    fn marker(self) -> &'static str {
        match self {
            Self::Email => EMAIL,
            Self::Iban => IBAN,
            Self::Ipv6 | Self::Ipv4 => IP,
            Self::Phone => PHONE,
            Self::Token => TOKEN,
        }
    }

    fn may_be_in(self, hints: Hints) -> bool {
        match self {
            Self::Email => hints.email,
            Self::Iban | Self::Phone => hints.numbers,
            Self::Ipv6 => hints.ipv6,
            Self::Ipv4 => hints.ipv4,
            Self::Token => hints.token,
        }
    }

    fn pattern(self) -> &'static Regex {
        match self {
            Self::Email => &EMAIL_ADDRESS,
            Self::Iban => &numbers::IBAN,
            Self::Ipv6 => &numbers::IPV6,
            Self::Ipv4 => &numbers::IPV4,
            Self::Phone => &numbers::PHONE,
            Self::Token => &RUN,
        }
    }

    /// The part of the candidate at `at` that is of this kind, if any.
    fn judge(self, text: &str, at: Range<usize>) -> Option<Range<usize>> {
        match self {
            Self::Email => Some(at),
            Self::Iban => numbers::iban(text, at),
            Self::Ipv6 => numbers::ipv6(text, at),
            Self::Ipv4 => numbers::ipv4(text, at),
            Self::Phone => numbers::phone(text, at),
            Self::Token => is_token(&text[at.clone()]).then_some(at),
        }
    }

    /// The first one in `text` from byte `from` on. A refused candidate is
    /// tried again from its next character (`x1.2.3.4 5.6.7.8`), but a run
    /// of token characters is judged whole.
    fn find(self, text: &str, mut from: usize) -> Option<Range<usize>> {
        while let Some(candidate) = self.pattern().find_at(text, from) {
            if let Some(at) = self.judge(text, candidate.range()) {
                return Some(at);
            }
            from = match self {
                Self::Token => candidate.end(),
                _ => {
                    let next = text[candidate.start()..].chars().next();
                    candidate.start() + next.map_or(1, char::len_utf8)
                }
            };
        }
        None
    }

    /// `text` with every one replaced by the marker; `None` when there is none.
    fn replace(self, text: &str) -> Option<String> {
        let mut at = self.find(text, 0)?;
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        loop {
            out.push_str(&text[done..at.start]);
            out.push_str(self.marker());
            done = at.end;
            match self.find(text, done) {
                Some(next) => at = next,
                None => break,
            }
        }
        out.push_str(&text[done..]);
        Some(out)
    }
}

/// `text` with its e-mail addresses, IBANs, IP addresses, phone numbers and
/// tokens replaced by markers; borrowed when there was none.
///
/// A replacement can leave data that a pass refused as part of a longer
/// candidate: `2001:db8::18::1` is no address, but once `18::1` is a marker
/// `2001:db8::` is one. So passes repeat until one finds nothing, and
/// scrubbed text holds nothing the detectors find (scrubbing twice changes
/// nothing). This ends: every pass that finds something replaces data with
/// markers, which no detector matches.
#[must_use]
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    while let Some(clean) = pass(&out) {
        out = Cow::Owned(clean);
    }
    out
}

/// `text` with every kind replaced once, in [`Kind::ALL`] order; `None`
/// when there was none.
fn pass(text: &str) -> Option<String> {
    let hints = Hints::of(text);
    if !hints.any() {
        return None;
    }
    let mut out: Option<String> = None;
    for kind in Kind::ALL {
        if kind.may_be_in(hints)
            && let Some(clean) = kind.replace(out.as_deref().unwrap_or(text))
        {
            out = Some(clean);
        }
    }
    out
}

/// Whether `text` holds an e-mail address.
#[must_use]
pub fn holds_email(text: &str) -> bool {
    Hints::of(text).email && Kind::Email.find(text, 0).is_some()
}

/// Whether `text` holds an e-mail address, an IBAN, an IP address, a phone
/// number or a token.
#[must_use]
pub fn holds_personal_data(text: &str) -> bool {
    let hints = Hints::of(text);
    hints.any()
        && Kind::ALL
            .into_iter()
            .any(|kind| kind.may_be_in(hints) && kind.find(text, 0).is_some())
}

#[cfg(test)]
mod tests;
