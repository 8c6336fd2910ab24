//! The deny-list of erased subjects every enricher and sink keeps
//! (`proto/README.md`, Erasure): read whole from `fiducia.privacy.v1` by a
//! [`follow`]er, like the collectors' consent ledger, so an erasure answered
//! by any collector is known to every instance of every stage. An event of
//! an erased subject still in Kafka is dropped wherever it is met; the
//! collectors deny new ones through their ledger.
//!
//! A request names its subject by visitor id or by user key
//! ([`fiducia_proto::privacy::user_key`]); an event is covered when either
//! of its identifiers is. Hashing a user id costs a SHA-256, so it is done
//! only for sites that have an erased user key at all.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use fiducia_proto::privacy::user_key;
use fiducia_proto::v1::{PrivacyRequest, PrivacyRequestKind};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::kafka::follow::{self, FollowSettings, FollowState};

/// Erased subjects by site.
#[derive(Debug, Default)]
struct Sets {
    visitors: HashMap<String, HashSet<String>>,
    users: HashMap<String, HashSet<String>>,
    /// Every erased `(site, visitor)`, in the order they came: how a stage
    /// holding per-visitor state finds the ones to forget since it last looked.
    visitor_log: Vec<(String, String)>,
}

/// The erased subjects, shared by a stage's tasks.
#[derive(Debug, Default)]
pub struct Erased {
    sets: RwLock<Sets>,
    /// Requests applied so far: a reader that saw it change knows a request
    /// it waits for may be in.
    applied: AtomicU64,
}

impl Erased {
    /// Adds the subject of `request` when it is an erasure; other kinds
    /// and requests without a subject change nothing.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    pub fn apply(&self, request: &PrivacyRequest) {
        if request.kind() != PrivacyRequestKind::Erasure || request.site_id.is_empty() {
            return;
        }
        let mut guard = self.sets.write().expect("not poisoned");
        let sets = &mut *guard;
        let mut new = 0;
        for (set, id) in [
            (&mut sets.visitors, &request.subject),
            (&mut sets.users, &request.user_key),
        ] {
            if !id.is_empty()
                && set
                    .entry(request.site_id.clone())
                    .or_default()
                    .insert(id.clone())
            {
                new += 1;
            }
        }
        // A request read again (a follower re-reads the topic after losing
        // every broker, a retried request) changes nothing.
        if new > 0 && !request.subject.is_empty() {
            sets.visitor_log
                .push((request.site_id.clone(), request.subject.clone()));
        }
        self.applied.fetch_add(new, Ordering::Release);
    }

    /// Whether an event of `site` with `visitor_id` and `user_id` (either
    /// may be empty) belongs to an erased subject.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    #[must_use]
    pub fn covers(&self, site: &str, visitor_id: &str, user_id: &str) -> bool {
        let sets = self.sets.read().expect("not poisoned");
        if !visitor_id.is_empty()
            && sets
                .visitors
                .get(site)
                .is_some_and(|set| set.contains(visitor_id))
        {
            return true;
        }
        !user_id.is_empty()
            && sets
                .users
                .get(site)
                .is_some_and(|set| set.contains(&user_key(site, user_id)))
    }

    /// Whether the subject of `request` (an erasure) is in the list.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    #[must_use]
    pub fn contains(&self, request: &PrivacyRequest) -> bool {
        let sets = self.sets.read().expect("not poisoned");
        let has = |set: &HashMap<String, HashSet<String>>, id: &str| {
            set.get(&request.site_id).is_some_and(|s| s.contains(id))
        };
        (!request.subject.is_empty() && has(&sets.visitors, &request.subject))
            || (!request.user_key.is_empty() && has(&sets.users, &request.user_key))
    }

    /// The erased `(site, visitor)` pairs from position `from` of the log
    /// on, and the position to ask from next time.
    ///
    /// # Panics
    /// If a thread panicked while holding the lock.
    #[must_use]
    pub fn visitors_since(&self, from: usize) -> (Vec<(String, String)>, usize) {
        let sets = self.sets.read().expect("not poisoned");
        let log = &sets.visitor_log;
        (log.get(from..).unwrap_or_default().to_vec(), log.len())
    }

    /// Subjects erased (visitor ids and user keys, each counted once).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Whether no erasure was applied yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Starts following `topic` (the privacy topic) into `erased`; the
