-- Visitors and page views per time bucket ($__interval_s seconds), humans only.
SELECT
    toDateTime(intDiv(toUInt32(event_time), $__interval_s) * $__interval_s, 'UTC') AS time,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(event_type = 'page_view') AS page_views
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY time
ORDER BY time
