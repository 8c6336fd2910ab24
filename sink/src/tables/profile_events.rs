//! `profile_events`, the interest signals behind the [`super::profiles`]
//! view, filled by ClickHouse from `events` as they are inserted. The sink
//! deletes from it: a visitor's rows when they withdraw personalization
//! ([`crate::jobs::erase_on_withdrawal`], [`crate::jobs::profile_sweep`]),
//! and rows older than the profile retention ([`crate::jobs::retention`]).
//! The item lists ([`crate::jobs::items`]) are computed from it.

use crate::schema::migrations::Step;

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

/// The materialized view feeding `profile_events`, selecting `$extra`
/// (more columns, each starting with `,`) after the first ones. A macro so
/// the statements stay `&'static str`.
macro_rules! profile_events_mv {
    ($extra:expr) => {
        concat!(
            "\
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.profile_events_mv TO {db}.profile_events AS
SELECT
    site_id,
    visitor_id,
    arrayJoin(if(empty(page_categories), [''], page_categories)) AS category,
    event_id,
    event_time,
    toFloat32(multiIf(event_type = 'form_submit', 3, event_type IN ('click', 'download'), 2, 1)) AS weight",
            $extra,
            "
FROM {db}.events
WHERE consent_personalization = 1 AND visitor_id != '' AND is_bot = 0"
        )
    };
}

/// Feeds `profile_events` from every insert into `events`: only events whose
/// visitor gave personalization consent, that keep a visitor id and that
/// are not from bots. The first view (migration 5), replaced by
/// [`CREATE_MV_WITH_ITEMS`] in migration 12; kept as applied.
pub const CREATE_MV: &str = profile_events_mv!("");

/// The `item_id` column of `profile_events` (migration 12): the item the
/// event is about, what the item lists ([`crate::jobs::items`]) count.
pub const ITEM_COLUMN: Step = Step::AddColumn {
    table: NAME,
    column: "item_id",
    definition: "String DEFAULT '' COMMENT 'the item the event is about, empty when none'",
};

/// Drops the view, so that [`CREATE_MV_WITH_ITEMS`] can replace it: a
/// materialized view cannot be altered on ClickHouse 18.16.
pub const DROP_MV: &str = "DROP TABLE IF EXISTS {db}.profile_events_mv";

/// [`CREATE_MV`] carrying the event's `item_id` too (migration 12).
pub const CREATE_MV_WITH_ITEMS: &str = profile_events_mv!(",\n    item_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_with_items_differs_from_the_first_only_by_the_item_column() {
        assert_eq!(
            CREATE_MV_WITH_ITEMS.replace(",\n    item_id", ""),
            CREATE_MV
        );
        assert!(CREATE_MV_WITH_ITEMS.contains("AS weight,\n    item_id\nFROM"));
    }
}
