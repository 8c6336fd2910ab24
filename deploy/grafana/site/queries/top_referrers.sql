-- Sessions by the host that referred their first event (`entry_referrer`,
-- stamped by the enricher on every event of the session; none: direct).
SELECT
    domain(entry_referrer) AS referrer_host,
    uniqExact(session_id) AS sessions
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND entry_referrer != ''
  AND $__timeFilter(event_time)
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 10
