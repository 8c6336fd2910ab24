//! [`RowWriter`] on ClickHouse: one `INSERT INTO <table> FORMAT Native` per
//! batch over HTTP, its rows encoded beforehand as blocks of [`BLOCK_ROWS`]
//! rows (see [`crate::columns`](mod@crate::columns) for why `Native`), and the `SELECT 1` probe
//! behind `/readyz`.
//!
//! The same inserts work on ClickHouse 18.16 and on current servers: each
//! block names its columns and their types, and the server gathers the
//! blocks of one insert into one part. Client-side validation is off (it
//! would `DESCRIBE` the table with a setting and columns 18.16 does not
//! have); integration tests read rows back to prove each row type matches
//! its table. Inserts are LZ4-compressed (`decompress=1`, which 18.16
//! accepts) only when configured: on loopback or a fast network compression
//! costs the sink more CPU than it saves (the bench in
//! `sink/benches/insert.rs` measured 110k rows/s with LZ4 and 190k without
//! at 10k-row batches on the 2-core development machine, when inserts were
//! `RowBinary`).

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clickhouse::Client;
use tokio_util::sync::CancellationToken;

use super::{RowWriter, WriteError};
use crate::config::ClickHouseConfig;
use crate::metrics;
use crate::tables::TableRow;

/// A client for `config`'s server, selecting no database (migrations create
/// it). Use `.with_database(..)` for queries inside it. In cluster mode an
/// insert into a `Distributed` table returns once every shard stored its
/// rows (`insert_distributed_sync`), not once they are queued on the server
/// the sink talks to: an acknowledged batch is in its shards' replicated
/// tables; and a subquery of a `Distributed` table inside a query of one
/// (`... IN (SELECT ... FROM {db}.privacy_requests)`) runs once and is sent
/// to every shard (`distributed_product_mode = global`; 18.16 refuses such
/// a query by default).
#[must_use]
pub fn client(config: &ClickHouseConfig) -> Client {
    let client = Client::default();
    let client = if config.cluster.is_some() {
        client
            .with_setting("insert_distributed_sync", "1")
            .with_setting("distributed_product_mode", "global")
    } else {
        client
    };
    client
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password)
        .with_validation(false)
        .with_compression(if config.compress {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        })
        .with_product_info("fiducia-sink", env!("CARGO_PKG_VERSION"))
}

/// Rows per `Native` block of an insert: enough to make per-block costs
/// (a header per column) small, few enough that a block's rows (about
/// 1.2 KB each for `events`, before their strings) stay in the CPU cache
/// while their columns are written one after the other.
pub const BLOCK_ROWS: usize = 1024;

/// Inserts rows into their table in the configured database.
#[derive(Clone)]
pub struct ClickHouseWriter {
    client: Client,
    timeout: Duration,
    health: ClickHouseHealth,
    dedup_tokens: bool,
}

impl ClickHouseWriter {
    /// A writer for `config`'s database; successful inserts also count as
    /// proof of life for `health`.
    #[must_use]
    pub fn new(config: &ClickHouseConfig, health: ClickHouseHealth) -> Self {
        Self {
            client: client(config).with_database(&config.database),
            timeout: config.insert_timeout,
            health,
            dedup_tokens: false,
        }
    }

    /// Sends each batch's token as `insert_deduplication_token` (servers
    /// with [`ServerFeatures::insert_dedup_token`], whose tables migration
    /// 10 gave a deduplication window), so a retried insert that had
    /// succeeded is dropped whole instead of waiting for a merge.
    ///
    /// [`ServerFeatures::insert_dedup_token`]: crate::schema::ServerFeatures::insert_dedup_token
    #[must_use]
    pub fn with_dedup_tokens(mut self, on: bool) -> Self {
        self.dedup_tokens = on;
        self
    }

    /// Sends `rows` as one insert.
    async fn insert<R: TableRow>(
        &self,
        rows: &NativeBlocks<R>,
        token: &str,
    ) -> Result<(), clickhouse::error::Error> {
        let mut insert = self
            .client
            .insert_formatted_with(format!("INSERT INTO {} FORMAT Native", R::TABLE));
        // A server without tokens would refuse the setting.
        if self.dedup_tokens {
            insert = insert.with_setting("insert_deduplication_token", token);
        }
        for block in &rows.blocks {
            insert.send(block.clone()).await?;
        }
        insert.end().await
    }
}

