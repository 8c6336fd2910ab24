//! A bound on the ids a TC string's vendor ranges expand to, checked before
//! the string reaches `iab_gpp`. That decoder turns every range entry into
//! one id per vendor it covers, then sorts them: a `1-65535` entry is 33
//! bits that cost 65,535 ids, so a string of 4,096 characters (the longest
//! an envelope carries) made of them had it push 48 million ids, ~100 MB
//! and 2 s of CPU for one request (found by profiling `collector/fuzz`).
//!
//! A real string's range entries cover each vendor once per list, and its
//! lists (vendor consents and legitimate interests, each publisher
//! restriction, disclosed and allowed vendors) name the vendors of the
//! Global Vendor List, whose ids are in the low thousands: all of them
//! together stay far below the 65,536 possible ids. This walks the same
//! bits the decoder will read, in its layout, and stops once the ranges
//! cover more than that, which bounds the decoder's work to about one full
//! list (under a millisecond). A string that ends early is left for the
//! decoder to refuse: what it expanded by then was counted.

/// Most ids all of a string's range entries may cover: every possible
/// vendor id once.
const MAX_IDS: u64 = 1 << 16;
/// Bits of the core segment before its vendor consents: `Version` to
/// `PublisherCC` (TCF v2).
const CORE_HEADER_BITS: usize = 213;
/// The core segment's `Version`: the decoder refuses any other before it
/// reads a range.
const CORE_VERSION: u32 = 2;
/// Optional segment types (`SegmentType`, 3 bits) that hold a vendor list:
/// disclosed vendors and allowed vendors.
const VENDOR_SEGMENTS: [u32; 2] = [1, 2];

/// Why the walk stopped early.
enum Stop {
    /// The bits ran out: the decoder fails there too.
    End,
    /// A list, or all of them, covers too many ids.
    TooWide,
}

/// Whether the ranges of `tc` (base64url segments joined by `.`, as
/// [`super::decode`] has checked) cover more ids than a real string can.
pub(super) fn too_wide(tc: &str) -> bool {
    let mut segments = tc.split('.');
    let mut walk = Walk::default();
    let core = segments.next().unwrap_or_default();
    match walk.core(&mut Bits::new(core)) {
        Err(Stop::TooWide) => return true,
        // The decoder stops at a core segment that fails.
        Err(Stop::End) => return false,
        Ok(()) => {}
    }
    segments.any(|segment| {
        let mut bits = Bits::new(segment);
        let vendors = |walk: &mut Walk, bits: &mut Bits| {
            if VENDOR_SEGMENTS.contains(&bits.read(3)?) {
                walk.vendor_list(bits)?;
            }
            Ok(())
        };
        matches!(vendors(&mut walk, &mut bits), Err(Stop::TooWide))
    })
}

/// Ids covered so far.
#[derive(Default)]
struct Walk {
    total: u64,
}

impl Walk {
    /// The core segment: vendor consents, vendor legitimate interests and
    /// publisher restrictions (`PurposeId`, `RestrictionType`, then a list
    /// in the same optimised form, as `iab_gpp` reads them).
    fn core(&mut self, bits: &mut Bits) -> Result<(), Stop> {
        if bits.read(6)? != CORE_VERSION {
            return Err(Stop::End);
        }
        bits.skip(CORE_HEADER_BITS - 6)?;
        self.vendor_list(bits)?;
        self.vendor_list(bits)?;
        for _ in 0..bits.read(12)? {
            bits.skip(8)?;
            self.vendor_list(bits)?;
        }
        Ok(())
    }

    /// `MaxVendorId`, `IsRangeEncoding`, then a bitfield (as long as the
    /// string) or `NumEntries` range entries: one id, or `start..=end`.
    fn vendor_list(&mut self, bits: &mut Bits) -> Result<(), Stop> {
        let max_vendor_id = bits.read(16)?;
        if bits.read(1)? == 0 {
            return bits.skip(usize::try_from(max_vendor_id).unwrap_or(usize::MAX));
        }
        let mut ids = 0;
        for _ in 0..bits.read(12)? {
            ids += if bits.read(1)? == 1 {
                let (start, end) = (bits.read(16)?, bits.read(16)?);
                u64::from(end.saturating_sub(start)) + u64::from(end >= start)
            } else {
                bits.skip(16)?;
                1
            };
            if self.total + ids > MAX_IDS {
                return Err(Stop::TooWide);
            }
        }
        self.total += ids;
        Ok(())
    }
}

