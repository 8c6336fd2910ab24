//! Personalization, the collector's half (SPEC section 8,
//! `collector/README.md`, Profiles): the visitors' profiles and the sites'
//! item lists held in memory from their compacted topics, the consent rule
//! that decides whether an answer may be personal, and the two answers of
//! `GET /v1/profile` (the route is [`crate::routes::profile`]).
//!
//! * [`store`]: profiles by `<site>/<visitor>`, item lists by subject;
//! * [`follow`]: the whole-topic followers that feed them, and the hook by
//!   which the consent ledger drops a profile the moment personalization is
//!   withdrawn or the visitor erased;
//! * [`consent`]: the rule, pure;
//! * [`tokens`]: visitor tokens verified once;
//! * [`page`]: the request's context (category, referrer, device, time);
//! * [`segments`], [`items`], [`answer`]: what is answered, and why.

pub mod answer;
pub mod consent;
pub mod follow;
pub mod items;
pub mod page;
pub mod segments;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use store::{ItemStore, ProfileStore};

/// The stores an answer is read from, and whether each has read its
/// whole topic.
#[derive(Clone)]
pub struct Stores {
    /// Visitor profiles.
    pub profiles: Arc<ProfileStore>,
    /// Item lists.
    pub items: Arc<ItemStore>,
    /// Whether the profiles store holds every record its topic held at
    /// start-up: until then, answers are contextual.
    pub profiles_caught_up: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Visitor tokens already verified.
    pub tokens: Arc<tokens::TokenCache>,
}

impl Default for Stores {
    fn default() -> Self {
        Self {
            profiles: Arc::default(),
            items: Arc::default(),
            profiles_caught_up: Arc::new(|| true),
            tokens: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("profiles", &self.profiles.len())
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}
