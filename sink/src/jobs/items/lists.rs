//! Item lists as the topic holds them: their keys, what makes two versions
//! of a list the same, and what a refresh has to publish to turn the
//! topic's lists into the ones just computed ([`Published::changes`]):
//! every list that is new or changed, and a tombstone for every list that
//! is gone (it fell below k, its item was not viewed within the window).
//! Lists that did not change are not published again: the topic stays
//! small, and so does the collectors' work following it.

use std::collections::BTreeMap;

use fiducia_proto::v1::{ItemCount, ItemList, ItemListKind};
use prost::Message;

/// Most items in a list, best first.
pub const MAX_ITEMS: usize = 20;

/// The key part naming `kind`; `None` for the unspecified kind.
#[must_use]
pub fn kind_name(kind: ItemListKind) -> Option<&'static str> {
    match kind {
        ItemListKind::Related => Some("related"),
        ItemListKind::Popular => Some("popular"),
        ItemListKind::Unspecified => None,
    }
}

/// `<site>/related/<item>` or `<site>/popular/<category>` (`<site>/popular/`
/// for the whole site). Site ids hold no `/`, so the key reads back
/// unambiguously ([`kind_of_key`]) whatever the subject holds.
#[must_use]
pub fn key(site: &str, kind: ItemListKind, subject: &str) -> String {
    format!(
        "{site}/{}/{subject}",
        kind_name(kind).unwrap_or("unspecified")
    )
}

/// The kind a key names; `None` for a key this job never writes.
#[must_use]
pub fn kind_of_key(key: &str) -> Option<ItemListKind> {
    let (_site, rest) = key.split_once('/')?;
    let (kind, _subject) = rest.split_once('/')?;
    [ItemListKind::Related, ItemListKind::Popular]
        .into_iter()
        .find(|k| kind_name(*k) == Some(kind))
}

/// Builds lists from rows `(subject, item, visitors)` sorted by subject
/// then rank, keeping the first [`MAX_ITEMS`] of each subject.
#[must_use]
pub fn from_rows(
    site: &str,
    kind: ItemListKind,
    min_visitors: u32,
    computed_at_ms: i64,
    rows: Vec<(String, String, u32)>,
) -> Vec<ItemList> {
    let mut lists: Vec<ItemList> = Vec::new();
    for (subject, item, visitors) in rows {
        if lists.last().is_none_or(|list| list.subject != subject) {
            lists.push(ItemList {
                site_id: site.to_owned(),
                kind: kind.into(),
                subject,
                items: Vec::new(),
                computed_at_ms,
                min_visitors,
            });
        }
        let list = lists.last_mut().expect("pushed above");
        if list.items.len() < MAX_ITEMS {
            list.items.push(ItemCount { item, visitors });
        }
    }
    lists
}

/// What a list says, without when it was computed: equal contents need no
/// new record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The items and their counts, in order.
    pub items: Vec<ItemCount>,
    /// The k they were counted with.
    pub min_visitors: u32,
}

impl From<&ItemList> for Content {
    fn from(list: &ItemList) -> Self {
        Self {
            items: list.items.clone(),
            min_visitors: list.min_visitors,
        }
    }
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The record's key ([`key`]).
    pub key: String,
    /// The list's kind, for the metrics.
    pub kind: ItemListKind,
    /// The new list, or `None` for a tombstone.
    pub list: Option<ItemList>,
}

impl Change {
    /// The record's payload: the encoded list, or nothing for a tombstone.
    #[must_use]
    pub fn payload(&self) -> Option<Vec<u8>> {
        self.list.as_ref().map(Message::encode_to_vec)
    }
}

/// The lists the topic holds, by key, as this sink last published or read them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Published(BTreeMap<String, Option<Content>>);

impl Published {
    /// Takes in one record read from the topic, oldest first: a list, or a
    /// tombstone (an empty payload) that removes the key. A payload that
    /// does not decode is held with unknown content, so the next refresh
    /// replaces it or tombstones it.
    pub fn learn(&mut self, key: &str, payload: Option<&[u8]>) {
        match payload.filter(|p| !p.is_empty()) {
            None => {
                self.0.remove(key);
            }
            Some(bytes) => {
                let content = ItemList::decode(bytes)
                    .ok()
                    .map(|list| Content::from(&list));
                self.0.insert(key.to_owned(), content);
            }
        }
    }

    /// What to publish so that the topic holds exactly `computed` (by
    /// key): lists new or different from what is held, then tombstones
    /// for held keys that `computed` lacks, each in key order.
    #[must_use]
    pub fn changes(&self, computed: BTreeMap<String, ItemList>) -> Vec<Change> {
        let tombstones: Vec<Change> = self
            .0
            .keys()
            .filter(|key| !computed.contains_key(*key))
            .map(|key| Change {
                key: key.clone(),
                kind: kind_of_key(key).unwrap_or(ItemListKind::Unspecified),
                list: None,
            })
            .collect();
        computed
            .into_iter()
            .filter(|(key, list)| {
                self.0
                    .get(key)
                    .is_none_or(|held| held.as_ref() != Some(&Content::from(list)))
            })
            .map(|(key, list)| Change {
                key,
                kind: list.kind(),
                list: Some(list),
            })
            .chain(tombstones)
            .collect()
    }

    /// Records that `change` was acknowledged by the broker.
    pub fn apply(&mut self, change: &Change) {
        match &change.list {
            Some(list) => {
                self.0.insert(change.key.clone(), Some(Content::from(list)));
            }
            None => {
                self.0.remove(&change.key);
            }
        }
    }

