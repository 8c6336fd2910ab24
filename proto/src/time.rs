//! The contract's time unit: Unix milliseconds (`*_ms` fields).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Now, in Unix milliseconds (0 if the clock is before 1970).
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The UTC midnight `days_ago` days before today, in Unix milliseconds;
/// "today" is the UTC day of the first call in this process.
///
/// For tests and benchmarks that need times: recent ones, so whatever reads
/// the clock beside them (ClickHouse's `now()` and TTLs, the profiles'
/// decay, retention, the consent age limit) sees the age the test meant on
/// any date; aligned to a whole day (and so to a whole second), so a test
/// that adds minutes to it knows which day and second they fall on; and
/// fixed for the life of the process, so a test running across midnight
/// still gets the same instants from every call.
#[must_use]
pub fn midnight_days_ago_ms(days_ago: i64) -> i64 {
    static TODAY: OnceLock<i64> = OnceLock::new();
    let today = *TODAY.get_or_init(|| now_ms().div_euclid(DAY_MS));
    today.saturating_sub(days_ago).saturating_mul(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_midnight_days_ago_is_recent_whole_and_stable() {
        let today = midnight_days_ago_ms(0);
        let now = now_ms();
        // Within a day of now, or two if the process began yesterday.
        assert!(today <= now && now - today < 2 * DAY_MS, "{today} {now}");
        assert_eq!(today.rem_euclid(DAY_MS), 0);
        assert_eq!(midnight_days_ago_ms(3), today - 3 * DAY_MS);
        assert_eq!(midnight_days_ago_ms(0), today);
    }
}
