-- The `site` variable: every site with events in the time range.
SELECT DISTINCT site_id
FROM fiducia.events
WHERE $__timeFilter(event_time)
ORDER BY site_id
