//! Which items an answer recommends, and why. Pure: the item lists come in
//! through a lookup, so ranking and exclusion are tested without a store.
//!
//! Personal: the related lists of the visitor's recent items, merged (an
//! item related to several sums their visitors), minus what the visitor
//! viewed, each "because you viewed X" (the most recent X that led to it);
//! then, while fewer than the limit, the popular items of the visitor's top
//! interest, then the site's. Contextual: the popular items of the page's
//! category, then the site's, minus the page's own item.

use std::collections::HashMap;

use fiducia_proto::v1::ItemCount;
use foldhash::fast::RandomState;

/// One recommended item, borrowed from the lists and the profile it was
/// picked from (an answer is serialised while both are held).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pick<'a> {
    /// The item id.
    pub item: &'a str,
    /// Why, in plain words.
    pub reason: Reason<'a>,
    /// Distinct visitors behind it (never below the site's k).
    pub visitors: u32,
}

/// Why an item is recommended; serialised as its sentence, written
/// straight into the answer (no string per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// Related to an item the visitor viewed.
    Viewed(&'a str),
    /// Popular in the visitor's strongest interest.
    Interest(&'a str),
    /// Popular in the page's category.
    PopularIn(&'a str),
    /// Popular on the whole site.
    SitePopular,
}

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Viewed(item) => write!(f, "because you viewed {item}"),
            Self::Interest(category) => write!(f, "in your interest: {category}"),
            Self::PopularIn(category) => write!(f, "popular in {category} now"),
            Self::SitePopular => f.write_str("popular on this site now"),
        }
    }
}

impl serde::Serialize for Reason<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Default number of items in an answer.
pub const DEFAULT_LIMIT: usize = 6;
/// Most items an answer may ask for.
pub const MAX_LIMIT: usize = 20;

/// Item lists by subject, borrowed for one answer.
pub trait Lists {
    /// Items related to `item`, best first.
    fn related(&self, item: &str) -> Option<&[ItemCount]>;
    /// Items popular in `category` (`""`: site-wide), best first.
    fn popular(&self, category: &str) -> Option<&[ItemCount]>;
}

/// The personal picks for a visitor who viewed `recent` (most recent
/// first) and whose strongest interest is `top_interest`.
///
/// Asked on every page view, so it does no more than it must: the related
/// lists are merged in a map with a fast hash, what was viewed is removed
/// from it by key, and only the best `limit` are sorted.
#[must_use]
pub fn personal<'a>(
    lists: &'a impl Lists,
    recent: &'a [String],
    top_interest: Option<&'a str>,
    limit: usize,
) -> Vec<Pick<'a>> {
    let viewed = |item: &str| recent.iter().any(|r| r == item);
    // item → (visitors, index of the recent item that first led to it)
    let mut merged: HashMap<&'a str, (u32, usize), RandomState> =
        HashMap::with_capacity_and_hasher(MERGE_CAPACITY, RandomState::default());
    for (from, item) in recent.iter().enumerate() {
        for count in lists.related(item).unwrap_or_default() {
            let slot = merged.entry(count.item.as_str()).or_insert((0, from));
            slot.0 = slot.0.saturating_add(count.visitors);
        }
    }
    for item in recent {
        merged.remove(item.as_str());
    }
    let mut ranked: Vec<(&'a str, u32, usize)> = merged
        .into_iter()
        .map(|(item, (v, from))| (item, v, from))
        .collect();
    // Most visitors first; ties by item, so the answer is the same every time.
    let best_first =
        |a: &(&str, u32, usize), b: &(&str, u32, usize)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if ranked.len() > limit {
        ranked.select_nth_unstable_by(limit, best_first);
        ranked.truncate(limit);
    }
    ranked.sort_unstable_by(best_first);
    let mut picks: Vec<Pick> = ranked
        .into_iter()
        .map(|(item, visitors, from)| Pick {
            item,
            reason: Reason::Viewed(&recent[from]),
            visitors,
        })
        .collect();
    if let Some(interest) = top_interest {
        fill(
            &mut picks,
            lists.popular(interest),
            limit,
            &viewed,
            Reason::Interest(interest),
        );
    }
    fill(
        &mut picks,
        lists.popular(""),
        limit,
        &viewed,
        Reason::SitePopular,
    );
    picks
}

/// Distinct related items a typical answer merges (eight recent items of
/// twenty related each, with overlaps).
const MERGE_CAPACITY: usize = 128;

/// The contextual picks on a page of `category` about `item` (either may
/// be empty).
#[must_use]
pub fn contextual<'a>(
    lists: &'a impl Lists,
    category: &'a str,
    item: &str,
    limit: usize,
) -> Vec<Pick<'a>> {
    let mut picks = Vec::new();
    let this_page = |candidate: &str| candidate == item;
    if !category.is_empty() {
        fill(
            &mut picks,
            lists.popular(category),
            limit,
            &this_page,
            Reason::PopularIn(category),
        );
    }
    fill(
        &mut picks,
        lists.popular(""),
        limit,
        &this_page,
        Reason::SitePopular,
    );
    picks
}

