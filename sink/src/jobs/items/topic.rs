//! The item lists topic (`topics.items`, compacted): read whole once, so a
//! sink that starts knows every list published before (and tombstones the
//! stale ones), then written with the lists each refresh changed.

use std::time::Duration;

use fiducia_proto::headers;
use fiducia_runtime::kafka::resilient::ResilientProducer;
use fiducia_runtime::kafka::scan::{self, ScanError};
use rdkafka::message::{Header, Message as _, OwnedHeaders};
use rdkafka::producer::FutureRecord;

use super::RefreshError;
use super::lists::{Change, Published};

/// How long reading the topic back may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the item lists go.
pub struct ItemListTopic {
    brokers: String,
    topic: String,
    producer: ResilientProducer,
}

impl ItemListTopic {
    /// Publishes to `topic` on `brokers` with `producer`.
    #[must_use]
    pub fn new(brokers: &str, topic: &str, producer: ResilientProducer) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            producer,
        }
    }

    /// The lists the topic holds now: every partition read from its start
    /// to its end, the latest record per key kept.
    ///
    /// # Errors
    /// When the topic does not exist, the broker fails, or the end is not
    /// reached within a minute.
    pub async fn read_published(&self) -> Result<Published, RefreshError> {
        let (brokers, topic) = (self.brokers.clone(), self.topic.clone());
        let read = tokio::task::spawn_blocking(move || {
            let client = "fiducia-sink-item-lists";
            let partitions = scan::partitions(&brokers, client, &topic, SCAN_TIMEOUT)?;
            let mut published = Published::default();
            scan::scan(
                &brokers,
                client,
                &topic,
                &partitions,
                SCAN_TIMEOUT,
                |message| {
                    if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
                        published.learn(key, message.payload());
                    }
                },
            )?;
            Ok::<_, ScanError>(published)
        });
        Ok(read.await??)
    }

    /// Publishes `changes` (a list, or a tombstone: no payload) and says,
    /// for each, whether the broker acknowledged it.
    pub async fn publish(&self, changes: &[Change]) -> Vec<bool> {
        let payloads: Vec<Option<Vec<u8>>> = changes.iter().map(Change::payload).collect();
        let records = changes.iter().zip(&payloads).map(|(change, payload)| {
            let site = change.key.split('/').next().unwrap_or_default();
            let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic)
                .key(change.key.as_str())
                .headers(OwnedHeaders::new().insert(Header {
                    key: headers::SITE,
                    value: Some(site),
                }));
            match payload {
                Some(bytes) => record.payload(bytes.as_slice()),
                None => record,
            }
        });
        let sent = self.producer.send(records).await;
        (0..changes.len())
            .map(|i| i < sent.enqueued && !sent.failed.iter().any(|(failed, _)| *failed == i))
            .collect()
    }

    /// Waits up to `timeout` for records in flight: part of graceful shutdown.
    pub fn flush(&self, timeout: Duration) {
        self.producer.flush(timeout);
    }
}
