-- Sessions and visitors by the campaign of their first event (UTM): later
-- pages of a session may carry none (a new campaign starts a new session).
SELECT
    campaign.1 AS utm_source,
    campaign.2 AS utm_medium,
    campaign.3 AS utm_campaign,
    count() AS sessions,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM
(
    SELECT
        session_id,
        any(visitor_id) AS visitor_id,
        argMin((utm_source, utm_medium, utm_campaign), (event_time, event_ms, seq)) AS campaign
    FROM fiducia.events FINAL
    WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
    GROUP BY session_id
)
WHERE campaign != ('', '', '')
GROUP BY campaign
ORDER BY sessions DESC, utm_source, utm_medium, utm_campaign
LIMIT 10
