//! An in-memory [`RowWriter`] for unit tests of the handler: it records
//! what was written and can be switched to fail like a dead server.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{RowWriter, WriteError};
use crate::rows::EventRow;

/// Records written rows.
#[derive(Debug, Default)]
pub struct MemoryWriter {
    rows: Mutex<Vec<EventRow>>,
    down: AtomicBool,
}

impl MemoryWriter {
    /// Everything written so far, in order.
    ///
    /// # Panics
    /// If a test thread panicked while writing.
    #[must_use]
    pub fn rows(&self) -> Vec<EventRow> {
        self.rows.lock().expect("not poisoned").clone()
    }

    /// Makes every later write fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

impl RowWriter for MemoryWriter {
    async fn write(&self, rows: &[EventRow]) -> Result<(), WriteError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(WriteError::Unavailable);
        }
        self.rows
            .lock()
            .expect("not poisoned")
            .extend_from_slice(rows);
        Ok(())
    }
}
