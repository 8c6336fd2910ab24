-- Pages by page views, with their visitors.
SELECT
    path,
    count() AS page_views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND event_type = 'page_view' AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY path
ORDER BY page_views DESC, path
LIMIT 10
