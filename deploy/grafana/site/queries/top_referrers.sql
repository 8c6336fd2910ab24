-- Sessions by the host that referred their first event (none: direct).
SELECT
    domain(referrer) AS referrer_host,
    count() AS sessions
FROM
(
    SELECT session_id, argMin(referrer, (event_time, event_ms, seq)) AS referrer
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
WHERE referrer_host != ''
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 10