    /// How many lists of `kind` are held.
    #[must_use]
    pub fn count(&self, kind: ItemListKind) -> usize {
        self.0
            .keys()
            .filter(|key| kind_of_key(key) == Some(kind))
            .count()
    }

    /// Every key held, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(kind: ItemListKind, subject: &str, items: &[(&str, u32)]) -> ItemList {
        ItemList {
            site_id: "shop".into(),
            kind: kind.into(),
            subject: subject.into(),
            items: items
                .iter()
                .map(|(item, visitors)| ItemCount {
                    item: (*item).into(),
                    visitors: *visitors,
                })
                .collect(),
            computed_at_ms: 1,
            min_visitors: 10,
        }
    }

    fn by_key(lists: Vec<ItemList>) -> BTreeMap<String, ItemList> {
        lists
            .into_iter()
            .map(|l| (key(&l.site_id, l.kind(), &l.subject), l))
            .collect()
    }

    #[test]
    fn keys_name_the_site_the_kind_and_the_subject_and_read_back() {
        let related = key("shop", ItemListKind::Related, "sku/1");
        assert_eq!(related, "shop/related/sku/1");
        assert_eq!(kind_of_key(&related), Some(ItemListKind::Related));
        let site_wide = key("shop", ItemListKind::Popular, "");
        assert_eq!(site_wide, "shop/popular/");
        assert_eq!(kind_of_key(&site_wide), Some(ItemListKind::Popular));
        assert_eq!(kind_of_key("shop/other/x"), None);
        assert_eq!(kind_of_key("shop"), None);
    }

    #[test]
    fn rows_become_one_list_per_subject_of_at_most_twenty_items() {
        let mut rows = vec![
            ("a".to_owned(), "b".to_owned(), 12),
            ("a".to_owned(), "c".to_owned(), 11),
        ];
        rows.extend((0..25).map(|i| ("z".to_owned(), format!("i{i:02}"), 10)));
        let lists = from_rows("shop", ItemListKind::Related, 10, 7, rows);
        assert_eq!(lists.len(), 2);
        assert_eq!(
            lists[0],
            with_time(list(ItemListKind::Related, "a", &[("b", 12), ("c", 11)]), 7)
        );
        assert_eq!(lists[1].items.len(), MAX_ITEMS);
        assert_eq!(lists[1].items[19].item, "i19");
    }

    fn with_time(mut list: ItemList, at: i64) -> ItemList {
        list.computed_at_ms = at;
        list
    }

    #[test]
    fn a_first_refresh_publishes_every_list() {
        let computed = by_key(vec![
            list(ItemListKind::Related, "a", &[("b", 10)]),
            list(ItemListKind::Popular, "", &[("a", 30)]),
        ]);
        let changes = Published::default().changes(computed);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["shop/popular/", "shop/related/a"]);
        assert!(changes.iter().all(|c| c.list.is_some()));
    }

    #[test]
    fn an_unchanged_list_is_not_published_again_even_computed_later() {
        let mut published = Published::default();
        let first = list(ItemListKind::Related, "a", &[("b", 10)]);
        for change in published.changes(by_key(vec![first.clone()])) {
            published.apply(&change);
        }
        let later = with_time(first.clone(), 99);
        assert!(published.changes(by_key(vec![later])).is_empty());
        let grown = list(ItemListKind::Related, "a", &[("b", 11)]);
        assert_eq!(published.changes(by_key(vec![grown])).len(), 1);
    }

    #[test]
    fn a_list_no_longer_computed_gets_a_tombstone_and_is_forgotten_once_acknowledged() {
        let mut published = Published::default();
        published.learn(
            "shop/related/a",
            Some(&list(ItemListKind::Related, "a", &[("b", 10)]).encode_to_vec()),
        );
        published.learn(
            "shop/popular/shoes",
            Some(&list(ItemListKind::Popular, "shoes", &[("b", 10)]).encode_to_vec()),
        );
        let changes = published.changes(by_key(vec![list(
            ItemListKind::Popular,
            "shoes",
            &[("b", 10)],
        )]));
        assert_eq!(
            changes,
            [Change {
                key: "shop/related/a".into(),
                kind: ItemListKind::Related,
                list: None,
            }]
        );
        assert_eq!(changes[0].payload(), None);
        published.apply(&changes[0]);
        assert_eq!(published.keys().collect::<Vec<_>>(), ["shop/popular/shoes"]);
        assert_eq!(published.count(ItemListKind::Related), 0);
        assert_eq!(published.count(ItemListKind::Popular), 1);
    }

    #[test]
    fn what_the_topic_holds_is_its_latest_record_per_key() {
        let mut published = Published::default();
        let payload = list(ItemListKind::Related, "a", &[("b", 10)]).encode_to_vec();
        published.learn("shop/related/a", Some(&payload));
        published.learn("shop/related/a", Some(&[]));
        published.learn("shop/related/c", Some(&payload));
        published.learn("shop/related/d", None);
        assert_eq!(published.keys().collect::<Vec<_>>(), ["shop/related/c"]);
        // Unreadable: held, so it is replaced or tombstoned.
        published.learn("shop/popular/x", Some(&[0xff, 0xff]));
        let changes = published.changes(BTreeMap::new());
        assert_eq!(changes.len(), 2);
        assert!(changes.iter().all(|c| c.list.is_none()));
    }
}
