//! The contract's time unit: Unix milliseconds (`*_ms` fields).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds (0 if the clock is before 1970).
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
