//! An in-memory [`RowWriter`] for unit tests of the handler: it records
//! what was written and can be switched to fail like a dead server.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{RowWriter, WriteError};
use crate::tables::TableRow;

/// Records written rows.
#[derive(Debug)]
pub struct MemoryWriter<R> {
    rows: Mutex<Vec<R>>,
    down: AtomicBool,
}

impl<R> Default for MemoryWriter<R> {
    fn default() -> Self {
        Self {
            rows: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        }
    }
}

impl<R: Clone> MemoryWriter<R> {
    /// Everything written so far, in order.
    ///
    /// # Panics
    /// If a test thread panicked while writing.
    #[must_use]
    pub fn rows(&self) -> Vec<R> {
        self.rows.lock().expect("not poisoned").clone()
    }

    /// Makes every later write fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

impl<R: TableRow + 'static> RowWriter<R> for MemoryWriter<R> {
    type Prepared = Vec<R>;

    fn prepare(rows: impl Iterator<Item = R>) -> Vec<R> {
        rows.collect()
    }

    async fn write(&self, rows: &Vec<R>, _token: &str) -> Result<u64, WriteError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(WriteError::Unavailable);
        }
        self.rows
            .lock()
            .expect("not poisoned")
            .extend_from_slice(rows);
        Ok(rows.len() as u64)
    }
}
