//! Sending a batch of records and waiting for every acknowledgement: the one
//! way every service produces. Records are handed to the producer in batch
//! order and their deliveries awaited together, so a batch costs one round
//! trip. The outcome says which records failed and why, and nothing more:
//! what a failure means (answer `503`, retry the batch, give up) is the
//! caller's.
//!
//! When the producer refuses a record (its queue is full, or the record is
//! bad), sending stops there and the deliveries already enqueued are not
//! awaited: the caller fails the batch at once instead of waiting for the
//! message timeout. Services send with
//! [`ResilientProducer::send`](super::resilient::ResilientProducer::send),
//! which adds the producer's health bookkeeping; [`enqueue`] is the step
//! under it, for a plain producer.

use std::sync::Arc;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseRecord, FutureRecord};

use super::ack::{AckProducer, Pending};

/// Why a record was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The producer would not take the record (queue full, bad record):
    /// neither it nor the records after it were sent.
    #[error("{0}")]
    Refused(KafkaError),
    /// The broker did not acknowledge the record in time, or refused it.
    #[error("{0}")]
    NotAcknowledged(KafkaError),
    /// The producer was dropped before the delivery was known.
    #[error("producer dropped the delivery")]
    Dropped,
}

impl SendError {
    /// Whether this is the producer refusing a record because its bounded
    /// queue is full: back-pressure, not a failing delivery.
    #[must_use]
    pub fn is_queue_full(&self) -> bool {
        matches!(
            self,
            Self::Refused(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull))
        )
    }
}

/// What became of a batch.
#[derive(Debug, Default)]
pub struct Sent {
    /// Records handed to the producer, the first ones of the batch: all of
    /// them unless it refused one.
    pub enqueued: usize,
    /// Why the producer refused record number `enqueued` ([`SendError::Refused`]);
    /// the deliveries of the records before it were not awaited.
    pub refused: Option<SendError>,
    /// Enqueued records that were not acknowledged: their index in the batch
    /// and why, in batch order.
    pub failed: Vec<(usize, SendError)>,
}

impl Sent {
    /// Whether every record was acknowledged.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.refused.is_none() && self.failed.is_empty()
    }

    /// The first failure: the refusal, or else the first record in batch
    /// order that was not acknowledged.
    #[must_use]
    pub fn error(&self) -> Option<&SendError> {
        self.refused
            .as_ref()
            .or_else(|| self.failed.first().map(|(_, error)| error))
    }

    /// `Ok` when every record was acknowledged, else the first failure.
    ///
    /// # Errors
    /// The first failure, see [`Self::error`].
    pub fn into_result(mut self) -> Result<(), SendError> {
        match self.refused.take() {
            Some(error) => Err(error),
            None if self.failed.is_empty() => Ok(()),
            None => Err(self.failed.swap_remove(0).1),
        }
    }
}

/// Hands `records` to `producer` in order, stopping at the first it
/// refuses. Records are built lazily, so each is encoded just before it is
/// enqueued; they are all enqueued before this returns, so what waits for
/// the acknowledgements holds no borrow of them. Each carries a token of
/// the batch's one [`Pending`] (`super::ack`).
pub fn enqueue<'a, K, P>(
    producer: &AckProducer,
    records: impl IntoIterator<Item = FutureRecord<'a, K, P>>,
) -> Enqueued
where
    K: ToBytes + ?Sized + 'a,
    P: ToBytes + ?Sized + 'a,
{
    let pending = Pending::new();
    let mut enqueued = 0;
    for record in records {
        let record = BaseRecord {
            topic: record.topic,
            partition: record.partition,
            payload: record.payload,
            key: record.key,
            timestamp: record.timestamp,
            headers: record.headers,
            delivery_opaque: pending.token(enqueued),
        };
        // A refused record's token comes back with it and is dropped: the
        // batch has failed and is not awaited.
        if let Err((error, _)) = producer.send(record) {
            return Enqueued {
                pending,
                enqueued,
                refused: Some(SendError::Refused(error)),
            };
        }
        enqueued += 1;
    }
    Enqueued {
        pending,
        enqueued,
        refused: None,
    }
}

/// A batch in the producer's hands; [`Self::acknowledged`] waits for it.
#[must_use = "a batch is sent once its acknowledgements are awaited"]
pub struct Enqueued {
    pending: Arc<Pending>,
    enqueued: usize,
    refused: Option<SendError>,
}

impl Enqueued {
    /// Waits for every acknowledgement; at once when the producer refused a
    /// record (the batch has failed already).
    pub async fn acknowledged(self) -> Sent {
        if self.refused.is_some() {
            return Sent {
                enqueued: self.enqueued,
                refused: self.refused,
                failed: Vec::new(),
            };
        }
        Sent {
            enqueued: self.enqueued,
            refused: None,
            failed: self.pending.settled().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed_out() -> KafkaError {
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
    }

    #[test]
    fn the_first_failure_is_the_refusal_or_else_the_first_record_not_acknowledged() {
        assert!(Sent::default().is_ok());
        assert!(Sent::default().into_result().is_ok());
        let failed = Sent {
            enqueued: 3,
            refused: None,
            failed: vec![
                (1, SendError::Dropped),
                (2, SendError::NotAcknowledged(timed_out())),
            ],
        };
        assert!(!failed.is_ok());
        assert!(matches!(failed.error(), Some(SendError::Dropped)));
        assert!(matches!(failed.into_result(), Err(SendError::Dropped)));
        let refused = Sent {
            enqueued: 1,
            refused: Some(SendError::Refused(timed_out())),
            failed: Vec::new(),
        };
        assert!(matches!(refused.into_result(), Err(SendError::Refused(_))));
    }

    #[test]
    fn only_a_refusal_for_a_full_queue_is_back_pressure() {
        let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert!(SendError::Refused(full.clone()).is_queue_full());
        assert!(!SendError::NotAcknowledged(full).is_queue_full());
        assert!(!SendError::Refused(timed_out()).is_queue_full());
        assert!(!SendError::Dropped.is_queue_full());
    }
}
