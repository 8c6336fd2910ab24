//! The names of the metrics the consume loop records, chosen by the
//! service that runs it: each service declares and describes them in its
//! own metrics module (`fiducia_<service>_…`) and hands them over as one
//! [`ConsumerMetrics`], so no name is ever built at run time.

/// The metric names the consume loop records under. Every field is a
/// `&'static str` constant of the service's metrics module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerMetrics {
    /// Counter: messages read, counted when a batch is read (before it is
    /// handled), e.g. `fiducia_sink_kafka_messages_consumed_total`.
    pub consumed: &'static str,
    /// Counter: failed attempts at handling a batch (each one retried),
    /// e.g. `fiducia_sink_batch_retries_total`.
    pub batch_retries: &'static str,
    /// Histogram (seconds): time to make a batch durable downstream,
    /// retries included, e.g. `fiducia_sink_batch_duration_seconds`.
    pub batch_seconds: &'static str,
    /// Counter by `topic`: partitions re-read from their beginning because
    /// the log no longer held the consumer's position, e.g.
    /// `fiducia_sink_kafka_offset_resets_total`.
    pub offset_resets: &'static str,
    /// Counter: rejoins of the group after being left without partitions,
    /// e.g. `fiducia_sink_kafka_group_rejoins_total`.
    pub group_rejoins: &'static str,
    /// Gauge by `topic` and `partition`: messages of an assigned partition
    /// not processed yet (`lag`'s docs), e.g.
    /// `fiducia_sink_consumer_lag_messages`.
    pub lag_messages: &'static str,
    /// Gauge by `topic` and `partition`: age of the oldest message of an
    /// assigned partition not processed yet (`lag`'s docs), e.g.
    /// `fiducia_sink_consumer_lag_seconds`.
    pub lag_seconds: &'static str,
}

impl ConsumerMetrics {
    /// Describes every metric of the loop under these names, and creates
    /// its counters so they read 0 (not absent) before the first batch. A
    /// service calls it from its metrics module's `describe`, after the
    /// recorder is installed.
    pub fn describe(&self) {
        use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_counter!(
            self.consumed,
            "Messages read by the consume loop, counted when a batch is read."
        );
        describe_counter!(
            self.batch_retries,
            "Failed attempts at making a batch durable; each is retried."
        );
        describe_histogram!(
            self.batch_seconds,
            Unit::Seconds,
            "Time to make a batch durable downstream, retries included."
        );
        describe_counter!(
            self.offset_resets,
            "Partitions re-read from their beginning because the log no longer held the position, by topic."
        );
        describe_counter!(
            self.group_rejoins,
            "Group rejoins after being left without partitions."
        );
        describe_gauge!(
            self.lag_messages,
            "Messages of an assigned partition not yet processed: log end minus the next message to process, by topic and partition (0 once revoked)."
        );
        describe_gauge!(
            self.lag_seconds,
            Unit::Seconds,
            "Age of the oldest unprocessed message of an assigned partition (its Kafka timestamp when held, else since the lag was first seen), 0 when the lag is 0, by topic and partition."
        );
        for name in [self.consumed, self.batch_retries, self.group_rejoins] {
            metrics::counter!(name).increment(0);
        }
    }
}
