//! Keeps the [`Stores`] current: every collector follows the whole
//! profiles and items topics (compacted, no consumer group, like the
//! consent ledger), and the ledger tells the profile store of every record
//! it applies, so a withdrawal or an erasure drops the visitor's profile at
//! once, on the collector that recorded it as soon as Kafka acknowledged it,
//! on the others as soon as their ledger reads it — without waiting for the
//! enricher's tombstone.

use std::sync::Arc;
use std::time::Duration;

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{ItemList, Profile};
use fiducia_runtime::kafka::follow::{FollowSettings, FollowState, follow_keyed};
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::Stores;
use super::store::{ItemStore, ProfileStore};
use crate::consent::ledger::{Entry, Ledger};
use crate::metrics;

/// Whether an entry leaves the visitor's profile without a use: erased, or
/// personalization not granted by the latest record.
#[must_use]
pub fn forgets(entry: &Entry) -> bool {
    entry.granted_since(Purpose::Personalization).is_none()
}

/// Tells `profiles` of every record `ledger` applies: a visitor whose
/// entry [`forgets`] personalization loses their profile now.
pub fn drop_on_withdrawal(ledger: &Ledger, profiles: Arc<ProfileStore>) {
    let dropped = ::metrics::counter!(metrics::PROFILE_RECORDS, "store" => "profiles", "outcome" => "dropped_by_consent");
    let held = ::metrics::gauge!(metrics::PROFILES_HELD);
    let observer = Arc::new(move |site: &str, subject: &str, entry: &Entry| {
        if forgets(entry) && profiles.remove(&super::store::profile_key(site, subject)) {
            dropped.increment(1);
            #[allow(clippy::cast_precision_loss)] // a gauge
            held.set(profiles.len() as f64);
        }
    });
    if ledger.observe(observer).is_err() {
        tracing::error!(
            "the consent ledger already has an observer; profiles are not dropped on withdrawal"
        );
    }
}

/// A profiles topic message that names no visitor or does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusable;

/// Applies one profiles topic message: a profile replaces, a tombstone
/// removes, and a profile of a visitor the ledger says has no
/// personalization is not held. Whether the message was usable.
pub fn apply_profile(
    profiles: &ProfileStore,
    ledger: &Ledger,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    now_ms: i64,
) -> Result<bool, Unusable> {
    let key = key
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or(Unusable)?;
    let (site, visitor) = key.split_once('/').ok_or(Unusable)?;
    let Some(payload) = payload else {
        return Ok(profiles.remove(key));
    };
    let profile = Profile::decode(payload).map_err(|_| Unusable)?;
    #[allow(clippy::cast_precision_loss)] // seconds of freshness
    ::metrics::histogram!(metrics::PROFILE_FRESHNESS)
        .record((now_ms - profile.updated_at_ms).max(0) as f64 / 1000.0);
    if ledger.get(site, visitor).is_some_and(|e| forgets(&e)) {
        profiles.remove(key);
        return Ok(false);
    }
    profiles.insert(key, profile);
    Ok(true)
}

/// Starts both followers; the returned states say when each store holds
/// its whole topic.
#[must_use]
pub fn spawn(
    stores: &Stores,
    ledger: Arc<Ledger>,
    brokers: &str,
    topics: &fiducia_proto::topics::Topics,
    shutdown: &CancellationToken,
) -> (Arc<FollowState>, Arc<FollowState>) {
    let profiles = Arc::clone(&stores.profiles);
    let held = ::metrics::gauge!(metrics::PROFILES_HELD);
    let profiles_state = start(
        FollowSettings::whole_topic(
            brokers,
            &topics.profiles,
            "fiducia-collector-profiles",
            metrics::PROFILES_LAG,
        ),
        "profiles",
        move |key, payload| {
            let now = fiducia_proto::time::now_ms();
            let usable = apply_profile(&profiles, &ledger, key, payload, now).is_ok();
            #[allow(clippy::cast_precision_loss)] // a gauge
            held.set(profiles.len() as f64);
            usable
        },
        shutdown,
    );
    let items = Arc::clone(&stores.items);
    let lists = ::metrics::gauge!(metrics::ITEM_LISTS_HELD);
    let items_state = start(
        FollowSettings::whole_topic(
            brokers,
            &topics.items,
            "fiducia-collector-items",
            metrics::ITEM_LISTS_LAG,
        ),
        "items",
        move |key, payload| {
            let usable = apply_items(&items, key, payload);
            #[allow(clippy::cast_precision_loss)] // a gauge
            lists.set(items.len() as f64);
            usable
        },
        shutdown,
    );
    spawn_caught_up_gauge(&profiles_state, &items_state, shutdown);
    (profiles_state, items_state)
}

