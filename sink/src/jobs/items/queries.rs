//! The two queries behind the item lists, written for ClickHouse 18.16 (no
//! window functions: `LIMIT n BY`, `arrayJoin` and `groupArray` instead)
//! and run unchanged on current servers.
//!
//! Both read only `profile_events` (events of visitors with
//! personalization consent, not bots, that keep a visitor id) of the site,
//! within its window, of events about an item, and leave out every visitor
//! whose latest consent record leaves personalization off now
//! ([`WITHDRAWN_PERSONALIZATION`], as the `profiles` view does) and every
//! subject of an erasure request (by visitor id, or a visitor that carried
//! an erased user id): their rows may still be there for a moment, until
//! the withdrawal's or the erasure's deletes are done, but they are never
//! counted.
//!
//! A visitor counts once per item and once per pair, however often they
//! viewed them: every count is of distinct visitors.

use fiducia_runtime::service::sites::personalization::Personalization;

use crate::jobs::privacy::subject::user_key_sql;
use crate::jobs::quote;
use crate::tables::profiles::WITHDRAWN_PERSONALIZATION;

/// Popular lists look at the last this many days (or the site's window, if shorter).
pub const POPULAR_DAYS: u32 = 7;

/// A visitor's pairs are formed from their latest this many distinct
/// items: the pairs of one visitor grow with the square of their items,
/// and one visitor who viewed a whole catalogue would otherwise cost as
/// much as thousands of ordinary ones. Counts only shrink by it, so k
/// still holds.
pub const MAX_ITEMS_PER_VISITOR: u32 = 100;

/// Most items in a list (as [`super::lists::MAX_ITEMS`]).
const LIST_LENGTH: usize = super::lists::MAX_ITEMS;

/// The `(site_id, visitor_id)` pairs of erasure requests: by visitor id,
/// and the visitors that carried the user id of an erasure by user key.
fn erased_visitors() -> [String; 2] {
    [
        "SELECT site_id, subject FROM {db}.privacy_requests WHERE kind = 'erasure' AND subject != ''"
            .to_owned(),
        format!(
            "SELECT site_id, visitor_id FROM {{db}}.events WHERE user_id != '' AND visitor_id != '' \
             AND (site_id, {}) IN (SELECT site_id, user_key FROM {{db}}.privacy_requests \
             WHERE kind = 'erasure' AND user_key != '')",
            user_key_sql("user_id")
        ),
    ]
}

/// The `WHERE` clause of the rows of `site` a list may count: views of an
/// item within the last `days` by visitors neither withdrawn nor erased.
fn counted(site: &str, days: u32) -> String {
    let [by_visitor, by_user] = erased_visitors();
    format!(
        "site_id = {site} AND item_id != '' AND event_time >= subtractDays(now(), {days})
              AND (site_id, visitor_id) NOT IN ({WITHDRAWN_PERSONALIZATION})
              AND (site_id, visitor_id) NOT IN ({by_visitor})
              AND (site_id, visitor_id) NOT IN ({by_user})",
        site = quote(site),
    )
}

