//! `sessions`, a view: the sessions of `events`, computed when queried.

/// The view's name, in the configured database.
pub const NAME: &str = "sessions";

/// One row per session, computed from `events` at query time (a plain view,
/// so it needs no storage, no retention of its own and no erasure: it shows
/// exactly what `events` holds). Events without a session id are left out.
pub const CREATE: &str = "\
CREATE VIEW IF NOT EXISTS {db}.sessions AS
SELECT
    site_id,
    session_id,
    any(visitor_id) AS visitor_id,
    min(event_time) AS started_at,
    max(event_time) AS ended_at,
    toUInt32(max(event_time) - min(event_time)) AS duration_seconds,
    count() AS events,
    countIf(event_type = 'page_view') AS page_views,
    argMin(path, (event_time, event_ms, seq)) AS entry_page,
    argMax(path, (event_time, event_ms, seq)) AS exit_page,
    argMin(referrer_class, (event_time, event_ms, seq)) AS entry_referrer_class,
    argMin(utm_source, (event_time, event_ms, seq)) AS utm_source,
    argMin(utm_medium, (event_time, event_ms, seq)) AS utm_medium,
    argMin(utm_campaign, (event_time, event_ms, seq)) AS utm_campaign,
    any(country) AS country,
    any(device) AS device,
    max(is_bot) AS is_bot
FROM {db}.events FINAL
WHERE session_id != ''
GROUP BY site_id, session_id";
