-- Share of the stored events per purpose granted, per time bucket. Stored
-- events all had measurement (or were stripped of identifiers where the
-- site allows anonymous measurement): the dropped ones are in the panel
-- "Events dropped by the collector" (Prometheus).
SELECT
    toDateTime(intDiv(toUInt32(event_time), $__interval_s) * $__interval_s, 'UTC') AS time,
    round(avg(consent_measurement), 3) AS measurement,
    round(avg(consent_personalization), 3) AS personalization,
    round(avg(consent_functional), 3) AS functional,
    round(countIf(decision = 'strip') / count(), 3) AS stripped
FROM fiducia.events FINAL
WHERE site_id = ${site:sqlstring} AND $__timeFilter(event_time)
GROUP BY time
ORDER BY time
