//! An in-memory [`RecordPublisher`] for unit tests of the pipeline: it
//! keeps every record it acknowledged, in order, and can be told to fail
//! the next publishes, partly or wholly, like a broker that times out.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::{Record, RecordPublisher, SendError};

/// Records acknowledged records; see the module docs.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    acknowledged: Vec<Record>,
    calls: usize,
    /// For each failing publish to come: how many of its records are
    /// acknowledged before the rest times out.
    failures: VecDeque<usize>,
}

impl MemoryPublisher {
    /// Makes the next publish (after those already told to fail)
    /// acknowledge its first `acknowledged` records, in order, and fail.
    pub fn fail_next(&self, acknowledged: usize) {
        self.lock().failures.push_back(acknowledged);
    }

    /// Every record acknowledged so far, in order; a record acknowledged
    /// twice is there twice.
    #[must_use]
    pub fn acknowledged(&self) -> Vec<Record> {
        self.lock().acknowledged.clone()
    }

    /// How many times [`RecordPublisher::publish`] was called.
    #[must_use]
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RecordPublisher for MemoryPublisher {
    async fn publish(&self, first: &[Record], then: &[Record]) -> Result<(), SendError> {
        let mut state = self.lock();
        state.calls += 1;
        let budget = state.failures.pop_front();
        let limit = budget.unwrap_or(usize::MAX);
        // `then` only once `first` is acknowledged whole, as on Kafka.
        let records = if limit >= first.len() {
            first.iter().chain(then)
        } else {
            first.iter().chain(&[])
        };
        state.acknowledged.extend(records.take(limit).cloned());
        match budget {
            None => Ok(()),
            Some(_) => Err(SendError::NotAcknowledged(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            ))),
        }
    }
}