/// Rows of `R`'s table as the `Native` blocks of an insert, [`BLOCK_ROWS`]
/// rows each.
#[derive(Debug)]
pub struct NativeBlocks<R> {
    blocks: Vec<Bytes>,
    rows: u64,
    table: PhantomData<fn() -> R>,
}

impl<R: TableRow + 'static> RowWriter<R> for ClickHouseWriter {
    type Prepared = NativeBlocks<R>;

    fn prepare(mut rows: impl Iterator<Item = R>) -> NativeBlocks<R> {
        let mut prepared = NativeBlocks {
            blocks: Vec::new(),
            rows: 0,
            table: PhantomData,
        };
        let mut block: Vec<R> = Vec::with_capacity(BLOCK_ROWS);
        // One buffer for every block, each copied out at its exact size: a
        // block split off a growing buffer would keep that buffer's spare
        // capacity alive as long as the batch (a drain's peak RSS went from
        // 677 to 950 MB at 100k-row batches that way).
        let mut buffer = BytesMut::new();
        loop {
            block.extend(rows.by_ref().take(BLOCK_ROWS));
            if block.is_empty() {
                return prepared;
            }
            R::put_block(&block, &mut buffer);
            prepared.blocks.push(Bytes::copy_from_slice(&buffer));
            buffer.clear();
            prepared.rows += block.len() as u64;
            block.clear();
        }
    }

    async fn write(&self, rows: &NativeBlocks<R>, token: &str) -> Result<u64, WriteError> {
        if rows.rows == 0 {
            return Ok(0);
        }
        // Dropping an unfinished insert aborts it: nothing is committed.
        match tokio::time::timeout(self.timeout, self.insert::<R>(rows, token)).await {
            Ok(Ok(())) => {
                self.health.record_ok();
                Ok(rows.rows)
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_elapsed) => Err(WriteError::Timeout(self.timeout)),
        }
    }
}

/// "ClickHouse answered recently": the last successful `SELECT 1` or insert
/// is younger than `max_age`.
#[derive(Debug, Clone)]
pub struct ClickHouseHealth {
    base: Instant,
    /// Milliseconds after `base` of the last success, plus one; 0 = never.
    last_ok: Arc<AtomicU64>,
    max_age: Duration,
}

impl ClickHouseHealth {
    /// Not up until something succeeds.
    #[must_use]
    pub fn new(max_age: Duration) -> Self {
        Self {
            base: Instant::now(),
            last_ok: Arc::new(AtomicU64::new(0)),
            max_age,
        }
    }

    /// Whether ClickHouse answered within `max_age`.
    #[must_use]
    pub fn is_up(&self) -> bool {
        match self.last_ok.load(Ordering::Relaxed) {
            0 => false,
            stamp => {
                let at = self.base + Duration::from_millis(stamp - 1);
                at.elapsed() <= self.max_age
            }
        }
    }

    /// Records that ClickHouse just answered.
    pub fn record_ok(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_ok.store(ms + 1, Ordering::Relaxed);
    }

    /// Runs `SELECT 1` now and then every `interval` until `shutdown`.
    pub fn spawn_probe(&self, client: Client, interval: Duration, shutdown: CancellationToken) {
        let health = self.clone();
        let gauge = ::metrics::gauge!(metrics::CLICKHOUSE_UP);
        tokio::spawn(async move {
            let mut was_up = None;
            loop {
                let probe = client.query_raw("SELECT 1").fetch_one::<u8>();
                let up = matches!(
                    tokio::time::timeout(interval.max(Duration::from_secs(1)), probe).await,
                    Ok(Ok(1))
                );
                if up {
                    health.record_ok();
                }
                if was_up != Some(up) {
                    tracing::info!(up, "clickhouse health changed");
                    was_up = Some(up);
                }
                gauge.set(if up { 1.0 } else { 0.0 });
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_down_until_something_succeeds_and_goes_stale() {
        let health = ClickHouseHealth::new(Duration::from_millis(50));
        assert!(!health.is_up());
        health.record_ok();
        assert!(health.is_up());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!health.is_up());
    }
}
