//! Metric names of the sink, in one place (SPEC section 9: `fiducia_sink_*`,
//! base units, counters end in `_total`, labels from bounded sets only).
//!
//! The shared consume loop adds `fiducia_sink_kafka_messages_consumed_total`,
//! `fiducia_sink_batch_retries_total` and `fiducia_sink_batch_duration_seconds`
//! under [`PREFIX`].

/// The prefix handed to the shared consume loop for its own metrics.
pub const PREFIX: &str = "fiducia_sink";

/// Rows ClickHouse acknowledged, by `table` (`events`, `consent_log`).
pub const ROWS_INSERTED: &str = "fiducia_sink_rows_inserted_total";
/// Time one insert took, successful or not, by `table`.
pub const INSERT_DURATION: &str = "fiducia_sink_insert_duration_seconds";
/// Inserts that failed (the batch is then retried), by `table`.
pub const INSERT_ERRORS: &str = "fiducia_sink_insert_errors_total";
/// Messages sent to the dead-letter topic, by `reason` (`undecodable`, `invalid`, `empty`).
pub const DEAD_LETTERS: &str = "fiducia_sink_dead_letters_total";
/// Dead-letter produce attempts that failed (the batch is then retried).
pub const DEAD_LETTER_ERRORS: &str = "fiducia_sink_dead_letter_errors_total";
/// 1 while ClickHouse answered the last `SELECT 1`, else 0.
pub const CLICKHOUSE_UP: &str = "fiducia_sink_clickhouse_up";
/// Schema migrations applied by this process at start-up.
pub const MIGRATIONS_APPLIED: &str = "fiducia_sink_migrations_applied_total";

/// The `table` label values of the insert metrics.
pub const TABLES: [&str; 2] = ["events", "consent_log"];
/// The `reason` label values of [`DEAD_LETTERS`].
pub const DEAD_LETTER_REASONS: [&str; 3] = ["undecodable", "invalid", "empty"];

/// Registers descriptions so `/metrics` explains every series, and creates
/// the counters so they read 0 (not absent) before the first event.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(ROWS_INSERTED, "Rows ClickHouse acknowledged, by table.");
    describe_histogram!(
        INSERT_DURATION,
        Unit::Seconds,
        "Duration of one ClickHouse insert."
    );
    describe_counter!(
        INSERT_ERRORS,
        "ClickHouse inserts that failed; the batch is retried."
    );
    describe_counter!(DEAD_LETTERS, "Messages dead-lettered, by reason.");
    describe_counter!(
        DEAD_LETTER_ERRORS,
        "Dead-letter produce failures; the batch is retried."
    );
    describe_gauge!(
        CLICKHOUSE_UP,
        "1 while ClickHouse answers SELECT 1, else 0."
    );
    describe_counter!(MIGRATIONS_APPLIED, "Schema migrations applied at start-up.");
    for name in [DEAD_LETTER_ERRORS, MIGRATIONS_APPLIED] {
        metrics::counter!(name).increment(0);
    }
    for table in TABLES {
        metrics::counter!(ROWS_INSERTED, "table" => table).increment(0);
        metrics::counter!(INSERT_ERRORS, "table" => table).increment(0);
    }
    for reason in DEAD_LETTER_REASONS {
        metrics::counter!(DEAD_LETTERS, "reason" => reason).increment(0);
    }
}