/// returned state says when every request the topic held at start-up is in
/// (a stage must not be ready before: it could pass an erased subject's
/// events). `lag_metric` is the stage's gauge of requests still to read.
#[must_use]
pub fn spawn(
    erased: Arc<Erased>,
    brokers: &str,
    topic: &str,
    client_id: &str,
    lag_metric: &'static str,
    shutdown: CancellationToken,
) -> Arc<FollowState> {
    let settings = FollowSettings::whole_topic(brokers, topic, client_id, lag_metric);
    let apply = move |payload: &[u8]| match PrivacyRequest::decode(payload) {
        Ok(request) => erased.apply(&request),
        Err(error) => tracing::warn!(%error, "undecodable privacy request skipped"),
    };
    follow::spawn(settings, apply, shutdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erasure(site: &str, subject: &str, user_key: &str) -> PrivacyRequest {
        PrivacyRequest {
            site_id: site.into(),
            subject: subject.into(),
            user_key: user_key.into(),
            kind: PrivacyRequestKind::Erasure.into(),
            ..PrivacyRequest::default()
        }
    }

    #[test]
    fn an_erased_visitor_is_covered_on_its_site_only() {
        let erased = Erased::default();
        erased.apply(&erasure("shop", "v1", ""));
        assert!(erased.covers("shop", "v1", ""));
        assert!(erased.covers("shop", "v1", "someone"));
        assert!(!erased.covers("blog", "v1", ""));
        assert!(!erased.covers("shop", "v2", ""));
        assert!(!erased.covers("shop", "", ""));
    }

    #[test]
    fn an_erased_user_is_covered_by_user_id_under_any_visitor_id() {
        let erased = Erased::default();
        erased.apply(&erasure("shop", "", &user_key("shop", "u-42")));
        assert!(erased.covers("shop", "v9", "u-42"));
        assert!(erased.covers("shop", "", "u-42"));
        assert!(!erased.covers("shop", "v9", "u-43"));
        assert!(!erased.covers("blog", "v9", "u-42"));
    }

    #[test]
    fn access_requests_erase_nothing() {
        let erased = Erased::default();
        let mut access = erasure("shop", "v1", "");
        access.kind = PrivacyRequestKind::Access.into();
        erased.apply(&access);
        assert!(!erased.covers("shop", "v1", ""));
        assert!(erased.is_empty());
        assert!(!erased.contains(&erasure("shop", "v1", "")));
        erased.apply(&erasure("shop", "v1", ""));
        assert!(erased.contains(&erasure("shop", "v1", "")));
        assert_eq!(erased.len(), 1);
    }

    #[test]
    fn a_request_read_again_changes_nothing() {
        let erased = Erased::default();
        erased.apply(&erasure("shop", "v1", ""));
        erased.apply(&erasure("shop", "v1", ""));
        assert_eq!(erased.len(), 1);
        assert_eq!(erased.visitors_since(0).0.len(), 1);
    }

    #[test]
    fn the_visitor_log_hands_out_each_erasure_once() {
        let erased = Erased::default();
        erased.apply(&erasure("shop", "v1", ""));
        erased.apply(&erasure("shop", "", "key"));
        let (first, next) = erased.visitors_since(0);
        assert_eq!(first, [("shop".to_owned(), "v1".to_owned())]);
        erased.apply(&erasure("blog", "v2", ""));
        let (second, next) = erased.visitors_since(next);
        assert_eq!(second, [("blog".to_owned(), "v2".to_owned())]);
        assert!(erased.visitors_since(next).0.is_empty());
        assert!(erased.visitors_since(99).0.is_empty());
    }
}
