-- Sessions by the referrer class of their first event (direct, search,
-- social, email, internal, other).
SELECT
    referrer_class,
    count() AS sessions
FROM
(
    SELECT session_id, argMin(referrer_class, (event_time, event_ms, seq)) AS referrer_class
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
GROUP BY referrer_class
ORDER BY sessions DESC, referrer_class
