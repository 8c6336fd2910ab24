//! An in-memory [`EventPublisher`] for unit tests of the routes: it records
//! what was published and can be switched to fail like a dead broker.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use fiducia_proto::v1::RawEvent;

use super::{EventPublisher, PublishError};

/// Records published events.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<(String, RawEvent)>>,
    down: AtomicBool,
}

impl MemoryPublisher {
    /// Everything published so far.
    ///
    /// # Panics
    /// If a test thread panicked while publishing.
    #[must_use]
    pub fn published(&self) -> Vec<(String, RawEvent)> {
        self.published.lock().expect("not poisoned").clone()
    }

    /// Makes every later publish fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, events: Vec<(String, RawEvent)>) -> Result<(), PublishError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(PublishError::BrokerDown);
        }
        self.published.lock().expect("not poisoned").extend(events);
        Ok(())
    }

    fn is_ready(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }
}
