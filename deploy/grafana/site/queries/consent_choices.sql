-- Consent records per time bucket by action: grants, refusals, changes and
-- withdrawals (withdraw, object, erase).
SELECT
    toDateTime(intDiv(toUInt32(server_time), $__interval_s) * $__interval_s, 'UTC') AS time,
    countIf(action = 'grant') AS grants,
    countIf(action = 'deny') AS refusals,
    countIf(action = 'update') AS changes,
    countIf(action IN ('withdraw', 'object', 'erase')) AS withdrawals
FROM fiducia.consent_log FINAL
WHERE site_id = ${site:sqlstring} AND $__timeFilter(server_time)
GROUP BY time
ORDER BY time
