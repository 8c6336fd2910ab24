//! Writing rows. The handler talks to [`RowWriter`], a small trait we own:
//! [`clickhouse::ClickHouseWriter`] in production, [`memory::MemoryWriter`]
//! in unit tests.

pub mod clickhouse;
pub mod memory;

use std::future::Future;

use crate::tables::TableRow;

/// Rows could not be made durable; the whole batch must be retried.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The server refused the insert or could not be reached in time.
    #[error("insert failed: {0}")]
    ClickHouse(#[from] ::clickhouse::error::Error),
    /// The insert did not finish within the configured timeout.
    #[error("insert timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The storage is known to be unavailable (in-memory writer switched off).
    #[error("storage unavailable")]
    Unavailable,
}

/// Where rows of `R`'s table go.
pub trait RowWriter<R: TableRow>: Send + Sync + 'static {
    /// Rows made ready to send.
    type Prepared: Send + Sync + 'static;

    /// Makes `rows` ready to send: all the CPU work of a write and no I/O,
    /// so the consume loop can do it on another thread while the batch
    /// before is being written (see `BatchHandler::prepare`).
    fn prepare(rows: impl Iterator<Item = R>) -> Self::Prepared;

    /// [`Self::prepare`] for rows the caller keeps (the deny filter keeps a
    /// batch's rows beside their encoding): a writer that only reads its
    /// rows, as the ClickHouse one, overrides it to spare the copy.
    fn prepare_slice(rows: &[R]) -> Self::Prepared {
        Self::prepare(rows.iter().cloned())
    }

    /// Stores `rows` as one insert and returns how many there were (without
    /// rows, nothing is sent). Resolves `Ok` only once the storage
    /// acknowledged every row; on `Err` none of them may be assumed stored
    /// (some may be: rows are deduplicated on their id).
    ///
    /// `token` names the batch the rows come from, the same on every retry
    /// of it: where the storage can, a retried insert that had in fact
    /// succeeded is dropped as a duplicate as a whole.
    fn write(
        &self,
        rows: &Self::Prepared,
        token: &str,
    ) -> impl Future<Output = Result<u64, WriteError>> + Send;
}
