-- Visitors and page views by country (from the truncated IP; empty when unknown).
SELECT
    country,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(event_type = 'page_view') AS page_views
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
GROUP BY country
ORDER BY visitors DESC, country
LIMIT 10
