//! Item lists for personalization (SPEC section 8, "visitors who viewed
//! this also viewed"), computed from ClickHouse every
//! `FIDUCIA_SINK_ITEM_LISTS_INTERVAL_SECONDS` and published to the
//! compacted `topics.items`, which every collector follows whole to answer
//! `GET /v1/profile` from memory:
//!
//! * `<site>/related/<item>`: the items viewed by visitors who also viewed
//!   `<item>`, with how many distinct visitors viewed both;
//! * `<site>/popular/<category>`: the items viewed by the most distinct
//!   visitors in the last days, per page category (`<site>/popular/` for
//!   the whole site).
//!
//! Only pairs and items shared by at least k distinct visitors (the site's
//! `personalization.min_visitors`) are listed, so no list says anything
//! about one person; only visitors who granted personalization and have not
//! withdrawn it or been erased are counted ([`queries`]). A list that falls
//! below k gets a tombstone ([`lists::Published::changes`]); a list that did
//! not change is not published again. A refresh that fails (ClickHouse or
//! Kafka) is logged and counted, and the next one tries again: the sink
//! carries on.

pub mod config;
pub mod lists;
pub mod queries;
pub mod topic;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clickhouse::Client;
use fiducia_proto::v1::{ItemList, ItemListKind};
use fiducia_runtime::kafka::scan::ScanError;
use tokio_util::sync::CancellationToken;

pub use self::config::ItemListsConfig;
use self::lists::{Published, from_rows, key, kind_name};
use self::topic::ItemListTopic;
use crate::metrics;
use crate::schema::render;

/// How long shutdown waits for records in flight.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The kinds of lists, and the `kind` label values of the item list metrics.
pub const KINDS: [ItemListKind; 2] = [ItemListKind::Related, ItemListKind::Popular];

/// Why a refresh did not finish; the next one tries again.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// A query failed: nothing was published.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// The topic could not be read back.
    #[error("{0}")]
    Scan(#[from] ScanError),
    /// Reading the topic back stopped abnormally.
    #[error("reading the item lists topic: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Some records were not acknowledged (those that were count as published).
    #[error("{failed} of {sent} item list records not acknowledged")]
    NotAcknowledged {
        /// Records the broker did not acknowledge.
        failed: usize,
        /// Records sent.
        sent: usize,
    },
}

impl RefreshError {
    /// The `reason` label of [`metrics::ITEM_LISTS_FAILURES`]: `clickhouse` or `kafka`.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ClickHouse(_) => "clickhouse",
            Self::Scan(_) | Self::Task(_) | Self::NotAcknowledged { .. } => "kafka",
        }
    }
}

/// What one refresh published.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Lists computed, by kind.
    pub computed: BTreeMap<&'static str, usize>,
    /// Lists published because they are new or changed, by kind.
    pub published: BTreeMap<&'static str, usize>,
    /// Tombstones published, by kind.
    pub tombstoned: BTreeMap<&'static str, usize>,
}

/// Computes and publishes the item lists of every configured site.
pub struct ItemListsJob {
    client: Client,
    database: String,
    config: ItemListsConfig,
    topic: ItemListTopic,
    /// What the topic holds; `None` until it was read back once.
    published: Option<Published>,
}

impl ItemListsJob {
    /// A job reading `database` on the server `client` talks to (no
    /// database selected) and writing `topic`.
    #[must_use]
    pub fn new(
        client: Client,
        database: &str,
        config: ItemListsConfig,
        topic: ItemListTopic,
    ) -> Self {
        Self {
            client,
            database: database.to_owned(),
            config,
            topic,
            published: None,
        }
    }

    /// Every site's lists as of now, by key.
    ///
    /// # Errors
    /// When a query fails.
    pub async fn compute(&self, now_ms: i64) -> Result<BTreeMap<String, ItemList>, RefreshError> {
        let mut computed = BTreeMap::new();
        for (site, settings) in &self.config.sites {
            for kind in KINDS {
                let sql = match kind {
                    ItemListKind::Popular => queries::popular(site, settings),
                    _ => queries::related(site, settings),
                };
                let rows: Vec<(String, String, u32)> = self
                    .client
                    .query_raw(&render(&sql, &self.database))
                    .fetch_all()
                    .await?;
                for list in from_rows(site, kind, settings.min_visitors, now_ms, rows) {
                    computed.insert(key(site, kind, &list.subject), list);
                }
            }
        }
        Ok(computed)
    }

