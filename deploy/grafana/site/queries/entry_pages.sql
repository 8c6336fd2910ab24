-- The first page of each session (`landing_page`, stamped by the enricher
-- on every event of the session), with its sessions' bounce rate.
SELECT
    entry_page,
    count() AS sessions,
    round(countIf(page_views = 1) / sessions, 3) AS bounce_rate
FROM
(
    SELECT
        session_id,
        any(landing_page) AS entry_page,
        countIf(event_type = 'page_view') AS page_views
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
GROUP BY entry_page
ORDER BY sessions DESC, entry_page
LIMIT 10
