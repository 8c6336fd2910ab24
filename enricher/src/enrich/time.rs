//! Event time corrected for the client's clock. The tag stamps events and the
//! batch with its own clock; the collector stamps arrival with ours. The
//! difference `received_at - sent_at` is the client's skew (plus transit),
//! so `ts + skew` is the event in server time. The day an event falls on,
//! in the site's time zone, drives the sessions' midnight rule.

use fiducia_proto::time::DAY_MS;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Oldest event time accepted relative to arrival: the tag keeps events
/// queued across an outage, but not for longer. Bounding it also bounds how
/// many monthly partitions one insert batch can touch.
pub const MAX_EVENT_AGE_MS: i64 = 31 * 24 * 60 * 60 * 1000;

/// The event time in server time, within `MAX_EVENT_AGE_MS` before arrival
/// and never after it.
#[must_use]
pub fn corrected_event_time(client_ts_ms: i64, sent_at_ms: i64, received_at_ms: i64) -> i64 {
    if received_at_ms <= 0 {
        return client_ts_ms;
    }
    let skew = if sent_at_ms > 0 {
        received_at_ms.saturating_sub(sent_at_ms)
    } else {
        0
    };
    client_ts_ms.saturating_add(skew).clamp(
        received_at_ms.saturating_sub(MAX_EVENT_AGE_MS),
        received_at_ms,
    )
}

/// The day (since 1970-01-01) that Unix-ms `ms` falls on in `tz`; times
/// outside what a timestamp can hold count in UTC.
#[must_use]
pub fn local_day(ms: i64, tz: &TimeZone) -> i64 {
    let offset_ms = Timestamp::from_millisecond(ms)
        .map_or(0, |ts| i64::from(tz.to_offset(ts).seconds()) * 1000);
    ms.saturating_add(offset_ms).div_euclid(DAY_MS)
}

#[cfg(test)]
mod tests {
    use fiducia_proto::time::midnight_days_ago_ms;

    use super::*;

    /// Fixed dates here: calendar arithmetic (time zones, summer time), no
    /// clock involved.
    #[test]
    fn days_turn_at_local_midnight() {
        let rome = TimeZone::get("Europe/Rome").unwrap();
        // 2026-01-15T22:59:59.999Z is 23:59:59.999 in Rome (UTC+1) ...
        let before = 1_768_517_999_999;
        assert_eq!(local_day(before, &rome), local_day(before, &TimeZone::UTC));
        // ... one millisecond later it is the next day in Rome, not in UTC.
        assert_eq!(local_day(before + 1, &rome), local_day(before, &rome) + 1);
        assert_eq!(
            local_day(before + 1, &TimeZone::UTC),
            local_day(before, &TimeZone::UTC)
        );
        // Summer time: midnight in Rome is 22:00 UTC.
        let summer_midnight = 1_784_152_800_000; // 2026-07-15T22:00:00Z
        assert_eq!(
            local_day(summer_midnight - 1, &rome) + 1,
            local_day(summer_midnight, &rome)
        );
        assert_eq!(local_day(0, &TimeZone::UTC), 0);
        assert_eq!(local_day(-1, &TimeZone::UTC), -1);
        let _ = local_day(i64::MAX, &rome);
        let _ = local_day(i64::MIN, &rome);
    }

    #[test]
    fn skew_is_removed_in_both_directions() {
        let now = midnight_days_ago_ms(0);
        for (ts, sent, received, expected) in [
            (now - 40 * DAY_MS, now, now, now - MAX_EVENT_AGE_MS), // queued too long: clamped
            (now - 2 * DAY_MS, now, now, now - 2 * DAY_MS),        // queued two days: kept
            (1_000, 1_000, 1_000, 1_000),                          // clocks agree
            (1_000, 1_500, 11_500, 11_000),                        // client 10 s behind
            (50_000, 50_500, 500, 0),                              // client 50 s ahead
            (1_000, 0, 9_000, 1_000),                              // no sent_at: trust the client
            (2_000, 1_000, 1_000, 1_000), // event "after" sending: clamped to arrival
        ] {
            assert_eq!(
                corrected_event_time(ts, sent, received),
                expected,
                "{ts} {sent} {received}"
            );
        }
    }
}
