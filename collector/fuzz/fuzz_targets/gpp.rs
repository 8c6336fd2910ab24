//! Arbitrary text as an envelope's `consent.gpp`: parsed, its TCF EU v2
//! section (if any) decoded and validated, resolved into grants. Nothing
//! may panic (but the known, caught one inside `iab_gpp`); a GPP string
//! that does not parse grants nothing; one without section 2 is no TCF
//! signal (the tag decides); one with it gives exactly what that section
//! gives decoded and validated alone.
#![no_main]

use std::panic::catch_unwind;
use std::str::FromStr;

use fiducia_collector::consent::tcf::{TcfError, decode, validate};
use fiducia_collector_fuzz::{
    NOW_MS, allow_caught_decoder_panics, check_expiry, check_outcome, plausible, policy,
    tag_granting_all,
};
use iab_gpp::sections::SectionId;
use iab_gpp::v1::GPPString;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: allow_caught_decoder_panics(), |data: &[u8]| {
    let Ok(gpp) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = check_outcome(&tag_granting_all("", gpp));
    if gpp.is_empty() {
        assert_eq!(outcome, None, "no string is no TCF signal");
        return;
    }
    if !plausible(gpp, ".~") {
        assert!(
            matches!(outcome, Some(Err(TcfError::TooLong | TcfError::Alphabet))),
            "{outcome:?} for a string the checks refuse"
        );
    } else {
        // iab_gpp's own reading of the string, its panic caught.
        let section = catch_unwind(|| {
            GPPString::from_str(gpp)
                .ok()
                .map(|parsed| parsed.section(SectionId::TcfEuV2).map(str::to_owned))
        });
        match section {
            // (An empty section is a string that does not decode.)
            Ok(Some(Some(tc))) => {
                let decoded = decode(&tc);
                let alone = decoded
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|d| validate(d, NOW_MS, policy().max_age_ms));
                assert_eq!(outcome, Some(alone), "section 2 read otherwise than alone");
                if let (Ok(decoded), Some(Ok(valid))) = (&decoded, &outcome) {
                    check_expiry(decoded, valid);
                }
            }
            Ok(Some(None)) => assert_eq!(outcome, None, "no section 2, yet a TCF outcome"),
            Ok(None) | Err(_) => assert!(
                matches!(outcome, Some(Err(TcfError::Gpp(_)))),
                "{outcome:?} for a GPP string that does not parse"
            ),
        }
    }
});
