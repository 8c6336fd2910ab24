//! `profile_events`, the interest signals behind the [`super::profiles`]
//! view, filled by ClickHouse from `events` as they are inserted. The sink
//! deletes from it: a visitor's rows when they withdraw personalization
//! ([`crate::jobs::erase_on_withdrawal`], [`crate::jobs::profile_sweep`]),
//! and rows older than the profile retention ([`crate::jobs::retention`]).

/// The table's name, in the configured database.
pub const NAME: &str = "profile_events";

/// The interest signals of visitors with personalization consent: one row
/// per event and page category (`''` for an uncategorised page), written by
/// [`CREATE_MV`] as events are inserted. Redelivered events collapse on the
/// sorting key, which ends in `event_id`. A withdrawal of personalization
/// deletes the visitor's rows; retention deletes rows older than the
/// profile retention, so a visitor inactive for that long has no profile
/// left.
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.profile_events
(
    site_id String,
    visitor_id String,
    category String COMMENT 'page category, empty for an uncategorised page',
    event_id UUID COMMENT 'the event this signal comes from; the dedup key',
    event_time DateTime('UTC'),
    weight Float32 COMMENT 'strength of the signal: 3 form_submit, 2 click or download, 1 otherwise'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (site_id, visitor_id, category, event_id)";

/// Feeds `profile_events` from every insert into `events`: only events whose
/// visitor gave personalization consent, that keep a visitor id and that
/// are not from bots.
pub const CREATE_MV: &str = "\
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.profile_events_mv TO {db}.profile_events AS
SELECT
    site_id,
    visitor_id,
    arrayJoin(if(empty(page_categories), [''], page_categories)) AS category,
    event_id,
    event_time,
    toFloat32(multiIf(event_type = 'form_submit', 3, event_type IN ('click', 'download'), 2, 1)) AS weight
FROM {db}.events
WHERE consent_personalization = 1 AND visitor_id != '' AND is_bot = 0";