    /// One refresh: reads the topic back if it never did, computes every
    /// list, and publishes what changed and the tombstones of what is gone.
    ///
    /// # Errors
    /// When the topic cannot be read, a query fails (nothing is published)
    /// or records are not acknowledged (the next refresh sends them again).
    pub async fn refresh(&mut self, now_ms: i64) -> Result<Refreshed, RefreshError> {
        if self.published.is_none() {
            let published = self.topic.read_published().await?;
            tracing::info!(
                lists = published.keys().count(),
                "item lists read back from the topic"
            );
            self.published = Some(published);
        }
        let computed = self.compute(now_ms).await?;
        let published = self.published.as_mut().expect("read above");
        let mut refreshed = Refreshed::default();
        for list in computed.values() {
            *refreshed.computed.entry(label(list.kind())).or_default() += 1;
        }
        let changes = published.changes(computed);
        let acknowledged = self.topic.publish(&changes).await;
        let mut failed = 0;
        for (change, ok) in changes.iter().zip(acknowledged) {
            if !ok {
                failed += 1;
                continue;
            }
            published.apply(change);
            let (counts, metric) = if change.list.is_some() {
                (&mut refreshed.published, metrics::ITEM_LISTS_PUBLISHED)
            } else {
                (&mut refreshed.tombstoned, metrics::ITEM_LISTS_TOMBSTONED)
            };
            *counts.entry(label(change.kind)).or_default() += 1;
            ::metrics::counter!(metric, "kind" => label(change.kind)).increment(1);
        }
        for kind in KINDS {
            #[allow(clippy::cast_precision_loss)] // lists: far below 2^52
            ::metrics::gauge!(metrics::ITEM_LISTS_HELD, "kind" => label(kind))
                .set(published.count(kind) as f64);
        }
        if failed > 0 {
            return Err(RefreshError::NotAcknowledged {
                failed,
                sent: changes.len(),
            });
        }
        Ok(refreshed)
    }

    /// Refreshes now and every interval until `shutdown`; a failed refresh
    /// is logged (without personal data) and counted, and the next one
    /// tries again.
    /// Without any site (a configuration built in a test) it does nothing:
    /// a sites file always has one.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) {
        if self.config.sites.is_empty() {
            return;
        }
        loop {
            let started = Instant::now();
            let now_ms = fiducia_proto::time::now_ms();
            // Stopping mid-refresh is safe: the next sink reads the topic back.
            let result = tokio::select! {
                result = self.refresh(now_ms) => result,
                () = shutdown.cancelled() => break,
            };
            ::metrics::histogram!(metrics::ITEM_LISTS_REFRESH_DURATION)
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(refreshed) => {
                    #[allow(clippy::cast_precision_loss)] // Unix seconds: far below 2^52
                    ::metrics::gauge!(metrics::ITEM_LISTS_LAST_SUCCESS).set((now_ms / 1000) as f64);
                    tracing::info!(
                        computed = ?refreshed.computed,
                        published = ?refreshed.published,
                        tombstoned = ?refreshed.tombstoned,
                        seconds = started.elapsed().as_secs_f64(),
                        "item lists refreshed"
                    );
                }
                Err(error) => {
                    ::metrics::counter!(metrics::ITEM_LISTS_FAILURES, "reason" => error.reason())
                        .increment(1);
                    tracing::warn!(%error, reason = error.reason(), "item lists refresh failed; the next one tries again");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
        self.topic.flush(FLUSH_TIMEOUT);
    }
}

/// The `kind` label of a list kind.
fn label(kind: ItemListKind) -> &'static str {
    kind_name(kind).unwrap_or("unspecified")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_labels_are_the_declared_ones() {
        let labels: Vec<&str> = KINDS.into_iter().map(label).collect();
        assert_eq!(labels, metrics::ITEM_LIST_KINDS);
    }

    #[test]
    fn a_query_failure_and_a_broker_failure_are_told_apart() {
        let unacknowledged = RefreshError::NotAcknowledged { failed: 1, sent: 2 };
        assert_eq!(unacknowledged.reason(), "kafka");
        assert!(metrics::ITEM_LIST_FAILURE_REASONS.contains(&unacknowledged.reason()));
        let query = RefreshError::ClickHouse(clickhouse::error::Error::Custom("down".into()));
        assert_eq!(query.reason(), "clickhouse");
        assert!(metrics::ITEM_LIST_FAILURE_REASONS.contains(&query.reason()));
    }
}
