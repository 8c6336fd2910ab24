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