/// Follows one topic into `store` with `apply` (whether a message was
/// usable), counting messages by outcome.
fn start(
    settings: FollowSettings,
    store: &'static str,
    mut apply: impl FnMut(Option<&[u8]>, Option<&[u8]>) -> bool + Send + 'static,
    shutdown: &CancellationToken,
) -> Arc<FollowState> {
    let state = Arc::new(FollowState::default());
    let outcome = |o: &'static str| ::metrics::counter!(metrics::PROFILE_RECORDS, "store" => store, "outcome" => o);
    let (applied, invalid) = (outcome("applied"), outcome("invalid"));
    let counted = move |key: Option<&[u8]>, payload: Option<&[u8]>| {
        if apply(key, payload) {
            applied.increment(1);
        } else {
            invalid.increment(1);
        }
    };
    tokio::spawn(follow_keyed(
        settings,
        counted,
        Arc::clone(&state),
        shutdown.clone(),
    ));
    state
}

/// Applies one items topic message; whether it was usable.
pub fn apply_items(items: &ItemStore, key: Option<&[u8]>, payload: Option<&[u8]>) -> bool {
    let Some(key) = key.and_then(|k| std::str::from_utf8(k).ok()) else {
        return false;
    };
    match payload.map(ItemList::decode) {
        None => items.apply(key, None),
        Some(Ok(list)) => items.apply(key, Some(&list)),
        Some(Err(_)) => false,
    }
}

/// Publishes whether each follower has caught up, every second.
fn spawn_caught_up_gauge(
    profiles: &Arc<FollowState>,
    items: &Arc<FollowState>,
    shutdown: &CancellationToken,
) {
    let (profiles, items, shutdown) = (Arc::clone(profiles), Arc::clone(items), shutdown.clone());
    let gauge = |store: &'static str| ::metrics::gauge!(metrics::PROFILE_FOLLOWERS_CAUGHT_UP, "store" => store);
    let (p, i) = (gauge("profiles"), gauge("items"));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    p.set(f64::from(u8::from(profiles.is_caught_up())));
                    i.set(f64::from(u8::from(items.is_caught_up())));
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::testing::record;
    use fiducia_proto::v1::ConsentAction;

    const P: Purpose = Purpose::Personalization;

    #[test]
    fn a_withdrawal_or_an_erasure_drops_the_profile_at_once() {
        for (action, granted) in [
            (ConsentAction::Withdraw, &[Purpose::Measurement][..]),
            (ConsentAction::Erase, &[][..]),
        ] {
            let ledger = Ledger::default();
            let profiles = Arc::new(ProfileStore::default());
            drop_on_withdrawal(&ledger, Arc::clone(&profiles));
            ledger.apply(&record("v-1", ConsentAction::Grant, &[P], 100));
            let payload = Profile::default().encode_to_vec();
            let applied = apply_profile(&profiles, &ledger, Some(b"demo/v-1"), Some(&payload), 200);
            assert_eq!(applied, Ok(true));
            assert_eq!(profiles.len(), 1);
            ledger.apply(&record("v-1", action, granted, 300));
            assert!(profiles.is_empty(), "{action:?}");
            // A profile the enricher wrote before it saw the withdrawal is not held.
            let late = apply_profile(&profiles, &ledger, Some(b"demo/v-1"), Some(&payload), 400);
            assert_eq!(late, Ok(false));
            assert!(profiles.is_empty());
        }
    }

    #[test]
    fn tombstones_remove_and_garbage_is_refused() {
        let ledger = Ledger::default();
        let profiles = ProfileStore::default();
        let payload = Profile::default().encode_to_vec();
        assert_eq!(
            apply_profile(&profiles, &ledger, Some(b"demo/v-1"), Some(&payload), 0),
            Ok(true)
        );
        assert_eq!(
            apply_profile(&profiles, &ledger, Some(b"demo/v-1"), None, 0),
            Ok(true)
        );
        assert!(profiles.is_empty());
        assert_eq!(
            apply_profile(&profiles, &ledger, None, Some(&payload), 0),
            Err(Unusable)
        );
        assert_eq!(
            apply_profile(&profiles, &ledger, Some(b"no-slash"), None, 0),
            Err(Unusable)
        );
        assert_eq!(
            apply_profile(&profiles, &ledger, Some(b"demo/v"), Some(b"\xff\xff"), 0),
            Err(Unusable)
        );
        let items = ItemStore::default();
        let list = ItemList::default().encode_to_vec();
        assert!(apply_items(&items, Some(b"demo/popular/"), Some(&list)));
        assert!(!apply_items(&items, Some(b"demo/nope/x"), Some(&list)));
        assert!(apply_items(&items, Some(b"demo/popular/"), None));
    }
}