/// Adds the items of `list` not excluded nor picked yet, up to `limit`.
fn fill<'a>(
    picks: &mut Vec<Pick<'a>>,
    list: Option<&'a [ItemCount]>,
    limit: usize,
    excluded: &dyn Fn(&str) -> bool,
    reason: Reason<'a>,
) {
    for count in list.into_iter().flatten() {
        if picks.len() >= limit {
            return;
        }
        if excluded(&count.item) || picks.iter().any(|p| p.item == count.item) {
            continue;
        }
        picks.push(Pick {
            item: &count.item,
            reason,
            visitors: count.visitors,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Default)]
    struct Fixed {
        related: HashMap<String, Arc<[ItemCount]>>,
        popular: HashMap<String, Arc<[ItemCount]>>,
    }

    fn list(items: &[(&str, u32)]) -> Arc<[ItemCount]> {
        items
            .iter()
            .map(|&(item, visitors)| ItemCount {
                item: item.into(),
                visitors,
            })
            .collect()
    }

    impl Lists for Fixed {
        fn related(&self, item: &str) -> Option<&[ItemCount]> {
            self.related.get(item).map(|l| &**l)
        }
        fn popular(&self, category: &str) -> Option<&[ItemCount]> {
            self.popular.get(category).map(|l| &**l)
        }
    }

    fn lists() -> Fixed {
        let mut lists = Fixed::default();
        lists
            .related
            .insert("r2".into(), list(&[("r7", 12), ("r3", 11), ("r1", 30)]));
        lists
            .related
            .insert("r1".into(), list(&[("r3", 5), ("r9", 10)]));
        lists
            .popular
            .insert("shoes".into(), list(&[("r2", 40), ("r8", 31), ("r7", 20)]));
        lists
            .popular
            .insert(String::new(), list(&[("h1", 50), ("r8", 9)]));
        lists
    }

    /// Each pick as (item, its reason's sentence, visitors).
    fn items<'a>(picks: &[Pick<'a>]) -> Vec<(&'a str, String, u32)> {
        picks
            .iter()
            .map(|p| (p.item, p.reason.to_string(), p.visitors))
            .collect()
    }

    fn expected<'a>(picks: &[(&'a str, &str, u32)]) -> Vec<(&'a str, String, u32)> {
        picks
            .iter()
            .map(|&(item, reason, visitors)| (item, reason.to_owned(), visitors))
            .collect()
    }

    #[test]
    fn related_lists_merge_minus_what_was_viewed_then_popular_fills() {
        let recent = ["r2".to_owned(), "r1".to_owned()];
        let lists = lists();
        let picks = personal(&lists, &recent, Some("shoes"), 6);
        assert_eq!(
            items(&picks),
            expected(&[
                ("r3", "because you viewed r2", 16),
                ("r7", "because you viewed r2", 12),
                ("r9", "because you viewed r1", 10),
                ("r8", "in your interest: shoes", 31),
                ("h1", "popular on this site now", 50),
            ])
        );
        let two = personal(&lists, &recent, Some("shoes"), 2);
        assert_eq!(two.len(), 2);
    }

    proptest::proptest! {
        /// Only the best `limit` related items are sorted: asking for fewer
        /// gives exactly the beginning of a longer answer, whatever the
        /// lists, overlaps and ties.
        #[test]
        fn a_shorter_answer_is_the_beginning_of_a_longer_one(
            related in proptest::collection::vec(
                proptest::collection::vec((0u8..24, 1u32..5), 0..20), 0..8),
            limit in 1..MAX_LIMIT,
        ) {
            let mut lists = lists();
            let recent: Vec<String> = (0..related.len()).map(|i| format!("x{i}")).collect();
            for (from, list_items) in recent.iter().zip(&related) {
                let named: Vec<(String, u32)> =
                    list_items.iter().map(|&(i, v)| (format!("x{i}"), v)).collect();
                let borrowed: Vec<(&str, u32)> = named.iter().map(|(i, v)| (i.as_str(), *v)).collect();
                lists.related.insert(from.clone(), list(&borrowed));
            }
            let long = personal(&lists, &recent, Some("shoes"), MAX_LIMIT);
            let short = personal(&lists, &recent, Some("shoes"), limit);
            proptest::prop_assert_eq!(&short[..], &long[..limit.min(long.len())]);
            for pick in &long {
                proptest::prop_assert!(!recent.iter().any(|r| r == pick.item), "a viewed item was recommended");
            }
        }
    }

    #[test]
    fn a_visitor_without_items_gets_the_popular_ones_of_their_interest() {
        let lists = lists();
        let picks = personal(&lists, &[], Some("shoes"), 3);
        assert_eq!(
            items(&picks),
            expected(&[
                ("r2", "in your interest: shoes", 40),
                ("r8", "in your interest: shoes", 31),
                ("r7", "in your interest: shoes", 20),
            ])
        );
    }

    #[test]
    fn contextual_picks_exclude_the_page_itself() {
        let lists = lists();
        let picks = contextual(&lists, "shoes", "r2", 6);
        assert_eq!(
            items(&picks),
            expected(&[
                ("r8", "popular in shoes now", 31),
                ("r7", "popular in shoes now", 20),
                ("h1", "popular on this site now", 50),
            ])
        );
        let home = contextual(&lists, "", "", 1);
        assert_eq!(
            items(&home),
            expected(&[("h1", "popular on this site now", 50)])
        );
    }
}
