-- Share of visitors per purpose granted, per time bucket: each visitor's
-- last choice in the bucket, from the consent records (choices made
-- without a visitor id, e.g. a refusal, count as visitors too: one each).
SELECT
    time,
    count() AS visitors,
    round(avg(measurement), 3) AS measurement,
    round(avg(personalization), 3) AS personalization,
    round(avg(functional), 3) AS functional
FROM
(
    SELECT
        toDateTime(intDiv(toUInt32(server_time), $__interval_s) * $__interval_s, 'UTC') AS time,
        if(subject = '', toString(record_id), subject) AS visitor,
        argMax(measurement, (server_time, server_ms)) AS measurement,
        argMax(personalization, (server_time, server_ms)) AS personalization,
        argMax(functional, (server_time, server_ms)) AS functional
    FROM fiducia.consent_log FINAL
    WHERE site_id = ${site:sqlstring} AND $__timeFilter(server_time)
    GROUP BY time, visitor
)
GROUP BY time
ORDER BY time
