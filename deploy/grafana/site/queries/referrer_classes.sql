-- Sessions by the referrer class of their first event (direct, search,
-- social, email, internal, other), which the enricher stamps on every
-- event of the session (`entry_referrer_class`).
SELECT
    entry_referrer_class AS referrer_class,
    uniqExact(session_id) AS sessions
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND session_id != '' AND $__timeFilter(event_time)
GROUP BY referrer_class
ORDER BY sessions DESC, referrer_class
