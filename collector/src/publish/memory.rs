//! An in-memory [`EventPublisher`] for unit tests of the routes: it records
//! what was published and can be switched to fail like a dead broker.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fiducia_proto::v1::{ConsentRecord, PrivacyRequest, RawEvent};

use super::{Batch, EventPublisher, PublishError};

/// Records published batches.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Batch>,
    publishes: AtomicUsize,
    down: AtomicBool,
}

impl MemoryPublisher {
    /// Every event published so far.
    ///
    /// # Panics
    /// If a test thread panicked while publishing.
    #[must_use]
    pub fn published(&self) -> Vec<(String, RawEvent)> {
        self.published.lock().expect("not poisoned").events.clone()
    }

    /// Every consent record published so far.
    ///
    /// # Panics
    /// If a test thread panicked while publishing.
    #[must_use]
    pub fn records(&self) -> Vec<(String, ConsentRecord)> {
        self.published.lock().expect("not poisoned").records.clone()
    }

    /// Every privacy request published so far.
    ///
    /// # Panics
    /// If a test thread panicked while publishing.
    #[must_use]
    pub fn requests(&self) -> Vec<(String, PrivacyRequest)> {
        self.published
            .lock()
            .expect("not poisoned")
            .requests
            .clone()
    }

    /// Successful publishes so far (each one batch, made durable at once).
    #[must_use]
    pub fn publishes(&self) -> usize {
        self.publishes.load(Ordering::Relaxed)
    }

    /// Makes every later publish fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, batch: Batch) -> Result<(), PublishError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(PublishError::BrokerDown);
        }
        let mut published = self.published.lock().expect("not poisoned");
        published.events.extend(batch.events);
        published.records.extend(batch.records);
        published.requests.extend(batch.requests);
        self.publishes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn is_ready(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }
}
