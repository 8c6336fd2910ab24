//! The profiles and item lists a collector answers from, in memory, fed by
//! the whole-topic followers of [`super::follow`] and never by a query per
//! request.
//!
//! A profile is held as its encoded protobuf without the site and visitor
//! ids (they are the key), and decoded per request: about 130 bytes for a
//! typical profile against about 1 KB decoded (`benches/README.md`, memory
//! per profile). The map is split in shards so readers of one visitor never
//! wait for a writer of another. Keys are hashed with foldhash, seeded per
//! map: they are ids the pipeline wrote, and SipHash was a tenth of an answer.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use fiducia_proto::v1::{ItemCount, ItemList, ItemListKind, Profile};
use foldhash::fast::RandomState;
use prost::Message;

use super::items::Lists;

/// Shards of the profile map (a power of two).
const SHARDS: usize = 64;

/// The key of a visitor's profile, as the profiles topic keys it.
#[must_use]
pub fn profile_key(site: &str, visitor: &str) -> String {
    let mut key = String::with_capacity(site.len() + 1 + visitor.len());
    key.push_str(site);
    key.push('/');
    key.push_str(visitor);
    key
}

type Shard = RwLock<HashMap<Box<str>, Box<[u8]>, RandomState>>;

/// Every visitor's profile, by `<site>/<visitor>`.
#[derive(Debug)]
pub struct ProfileStore {
    shards: Box<[Shard]>,
    hasher: RandomState,
    held: AtomicUsize,
}

impl Default for ProfileStore {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: RandomState::default(),
            held: AtomicUsize::new(0),
        }
    }
}

impl ProfileStore {
    fn shard(&self, key: &str) -> &Shard {
        // Truncation is the point: the low bits pick the shard.
        #[allow(clippy::cast_possible_truncation)]
        let index = self.hasher.hash_one(key) as usize & (SHARDS - 1);
        &self.shards[index]
    }

    /// Holds `profile` under `key` (`<site>/<visitor>`), replacing what was.
    pub fn insert(&self, key: &str, mut profile: Profile) {
        profile.site_id.clear();
        profile.visitor_id.clear();
        let encoded = profile.encode_to_vec().into_boxed_slice();
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.insert(key.into(), encoded).is_none() {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets the profile under `key`; whether there was one.
    pub fn remove(&self, key: &str) -> bool {
        let removed = self
            .shard(key)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key)
            .is_some();
        if removed {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// The profile under `key`, decoded.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Profile> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Profile::decode(&**shard.get(key)?).ok()
    }

    /// Profiles held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether none is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One site's item lists.
#[derive(Debug, Default)]
struct SiteLists {
    related: HashMap<String, Box<[ItemCount]>, RandomState>,
    popular: HashMap<String, Box<[ItemCount]>, RandomState>,
}

/// Every site's item lists: related items by item, popular items by
/// category (`""`: the whole site).
#[derive(Debug, Default)]
pub struct ItemStore {
    sites: RwLock<HashMap<String, SiteLists, RandomState>>,
}

/// One site's item lists as an answer reads them ([`ItemStore::site`]).
pub struct SiteView<'a> {
    sites: RwLockReadGuard<'a, HashMap<String, SiteLists, RandomState>>,
    site: &'a str,
}

impl Lists for SiteView<'_> {
    fn related(&self, item: &str) -> Option<&[ItemCount]> {
        self.sites.get(self.site)?.related.get(item).map(|l| &**l)
    }

    fn popular(&self, category: &str) -> Option<&[ItemCount]> {
        self.sites
            .get(self.site)?
            .popular
            .get(category)
            .map(|l| &**l)
    }
}

/// What an items topic key names: `<site>/related/<item>` or
/// `<site>/popular/<category>`.
#[must_use]
pub fn parse_items_key(key: &str) -> Option<(&str, ItemListKind, &str)> {
    let mut parts = key.splitn(3, '/');
    let site = parts.next().filter(|s| !s.is_empty())?;
    let kind = match parts.next()? {
        "related" => ItemListKind::Related,
        "popular" => ItemListKind::Popular,
        _ => return None,
    };
    Some((site, kind, parts.next()?))
}

impl ItemStore {
    /// Holds `list` under `key`, or forgets the list under `key` (`None`:
    /// a tombstone). Whether the key named a list.
    pub fn apply(&self, key: &str, list: Option<&ItemList>) -> bool {
        let Some((site, kind, subject)) = parse_items_key(key) else {
            return false;
        };
        let mut sites = self
            .sites
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let lists = sites.entry(site.to_owned()).or_default();
        let map = match kind {
            ItemListKind::Related => &mut lists.related,
            _ => &mut lists.popular,
        };
        match list {
            Some(list) => {
                map.insert(subject.to_owned(), list.items.clone().into());
            }
            None => {
                map.remove(subject);
            }
        }
        true
    }

    /// `site`'s lists, read under one lock for one answer: the follower's
    /// updates wait for the answer, and the answer never waits twice.
    #[must_use]
    pub fn site<'a>(&'a self, site: &'a str) -> SiteView<'a> {
        SiteView {
            sites: self
                .sites
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            site,
        }
    }

    /// Lists held, over all sites.
    #[must_use]
    pub fn len(&self) -> usize {
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites
            .values()
            .map(|l| l.related.len() + l.popular.len())
            .sum()
    }

    /// Whether none is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiducia_proto::v1::Interest;

    #[test]
    fn profiles_are_held_without_their_ids_and_forgotten_by_key() {
        let store = ProfileStore::default();
        let profile = Profile {
            site_id: "demo".into(),
            visitor_id: "v-1".into(),
            events: 3,
            interests: vec![Interest {
                category: "shoes".into(),
                score: 1.5,
                last_seen_ms: 1,
            }],
            ..Profile::default()
        };
        let key = profile_key("demo", "v-1");
        store.insert(&key, profile.clone());
        store.insert(&key, profile);
        assert_eq!(store.len(), 1);
        let held = store.get(&key).unwrap();
        assert_eq!((held.events, held.site_id.as_str()), (3, ""));
        assert!(store.get("demo/v-2").is_none());
        assert!(store.remove(&key));
        assert!(!store.remove(&key));
        assert!(store.is_empty());
    }

    #[test]
    fn item_keys_name_a_site_a_kind_and_a_subject() {
        assert_eq!(
            parse_items_key("demo/related/a/b"),
            Some(("demo", ItemListKind::Related, "a/b"))
        );
        assert_eq!(
            parse_items_key("demo/popular/"),
            Some(("demo", ItemListKind::Popular, ""))
        );
        assert_eq!(parse_items_key("demo/other/x"), None);
        assert_eq!(parse_items_key("/related/x"), None);
        assert_eq!(parse_items_key("demo"), None);
    }

    #[test]
    fn item_lists_are_replaced_and_removed_by_tombstones() {
        let store = ItemStore::default();
        let list = |n| ItemList {
            items: vec![ItemCount {
                item: "x".into(),
                visitors: n,
            }],
            ..ItemList::default()
        };
        assert!(store.apply("demo/popular/shoes", Some(&list(10))));
        assert!(store.apply("demo/popular/shoes", Some(&list(12))));
        assert_eq!(store.site("demo").popular("shoes").unwrap()[0].visitors, 12);
        assert_eq!(store.len(), 1);
        assert!(store.apply("demo/popular/shoes", None));
        assert!(store.site("demo").popular("shoes").is_none());
        assert!(store.site("other").related("x").is_none());
    }
}
