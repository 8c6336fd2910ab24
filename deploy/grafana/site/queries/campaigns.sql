-- Sessions and visitors by the campaign of their first event (UTM).
SELECT
    utm_source,
    utm_medium,
    utm_campaign,
    count() AS sessions,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM
(
    SELECT
        session_id,
        any(visitor_id) AS visitor_id,
        argMin(utm_source, (event_time, event_ms, seq)) AS utm_source,
        argMin(utm_medium, (event_time, event_ms, seq)) AS utm_medium,
        argMin(utm_campaign, (event_time, event_ms, seq)) AS utm_campaign
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
WHERE utm_source != '' OR utm_medium != '' OR utm_campaign != ''
GROUP BY utm_source, utm_medium, utm_campaign
ORDER BY sessions DESC, utm_source, utm_medium, utm_campaign
LIMIT 10
