-- Generated demo traffic for the example queries: {events} rows of `events`
-- (sessions of home → product → cart → checkout, each page with a page view,
-- a scroll and an engagement event, over the last 30 days), one consent
-- record per visitor and 100 dead letters of the last days. Runs on ClickHouse 18.16 and current releases;
-- `{db}` and `{events}` are replaced by the caller.
INSERT INTO {db}.events (event_id, site_id, event_type, event_time, event_ms, received_at, seq,
    visitor_id, session_id, url, path, referrer_class, utm_source, utm_medium, utm_campaign,
    country, browser, os, device, is_bot, bot_reasons, consent_measurement,
    consent_personalization, decision, props, page_categories, session_seq, landing_page)
SELECT
    generateUUIDv4(),
    'demo',
    ['page_view', 'scroll', 'engagement'][t + 1],
    toDateTime(toUInt32(now()) - (s % 30 + 1) * 86400 + step * 60 + t, 'UTC'),
    toUInt16(0),
    toDateTime(toUInt32(now()) - (s % 30 + 1) * 86400 + step * 60 + t, 'UTC'),
    toUInt32(step),
    concat('v', toString(s % 5000)),
    concat('s', toString(s)),
    concat('https://shop.example', ['/', '/p/red-shoes', '/cart', '/checkout'][step + 1]),
    ['/', '/p/red-shoes', '/cart', '/checkout'][step + 1],
    ['search', 'social', 'direct', 'email'][s % 4 + 1],
    if(s % 2 = 0, 'newsletter', ''),
    if(s % 2 = 0, 'email', ''),
    ['spring', '', 'newsletter'][s % 3 + 1],
    ['IT', 'DE', 'FR'][s % 3 + 1],
    'Firefox',
    'Linux',
    ['desktop', 'mobile', 'tablet'][s % 3 + 1],
    toUInt8(s % 17 = 0),
    if(s % 17 = 0, ['headless'], emptyArrayString()),
    toUInt8(1),
    toUInt8(s % 2),
    'keep',
    multiIf(t = 1, concat('{"depth":', toString(25 * (step + 1)), '}'),
            t = 2, concat('{"ms":', toString(5000 * (step + 1)), '}'), '{}'),
    ['shoes'],
    toUInt32(step + 1),
    '/'
FROM
(
    SELECT number % 3 AS t, intDiv(number, 3) % 4 AS step, intDiv(number, 12) AS s
    FROM system.numbers
    LIMIT {events}
);
INSERT INTO {db}.consent_log (record_id, site_id, subject, action, measurement, personalization,
    functional, contextual, source, client_time, server_time, server_ms, expires_at)
SELECT
    generateUUIDv4(),
    'demo',
    concat('v', toString(number)),
    ['grant', 'deny', 'update'][number % 3 + 1],
    toUInt8(1),
    toUInt8(number % 2),
    toUInt8(number % 3 = 0),
    toUInt8(1),
    'tag:api',
    toDateTime(toUInt32(now()) - (number % 30 + 1) * 86400, 'UTC'),
    toDateTime(toUInt32(now()) - (number % 30 + 1) * 86400, 'UTC'),
    toUInt16(0),
    toDateTime(toUInt32(now()) + 400 * 86400, 'UTC')
FROM system.numbers
LIMIT 5000;
INSERT INTO {db}.dead_letters (failed_at, failed_ms, stage, reason, field, detail, site_id, schema,
    event_type, topic, partition, offset, payload_bytes)
SELECT
    toDateTime(toUInt32(now()) - number * 3600, 'UTC'),
    toUInt16(0),
    ['enricher', 'sink'][number % 2 + 1],
    ['missing_field', 'undecodable', 'unknown_site'][number % 3 + 1],
    if(number % 3 = 0, 'site_id', ''),
    'generated',
    'demo',
    'fiducia.v1.RawEvent',
    'page_view',
    'fiducia.raw.v1',
    toInt32(0),
    toInt64(number),
    toUInt32(400)
FROM system.numbers
LIMIT 100;
INSERT INTO {db}.privacy_requests (request_id, site_id, subject, user_key, kind, channel, status,
    requested_at, requested_ms, updated_at, updated_ms, tables, rows, detail)
SELECT
    generateUUIDv4(),
    'demo',
    concat('v', toString(intDiv(number, 4))),
    '',
    'erasure',
    'center',
    ['received', 'enforced', 'deleted', 'verified'][number % 4 + 1],
    toDateTime(toUInt32(now()) - intDiv(number, 4) * 3600, 'UTC'),
    toUInt16(0),
    toDateTime(toUInt32(now()) - intDiv(number, 4) * 3600 + number % 4, 'UTC'),
    toUInt16(number % 4 * 100),
    arraySlice(['profile_events', 'consent_log', 'events'], 1, if(number % 4 IN (1, 2), 3, 0)),
    arraySlice([toUInt64(3), toUInt64(2), toUInt64(12)], 1, if(number % 4 IN (1, 2), 3, 0)),
    ''
FROM system.numbers
LIMIT 40;
