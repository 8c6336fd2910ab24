-- Erasure and access requests per time bucket of their arrival, and the
-- erasures verified (no row of the subject left).
SELECT
    toDateTime(intDiv(toUInt32(requested_at), $__interval_s) * $__interval_s, 'UTC') AS time,
    countIf(kind = 'erasure' AND status = 'received') AS erasure_requests,
    countIf(kind = 'erasure' AND status = 'verified') AS erasures_verified,
    countIf(kind = 'access') AS access_requests
FROM fiducia.privacy_requests FINAL
WHERE site_id = ${site:sqlstring} AND $__timeFilter(requested_at)
GROUP BY time
ORDER BY time
