-- The last page of each session.
SELECT
    exit_page,
    count() AS sessions
FROM
(
    SELECT session_id, argMax(path, (event_time, event_ms, seq)) AS exit_page
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
GROUP BY exit_page
ORDER BY sessions DESC, exit_page
LIMIT 10
