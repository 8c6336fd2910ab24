-- Visitors with a profile now (personalization granted, latest choice not
-- withdrawn), beside the visitors of the time range.
SELECT
    (SELECT count() FROM fiducia.profiles WHERE site_id = ${site:sqlstring}) AS visitors_with_profile,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    uniqExactIf(visitor_id, visitor_id != '' AND consent_personalization = 1) AS visitors_granting_personalization
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND is_bot = 0 AND $__timeFilter(event_time)
