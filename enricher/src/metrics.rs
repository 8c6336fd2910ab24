//! Metric names of the enricher, in one place. The shared consume loop adds
//! `fiducia_enricher_kafka_messages_consumed_total`,
//! `fiducia_enricher_batch_retries_total` and
//! `fiducia_enricher_batch_duration_seconds` under [`PREFIX`].

/// Prefix handed to the shared consume loop.
pub const PREFIX: &str = "fiducia_enricher";
/// Events enriched and acknowledged on the enriched topic.
pub const EVENTS_ENRICHED: &str = "fiducia_enricher_events_enriched_total";
/// Messages sent to the dead-letter topic, by `reason`.
pub const DEAD_LETTERS: &str = "fiducia_enricher_dead_letters_total";
/// Produce failures that made a batch retry.
pub const PRODUCE_ERRORS: &str = "fiducia_enricher_kafka_produce_errors_total";

/// Registers descriptions so `/metrics` explains every series.
pub fn describe() {
    use metrics::describe_counter;
    describe_counter!(
        EVENTS_ENRICHED,
        "Events enriched and acknowledged downstream."
    );
    describe_counter!(DEAD_LETTERS, "Messages dead-lettered, by reason.");
    describe_counter!(PRODUCE_ERRORS, "Produce failures (the batch is retried).");
}
