-- Visitors by browser family.
SELECT
    browser,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY browser
ORDER BY visitors DESC, browser
LIMIT 10
