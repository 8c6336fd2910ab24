-- Visitors by device class (desktop, mobile, tablet, other).
SELECT
    device,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY device
ORDER BY visitors DESC, device