/// The bits of one base64url segment, most significant first.
struct Bits<'a> {
    chars: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(segment: &'a str) -> Self {
        Self {
            chars: segment.as_bytes(),
            at: 0,
        }
    }

    fn skip(&mut self, bits: usize) -> Result<(), Stop> {
        let end = self.at.saturating_add(bits);
        if end > self.chars.len() * 6 {
            return Err(Stop::End);
        }
        self.at = end;
        Ok(())
    }

    /// The next `bits` (at most 32) as a number.
    fn read(&mut self, bits: usize) -> Result<u32, Stop> {
        let start = self.at;
        self.skip(bits)?;
        Ok((start..self.at).fold(0, |acc, i| {
            let sextet = sextet(self.chars[i / 6]);
            acc << 1 | u32::from(sextet >> (5 - i % 6) & 1)
        }))
    }
}

/// The value of a base64url character.
fn sextet(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        _ => 63,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{TcfError, decode, from_envelope};

    const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// A TC string (core segment: TCF 2.2, service specific, every
    /// purpose consented) whose vendor consents are `entries` range
    /// entries, each `first..=last`.
    fn with_vendor_ranges(entries: u64, first: u64, last: u64) -> String {
        let mut bits = String::new();
        let mut put = |value: u64, width: usize| bits.push_str(&format!("{value:0width$b}"));
        let deciseconds = 17_802_720_000; // 2026-06-01
        let en = 4 * 64 + 13;
        for (value, width) in [
            (2, 6),
            (deciseconds, 36),
            (deciseconds, 36),
            (300, 12),
            (1, 12),
            (1, 6),
            (en, 12),
            (100, 12),
            (4, 6),
            (1, 1),
            (0, 1),
            (0, 12),
            ((1 << 24) - 1, 24),
            (0, 24),
            (0, 1),
            (en, 12),
            // Vendor consents: MaxVendorId, IsRangeEncoding, NumEntries.
            (65_535, 16),
            (1, 1),
            (entries, 12),
        ] {
            put(value, width);
        }
        for _ in 0..entries {
            put(1, 1);
            put(first, 16);
            put(last, 16);
        }
        // No legitimate-interest vendors, no publisher restrictions.
        put(0, 16);
        put(0, 1);
        put(0, 12);
        bits.as_bytes()
            .chunks(6)
            .map(|sextet| {
                let value = sextet
                    .iter()
                    .fold(0, |acc, b| acc << 1 | usize::from(b - b'0'));
                char::from(BASE64URL[value << (6 - sextet.len())])
            })
            .collect()
    }

    #[test]
    fn ranges_that_cover_at_most_every_vendor_id_once_decode() {
        for (entries, first, last) in [(1, 0, 65_535), (2, 1, 1000), (40, 7, 7)] {
            let tc = with_vendor_ranges(entries, first, last);
            assert!(decode(&tc).is_ok(), "{entries} x {first}-{last}: {tc}");
        }
    }

    #[test]
    fn ranges_that_cover_more_are_refused_before_decoding() {
        // Each `1-65535` entry is 33 bits the decoder expanded into 65,535
        // ids: at the envelope's 4,096 characters, 48 million ids (~100 MB,
        // 2 s of CPU) for one request.
        for (entries, first, last) in [(2, 0, 32_768), (3, 1, 65_535), (600, 1, 65_535)] {
            let tc = with_vendor_ranges(entries, first, last);
            assert!(tc.len() <= 4096);
            assert_eq!(
                decode(&tc).map(|_| ()),
                Err(TcfError::RangesTooWide),
                "{entries} x {first}-{last}"
            );
        }
        // Cut short, as the decoder expands the entries it read first;
        // inside a GPP string, as its section 2.
        let tc = with_vendor_ranges(600, 1, 65_535);
        assert_eq!(
            decode(&tc[..2000]).map(|_| ()),
            Err(TcfError::RangesTooWide)
        );
        assert_eq!(
            from_envelope("", &format!("DBABM~{tc}"), 0, i64::MAX),
            Some(Err(TcfError::RangesTooWide))
        );
    }
}
