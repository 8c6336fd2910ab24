//! The `GET /v1/profile` scenario's data, shared by the server
//! (`fiducia-profile-server`) and the micro-benchmark of the answers
//! (`benches/benches/profile_answer.rs`), so both measure the same thing:
//! typical profiles, the item lists of one site and that site's rules.

use fiducia_collector::profile::Stores;
use fiducia_collector::profile::consent::Basis;
use fiducia_proto::v1::{Interest, ItemCount, ItemList, Profile};

/// The page categories profiles are interested in.
pub const CATEGORIES: [&str; 6] = ["shoes", "hats", "bags", "socks", "coats", "belts"];

/// The site `demo`: one origin, a time zone, a category and an item rule,
/// two segments.
pub const SITES_TOML: &str = "[sites.demo.collect]\nallowed_origins = [\"http://127.0.0.1:8000\"]\n\
     [sites.demo.enrich]\ntime_zone = \"Europe/Rome\"\n\
     [[sites.demo.enrich.categories]]\nname = \"shoes\"\npath_prefix = \"/p/shoes/\"\n\
     [[sites.demo.enrich.items]]\npath_regex = \"^/p/[^/]+/([^/]+)\"\n\
     [[sites.demo.personalization.segments]]\nname = \"shoe lover\"\ninterest = \"shoes\"\n\
     [[sites.demo.personalization.segments]]\nname = \"returning visitor\"\nmin_sessions = 2\n";

/// Visitor `i`'s profile at `now`: three interests, eight recent items, a
/// campaign (222 bytes encoded).
#[must_use]
pub fn profile(i: usize, now: i64) -> Profile {
    Profile {
        interests: (0..3)
            .map(|k| Interest {
                category: CATEGORIES[(i + k) % CATEGORIES.len()].into(),
                score: 1.0 + f64::from(u8::try_from(k).unwrap_or(0)) * 0.75,
                last_seen_ms: now - 3_600_000,
            })
            .collect(),
        scores_at_ms: now - 3_600_000,
        recent_items: (0..8)
            .map(|k| format!("item-{}", (i * 7 + k) % 5_000))
            .collect(),
        first_seen_ms: now - 86_400_000,
        last_seen_ms: now - 3_600_000,
        events: 12,
        sessions: 2,
        last_campaign: "winter-sale".into(),
        device: "mobile".into(),
        raw_partition: 1,
        raw_offset: 123_456_789,
        updated_at_ms: now - 3_600_000,
        begun_at_ms: now - 86_400_000,
        ..Profile::default()
    }
}

/// The consent a bench visitor's personal answer cites: granted two days
/// before `now`, last recorded one day before.
#[must_use]
pub fn basis(now: i64) -> Basis {
    Basis {
        record_id: [7; 16],
        record_at_ms: now - 86_400_000,
        granted_since_ms: now - 2 * 86_400_000,
    }
}

/// Fills `stores` with site `demo`'s item lists: 20 related items for each
/// of 5,000 items, 20 popular ones per category and site-wide.
pub fn item_lists(stores: &Stores) {
    let list = |k: usize| ItemList {
        items: (0..20)
            .map(|j| ItemCount {
                item: format!("item-{}", (k * 13 + j) % 5_000),
                visitors: 100 - u32::try_from(j).unwrap_or(0),
            })
            .collect(),
        ..ItemList::default()
    };
    for k in 0..5_000 {
        stores
            .items
            .apply(&format!("demo/related/item-{k}"), Some(&list(k)));
    }
    for (k, c) in CATEGORIES.iter().enumerate() {
        stores
            .items
            .apply(&format!("demo/popular/{c}"), Some(&list(k)));
    }
    stores.items.apply("demo/popular/", Some(&list(99)));
}