/// Rows `(item A, item B, distinct visitors who viewed both)` for every
/// pair shared by at least k visitors within the site's window, the best
/// [`LIST_LENGTH`] per A (visitors, then B), sorted by A then rank.
///
/// How, from the inside out: each visitor's latest
/// [`MAX_ITEMS_PER_VISITOR`] distinct items (as `cityHash64` of the id:
/// grouping two `UInt64` is about twice as fast as grouping two strings
/// on 18.16, and a collision among 64-bit hashes of a site's items is
/// negligible), every unordered pair of them once per visitor, the pairs
/// with at least k visitors, each turned both ways, then the ids looked up
/// again among the site's items in the window. Measured in
/// `benches/README.md` (item lists).
#[must_use]
pub fn related(site: &str, settings: &Personalization) -> String {
    let items = format!(
        "SELECT cityHash64(item_id) AS {{hash}}, any(item_id) AS {{name}} FROM {{db}}.profile_events \
         WHERE site_id = {site} AND item_id != '' AND event_time >= subtractDays(now(), {days}) GROUP BY {{hash}}",
        site = quote(site),
        days = settings.window_days,
    );
    let names = |hash: &str, name: &str| items.replace("{hash}", hash).replace("{name}", name);
    format!(
        "\
SELECT subject, item, visitors
FROM
(
    SELECT ha, hb, visitors, subject
    FROM
    (
        SELECT tupleElement(pair, 1) AS ha, tupleElement(pair, 2) AS hb, visitors
        FROM
        (
            SELECT a, b, toUInt32(count()) AS visitors
            FROM
            (
                SELECT arrayJoin(items) AS a, arrayJoin(arrayFilter(x -> x > a, items)) AS b
                FROM
                (
                    SELECT visitor_id, arraySlice(arrayMap(t -> tupleElement(t, 2), arrayReverseSort(groupArray((seen, h)))), 1, {MAX_ITEMS_PER_VISITOR}) AS items
                    FROM
                    (
                        SELECT visitor_id, cityHash64(item_id) AS h, max(event_time) AS seen
                        FROM {{db}}.profile_events
                        WHERE {counted}
                        GROUP BY visitor_id, h
                    )
                    GROUP BY visitor_id
                    HAVING length(items) > 1
                )
            )
            GROUP BY a, b
            HAVING visitors >= {k}
        )
        ARRAY JOIN [(a, b), (b, a)] AS pair
    ) AS pairs
    ALL INNER JOIN ({subjects}) AS subject_names USING ha
) AS named_pairs
ALL INNER JOIN ({items}) AS item_names USING hb
ORDER BY subject, visitors DESC, item
LIMIT {LIST_LENGTH} BY subject",
        counted = counted(site, settings.window_days),
        k = settings.min_visitors,
        subjects = names("ha", "subject"),
        items = names("hb", "item"),
    )
}

/// Rows `(category, item, distinct visitors)` for every item viewed by at
/// least k visitors in the last [`POPULAR_DAYS`], per page category and
/// for the whole site (category `''`), the best [`LIST_LENGTH`] per
/// category, sorted by category then rank.
#[must_use]
pub fn popular(site: &str, settings: &Personalization) -> String {
    format!(
        "\
SELECT subject, item_id, toUInt32(uniqExact(visitor_id)) AS visitors
FROM
(
    SELECT arrayJoin(if(category = '', [''], [category, ''])) AS subject, item_id, visitor_id
    FROM {{db}}.profile_events
    WHERE {counted}
)
GROUP BY subject, item_id
HAVING visitors >= {k}
ORDER BY subject, visitors DESC, item_id
LIMIT {LIST_LENGTH} BY subject",
        counted = counted(site, settings.window_days.min(POPULAR_DAYS)),
        k = settings.min_visitors,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queries_carry_k_the_window_and_the_quoted_site() {
        let settings = Personalization {
            min_visitors: 12,
            window_days: 30,
            ..Personalization::default()
        };
        let related = related("o'shop", &settings);
        assert!(related.contains("HAVING visitors >= 12"));
        assert!(related.contains("subtractDays(now(), 30)"));
        assert!(related.contains(r"site_id = 'o\'shop'"));
        assert!(related.contains("LIMIT 20 BY subject"));
        let popular = popular("shop", &settings);
        assert!(popular.contains("subtractDays(now(), 7)"));
        let short = Personalization {
            window_days: 3,
            ..settings
        };
        assert!(super::popular("shop", &short).contains("subtractDays(now(), 3)"));
    }

    #[test]
    fn withdrawn_and_erased_visitors_are_never_counted() {
        let related = related("shop", &Personalization::default());
        assert!(related.contains(WITHDRAWN_PERSONALIZATION));
        for erased in erased_visitors() {
            assert!(related.contains(&format!("NOT IN ({erased})")));
        }
    }
}
