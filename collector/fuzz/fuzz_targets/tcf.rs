//! Arbitrary text as an envelope's `consent.tcf`: decoded, validated and
//! resolved into grants. Nothing may panic (but the known, caught one
//! inside `iab_gpp`), a string that fails any rule grants nothing even
//! when the tag grants everything, and a valid one grants exactly what its
//! publisher segment consents (`fiducia_collector_fuzz::check_outcome`).
#![no_main]

use fiducia_collector::consent::tcf::{TcfError, decode};
use fiducia_collector_fuzz::{
    allow_caught_decoder_panics, check_expiry, check_outcome, plausible, tag_granting_all,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: allow_caught_decoder_panics(), |data: &[u8]| {
    let Ok(tc) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = check_outcome(&tag_granting_all(tc, ""));
    if tc.is_empty() {
        assert_eq!(outcome, None, "no string is no TCF signal");
        return;
    }
    match outcome.expect("a TC string is a TCF signal") {
        Ok(valid) => check_expiry(&decode(tc).expect("valid, so decoded"), &valid),
        Err(error) => assert!(
            plausible(tc, ".") || matches!(error, TcfError::TooLong | TcfError::Alphabet),
            "{error:?} for a string the checks refuse"
        ),
    }
});
