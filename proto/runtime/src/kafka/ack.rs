//! Delivery acknowledgements: one waiter per batch, not one future per record.
//!
//! rdkafka's `FutureProducer` gives every record its own oneshot channel
//! (two allocations) and future, completed from its polling thread, and a
//! batch is awaited by joining them all: each delivery wakes the waiting
//! task. Here every record of a batch carries a small token ([`Ack`]: the
//! batch's shared [`Pending`] and its index) as librdkafka's delivery
//! opaque; the producer context's delivery callback (on the same polling
//! thread) counts the record off and records a failure by index, and the
//! last one wakes the batch's waiter once. A request of one event costs one
//! token and one shared state; a batch of 20, 20 tokens and one wake-up.
//!
//! A token dropped without a delivery report (the producer destroyed with
//! the record in flight) counts as [`SendError::Dropped`], like a cancelled
//! oneshot, so a waiter never hangs on a lost report.

use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures::task::AtomicWaker;
use rdkafka::ClientContext;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};

use super::send::SendError;

/// The producer every service sends with: librdkafka's producer with a
/// polling thread, whose delivery reports complete [`Pending`] batches.
pub type AckProducer = ThreadedProducer<AckContext>;

/// The producer context: delivery reports go to the record's [`Ack`];
/// everything else (logs, errors) as librdkafka's default context does.
#[derive(Debug, Default, Clone, Copy)]
pub struct AckContext;

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, mut ack: Box<Ack>) {
        let error = result
            .as_ref()
            .err()
            .map(|(error, _)| SendError::NotAcknowledged(error.clone()));
        ack.settle(error);
    }
}

/// A batch's outstanding deliveries, shared by its records' tokens and its
/// waiter.
#[derive(Debug, Default)]
pub struct Pending {
    outstanding: AtomicUsize,
    failed: Mutex<Vec<(usize, SendError)>>,
    waker: AtomicWaker,
}

impl Pending {
    /// A new, empty batch.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The delivery token of record `index`, counted as outstanding until
    /// its report arrives (or the token is dropped).
    #[must_use]
    pub fn token(self: &Arc<Self>, index: usize) -> Box<Ack> {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        Box::new(Ack {
            batch: Arc::clone(self),
            index,
            settled: false,
        })
    }

    /// Waits until every token handed out has been settled; the records
    /// that failed, by index, in batch order.
    pub async fn settled(&self) -> Vec<(usize, SendError)> {
        poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.outstanding.load(Ordering::Acquire) == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let mut failed =
            std::mem::take(&mut *self.failed.lock().unwrap_or_else(PoisonError::into_inner));
        failed.sort_unstable_by_key(|(index, _)| *index);
        failed
    }

    fn settle(&self, index: usize, error: Option<SendError>) {
        if let Some(error) = error {
            self.failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((index, error));
        }
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waker.wake();
        }
    }
}

/// One record's delivery token (librdkafka's delivery opaque).
#[derive(Debug)]
pub struct Ack {
    batch: Arc<Pending>,
    index: usize,
    settled: bool,
}

impl Ack {
    fn settle(&mut self, error: Option<SendError>) {
        if !std::mem::replace(&mut self.settled, true) {
            self.batch.settle(self.index, error);
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        self.settle(Some(SendError::Dropped));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    #[tokio::test]
    async fn a_batch_is_settled_once_every_token_is_with_its_failures_in_order() {
        let pending = Pending::new();
        let mut tokens: Vec<_> = (0..3).map(|i| pending.token(i)).collect();
        let waiter = tokio::spawn({
            let pending = Arc::clone(&pending);
            async move { pending.settled().await }
        });
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        tokens[2].settle(Some(SendError::NotAcknowledged(timed_out)));
        tokens[0].settle(None);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "record 1 is still outstanding");
        drop(tokens.remove(1)); // lost without a report
        drop(tokens);
        let failed = waiter.await.unwrap();
        let indexes: Vec<_> = failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [1, 2]);
        assert!(matches!(failed[0].1, SendError::Dropped));
        assert!(matches!(failed[1].1, SendError::NotAcknowledged(_)));
    }

    #[tokio::test]
    async fn a_token_settles_once() {
        let pending = Pending::new();
        let mut token = pending.token(0);
        token.settle(None);
        drop(token);
        assert!(pending.settled().await.is_empty());
    }
}
