-- The site's own events (`fiducia('track', name, props)`), by name.
SELECT
    visitParamExtractString(props, 'name') AS event,
    count() AS events,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND event_type = 'custom' AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY event
ORDER BY events DESC, event
LIMIT 10
