-- Share of sessions with a single page view.
SELECT
    count() AS sessions,
    countIf(page_views = 1) AS bounces,
    round(bounces / sessions, 3) AS bounce_rate
FROM
(
    SELECT session_id, countIf(event_type = 'page_view') AS page_views
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
