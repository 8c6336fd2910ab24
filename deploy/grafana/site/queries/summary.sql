-- Totals over the time range: visitors, page views, sessions and the
-- engaged time (the tag's `engagement` events, {"ms": ...}) per session.
SELECT
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(event_type = 'page_view') AS page_views,
    uniqExactIf(session_id, session_id != '') AS sessions,
    round(sumIf(visitParamExtractUInt(props, 'ms'), event_type = 'engagement') / 1000 / sessions, 1) AS engaged_seconds_per_session
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
