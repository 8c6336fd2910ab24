//! Event time corrected for the client's clock. The tag stamps events and the
//! batch with its own clock; the collector stamps arrival with ours. The
//! difference `received_at - sent_at` is the client's skew (plus transit),
//! so `ts + skew` is the event in server time.

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

#[cfg(test)]
mod tests {
    use super::{MAX_EVENT_AGE_MS, corrected_event_time};

    #[test]
    fn skew_is_removed_in_both_directions() {
        let day = 24 * 60 * 60 * 1000;
        let now = 1_764_000_000_000;
        for (ts, sent, received, expected) in [
            (now - 40 * day, now, now, now - MAX_EVENT_AGE_MS), // queued too long: clamped
            (now - 2 * day, now, now, now - 2 * day),           // queued two days: kept
            (1_000, 1_000, 1_000, 1_000),                       // clocks agree
            (1_000, 1_500, 11_500, 11_000),                     // client 10 s behind
            (50_000, 50_500, 500, 0),                           // client 50 s ahead
            (1_000, 0, 9_000, 1_000),                           // no sent_at: trust the client
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
