//! `profiles`, a view: one row per visitor with personalization consent,
//! their interests summed from [`super::profile_events`] as they are
//! queried, so a profile needs no storage of its own and no job to keep it
//! up to date.

/// The view's name, in the configured database.
pub const NAME: &str = "profiles";

/// The visitors whose latest consent record (by server time) leaves
/// personalization off: `(site_id, subject)` pairs. A macro so the
/// statements that use it stay `&'static str`.
macro_rules! withdrawn_personalization {
    () => {
        "SELECT site_id, subject FROM {db}.consent_log FINAL WHERE subject != '' \
         GROUP BY site_id, subject \
         HAVING argMax(personalization, toUInt64(server_time) * 1000 + server_ms) = 0"
    };
}

/// The visitors whose latest consent record leaves personalization off, as
/// a subquery of `(site_id, subject)` pairs (for the erasure sweep).
pub const WITHDRAWN_PERSONALIZATION: &str = withdrawn_personalization!();

/// The `profiles` view over `profile_events`, with `$filter` (a `WHERE`
/// clause or nothing) applied to the signals before they are summed.
macro_rules! profiles_view {
    ($filter:expr) => {
        concat!(
            "\
CREATE VIEW IF NOT EXISTS {db}.profiles AS
SELECT
    site_id,
    visitor_id,
    arrayFilter(x -> tupleElement(x, 1) != '', arrayReverseSort(x -> tupleElement(x, 2), groupArray((category, score)))) AS interests,
    max(category_last_seen) AS last_seen,
    toUInt32(dateDiff('day', max(category_last_seen), now())) AS recency_days,
    uniqExactMerge(category_events) AS frequency
FROM
(
    SELECT
        site_id,
        visitor_id,
        category,
        round(sum(weight * exp(-(toUInt32(now()) - toUInt32(event_time)) / 86400 / 30 * ln(2))), 3) AS score,
        max(event_time) AS category_last_seen,
        uniqExactState(event_id) AS category_events
    FROM {db}.profile_events FINAL",
            $filter,
            "
    GROUP BY site_id, visitor_id, category
)
GROUP BY site_id, visitor_id"
        )
    };
}

/// The first `profiles` view (migration 5), replaced by
/// [`CREATE_CONSENT_AWARE`] in migration 9; kept as applied.
pub const CREATE_FIRST: &str = profiles_view!("");

/// One row per visitor with a profile: interests ranked by a score that
/// halves every 30 days, last activity, recency and frequency. A visitor
/// whose latest consent record leaves personalization off has none, even
/// while rows of theirs remain in `profile_events`: those of events that
/// were already on their way when the withdrawal was stored, which the
/// erasure sweep ([`crate::jobs::profile_sweep`]) deletes on its next run.
pub const CREATE_CONSENT_AWARE: &str = profiles_view!(concat!(
    "
    WHERE (site_id, visitor_id) NOT IN (",
    withdrawn_personalization!(),
    ")"
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consent_aware_profiles_view_differs_from_the_first_only_by_its_filter() {
        let filter = concat!(
            "\n    WHERE (site_id, visitor_id) NOT IN (",
            withdrawn_personalization!(),
            ")"
        );
        assert!(CREATE_CONSENT_AWARE.contains(filter));
        assert_eq!(CREATE_CONSENT_AWARE.replace(filter, ""), CREATE_FIRST);
        assert!(!CREATE_FIRST.contains("WHERE"));
    }
}
