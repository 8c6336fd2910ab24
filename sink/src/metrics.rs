//! Metric names of the sink, in one place (`README.md`, Operations: `fiducia_sink_*`,
//! base units, counters end in `_total`, labels from bounded sets only).
//!
//! The shared consume loop and the shared producer record under the names
//! handed to them here ([`CONSUMER`], [`PRODUCER`]); the sink runs one
//! loop per topic it reads (enriched, consent, privacy, dead letters), all
//! under the same names, the lag gauges told apart by `topic`.

use fiducia_runtime::kafka::consume::ConsumerMetrics;
use fiducia_runtime::kafka::resilient::ProducerMetrics;
use fiducia_runtime::service::admin::HistogramBuckets;

use crate::tables;

/// Messages read by the consume loops (every topic), counted when a batch is read.
pub const KAFKA_MESSAGES_CONSUMED: &str = "fiducia_sink_kafka_messages_consumed_total";
/// Failed attempts at making a batch durable (each one retried).
pub const BATCH_RETRIES: &str = "fiducia_sink_batch_retries_total";
/// Time to make a batch durable, retries included.
pub const BATCH_DURATION: &str = "fiducia_sink_batch_duration_seconds";
/// Partitions re-read from their beginning because the log no longer held
/// the consumer's position, by `topic`.
pub const KAFKA_OFFSET_RESETS: &str = "fiducia_sink_kafka_offset_resets_total";
/// Rejoins of a group after being left without partitions.
pub const KAFKA_GROUP_REJOINS: &str = "fiducia_sink_kafka_group_rejoins_total";
/// Consumer lag in messages, by `topic` and `partition` assigned to this
/// instance: the log end minus the next message to process (the one after
/// the last acknowledged by ClickHouse). 0 for a partition revoked since.
pub const CONSUMER_LAG_MESSAGES: &str = "fiducia_sink_consumer_lag_messages";
/// Consumer lag in seconds, by `topic` and `partition`: the age of the
/// oldest unprocessed message, now minus its Kafka timestamp when the sink
/// holds it (a batch read, not yet acknowledged), else the time since the
/// lag was first seen above 0 at the same position; 0 when the lag in
/// messages is 0.
pub const CONSUMER_LAG_SECONDS: &str = "fiducia_sink_consumer_lag_seconds";
/// Producers (dead letters, item lists) replaced because deliveries kept
/// failing while the broker answered.
pub const KAFKA_PRODUCER_REBUILDS: &str = "fiducia_sink_kafka_producer_rebuilds_total";

/// 1 when `/readyz` answers 200, 0 when not, set at each scrape
/// (`fiducia_runtime::service::admin::serve` describes it).
pub const READY: &str = "fiducia_sink_ready";
/// The names the shared consume loops record under.
pub const CONSUMER: ConsumerMetrics = ConsumerMetrics {
    consumed: KAFKA_MESSAGES_CONSUMED,
    batch_retries: BATCH_RETRIES,
    batch_seconds: BATCH_DURATION,
    offset_resets: KAFKA_OFFSET_RESETS,
    group_rejoins: KAFKA_GROUP_REJOINS,
    lag_messages: CONSUMER_LAG_MESSAGES,
    lag_seconds: CONSUMER_LAG_SECONDS,
};
/// The names the shared producers record under.
pub const PRODUCER: ProducerMetrics = ProducerMetrics {
    rebuilds: KAFKA_PRODUCER_REBUILDS,
};

/// Enriched events of the enriched topic handled: counted once their batch
/// is durable (rows acknowledged by ClickHouse, dead letters by Kafka), so
/// that it equals the sum of `rows_inserted{table="events"}`,
/// `dead_letters{table="events"}` and `events_dropped` at every scrape. A
/// batch redelivered after a crash or a rebalance is counted again, on
/// every side of that identity.
pub const EVENTS_CONSUMED: &str = "fiducia_sink_events_consumed_total";
/// Enriched events not inserted on purpose, by `reason` ([`DROP_REASONS`]):
/// `erased` (the subject's erasure is in the deny-list). The sink keeps no
/// dedup state of its own: copies collapse in ClickHouse on `event_id`.
pub const EVENTS_DROPPED: &str = "fiducia_sink_events_dropped_total";
/// The `reason` label values of [`EVENTS_DROPPED`].
pub const DROP_REASONS: [&str; 1] = ["erased"];
/// From the collector receiving an event (`received_at_ms`) to ClickHouse
/// acknowledging the insert of its `events` row; once per row of a batch,
/// at its first acknowledged insert (a retried insert is not observed
/// again). Rows redelivered after a crash or a rebalance are observed
/// again, with their larger latency: the sink cannot tell them apart
/// without a query per row.
pub const END_TO_END_LATENCY: &str = "fiducia_sink_end_to_end_latency_seconds";

/// Rows ClickHouse acknowledged, by `table` ([`TABLES`]).
pub const ROWS_INSERTED: &str = "fiducia_sink_rows_inserted_total";
/// Time one insert took, successful or not, by `table`.
pub const INSERT_DURATION: &str = "fiducia_sink_insert_duration_seconds";
/// Inserts that failed (the batch is then retried), by `table`.
pub const INSERT_ERRORS: &str = "fiducia_sink_insert_errors_total";
/// Messages sent to the dead-letter topic, by `table` whose topic they came
/// from ([`TABLES`]) and `reason` (`undecodable`, `invalid`, `empty`).
pub const DEAD_LETTERS: &str = "fiducia_sink_dead_letters_total";
/// Dead-letter produce attempts that failed (the batch is then retried).
pub const DEAD_LETTER_ERRORS: &str = "fiducia_sink_dead_letter_errors_total";
/// 1 while ClickHouse answered the last `SELECT 1`, else 0.
pub const CLICKHOUSE_UP: &str = "fiducia_sink_clickhouse_up";
/// Schema migrations applied by this process at start-up.
pub const MIGRATIONS_APPLIED: &str = "fiducia_sink_migrations_applied_total";

/// Profiles erased because their visitor withdrew personalization consent.
pub const PROFILES_ERASED: &str = "fiducia_sink_profiles_erased_total";
/// Profile rows of withdrawn visitors deleted by the sweep (rows of events
/// that were on their way when the withdrawal was stored).
pub const PROFILE_ROWS_SWEPT: &str = "fiducia_sink_profile_rows_swept_total";
/// Rows the retention job deleted, by `data_type` ([`RETENTION_DATA_TYPES`]).
pub const RETENTION_ROWS_DELETED: &str = "fiducia_sink_retention_rows_deleted_total";
/// Retention runs started.
pub const RETENTION_RUNS: &str = "fiducia_sink_retention_runs_total";
/// Retention runs that failed (the next run tries again).
pub const RETENTION_ERRORS: &str = "fiducia_sink_retention_errors_total";
/// Unix time of the last retention run that finished without error.
pub const RETENTION_LAST_SUCCESS: &str = "fiducia_sink_retention_last_success_timestamp_seconds";

/// Events of erased subjects the deny filter dropped before the insert.
pub const EVENTS_ERASED: &str = "fiducia_sink_events_erased_total";
/// Consent records of erased subjects stored pseudonymised by the deny filter.
pub const CONSENT_PSEUDONYMISED: &str = "fiducia_sink_consent_records_pseudonymised_total";
/// Erasures in this sink's deny-list (requests applied from the privacy topic).
pub const DENY_LIST_ERASURES: &str = "fiducia_sink_deny_list_erasures";
/// Privacy requests the follower of the privacy topic has still to read.
pub const DENY_LIST_LAG: &str = "fiducia_sink_deny_list_lag_messages";
/// Privacy requests that reached a state, by `kind` ([`PRIVACY_KINDS`]) and
/// `state` ([`PRIVACY_STATES`]).
pub const PRIVACY_REQUESTS: &str = "fiducia_sink_privacy_requests_total";
/// Time from a request's `requested_at` to each state it reached, by `kind` and `state`.
pub const PRIVACY_STATE_SECONDS: &str = "fiducia_sink_privacy_request_state_seconds";
/// Rows the erasure workflow deleted (pseudonymised for `consent_log`), by `table`.
pub const ERASURE_ROWS_DELETED: &str = "fiducia_sink_erasure_rows_deleted_total";
/// Rows of erased subjects the sweep found (and erased) after their
/// erasure was verified, by `table`.
pub const ERASURE_ROWS_SWEPT: &str = "fiducia_sink_erasure_rows_swept_total";
/// Privacy-topic messages that are not a usable request (logged and skipped).
pub const PRIVACY_INVALID: &str = "fiducia_sink_privacy_requests_invalid_total";
/// Deletes the verification issued again because rows of the subject were
/// still there once every mutation had finished.
pub const ERASURE_REDELETES: &str = "fiducia_sink_erasure_redeletes_total";

/// Time one item lists refresh took (reading the topic back the first
/// time, the queries, publishing), successful or not.
pub const ITEM_LISTS_REFRESH_DURATION: &str = "fiducia_sink_item_lists_refresh_duration_seconds";
/// Item lists published because they were new or changed, by `kind` ([`ITEM_LIST_KINDS`]).
pub const ITEM_LISTS_PUBLISHED: &str = "fiducia_sink_item_lists_published_total";
/// Tombstones published for item lists that are gone (below k, out of the
/// window), by `kind`.
pub const ITEM_LISTS_TOMBSTONED: &str = "fiducia_sink_item_lists_tombstoned_total";
/// Item lists refreshes that failed, by `reason` ([`ITEM_LIST_FAILURE_REASONS`]).
pub const ITEM_LISTS_FAILURES: &str = "fiducia_sink_item_lists_refresh_failures_total";
/// Item lists the topic holds as this sink knows it, by `kind`.
pub const ITEM_LISTS_HELD: &str = "fiducia_sink_item_lists_held";
/// Unix time of the last item lists refresh that succeeded.
pub const ITEM_LISTS_LAST_SUCCESS: &str = "fiducia_sink_item_lists_last_success_timestamp_seconds";
/// The `kind` label values of the item list metrics.
pub const ITEM_LIST_KINDS: [&str; 2] = ["related", "popular"];
/// The `reason` label values of [`ITEM_LISTS_FAILURES`].
pub const ITEM_LIST_FAILURE_REASONS: [&str; 2] = ["clickhouse", "kafka"];

/// The `kind` label values of the privacy metrics.
pub const PRIVACY_KINDS: [&str; 2] = ["access", "erasure"];
/// The `state` label values of the privacy metrics.
pub const PRIVACY_STATES: [&str; 5] = ["received", "enforced", "deleted", "verified", "completed"];
/// The `table` label values of [`ERASURE_ROWS_DELETED`].
pub const ERASURE_TABLES: [&str; 3] = [
    tables::events::NAME,
    tables::profile_events::NAME,
    tables::consent_log::NAME,
];

/// The `data_type` label values of [`RETENTION_ROWS_DELETED`].
pub const RETENTION_DATA_TYPES: [&str; 4] = [
    "identified_events",
    "anonymous_events",
    "profiles",
    "dead_letters",
];
/// The `table` label values of the insert metrics: the tables the sink
/// writes, named by their modules.
pub const TABLES: [&str; 3] = [
    tables::events::NAME,
    tables::consent_log::NAME,
    tables::dead_letters::NAME,
];
/// Buckets of the histograms whose range is not their unit's default
/// (`fiducia_runtime::service::admin`: seconds 100 µs to 10 s).
pub const BUCKETS: &[HistogramBuckets] = &[
    (END_TO_END_LATENCY, LATENCY_BUCKETS),
    (BATCH_DURATION, BATCH_BUCKETS),
    (INSERT_DURATION, BATCH_BUCKETS),
    (ITEM_LISTS_REFRESH_DURATION, BATCH_BUCKETS),
    (PRIVACY_STATE_SECONDS, PRIVACY_BUCKETS),
];
/// End-to-end latency: 50 ms to 2 min, with a bound at every threshold the
/// alert rules read: 2 s is SPEC's p99 target and the latency SLO's
/// (`deploy/prometheus/rules`, `le="2"`).
const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];
/// A batch, an insert or a refresh, retries included: 1 ms to 5 min.
const BATCH_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// A privacy request reaching a state: 100 ms to 3 days.
const PRIVACY_BUCKETS: &[f64] = &[
    0.1, 1.0, 10.0, 60.0, 300.0, 1_800.0, 3_600.0, 21_600.0, 86_400.0, 259_200.0,
];

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
        "Duration of one ClickHouse insert: sending its rows, already encoded, and the server storing them."
    );
    describe_counter!(
        INSERT_ERRORS,
        "ClickHouse inserts that failed; the batch is retried."
    );
    describe_counter!(
        DEAD_LETTERS,
        "Messages dead-lettered, by table (whose topic they came from) and reason."
    );
    CONSUMER.describe();
    PRODUCER.describe();
    describe_counter!(
        EVENTS_CONSUMED,
        "Enriched events handled, counted once their batch is durable: inserted + dead-lettered + dropped."
    );
    describe_counter!(
        EVENTS_DROPPED,
        "Enriched events not inserted on purpose, by reason (erased)."
    );
    describe_histogram!(
        END_TO_END_LATENCY,
        Unit::Seconds,
        "Time from the collector receiving an event to ClickHouse acknowledging its events row."
    );
    describe_counter!(
        DEAD_LETTER_ERRORS,
        "Dead-letter produce failures; the batch is retried."
    );
    describe_gauge!(
        CLICKHOUSE_UP,
        "1 while ClickHouse answers SELECT 1, else 0."
    );
    describe_counter!(MIGRATIONS_APPLIED, "Schema migrations applied at start-up.");
    describe_counter!(
        PROFILES_ERASED,
        "Profiles erased after a personalization consent withdrawal."
    );
    describe_counter!(
        PROFILE_ROWS_SWEPT,
        "Profile rows of withdrawn visitors deleted by the sweep that runs with retention."
    );
    describe_counter!(
        RETENTION_ROWS_DELETED,
        "Rows the retention job deleted, by data type."
    );
    describe_counter!(RETENTION_RUNS, "Retention runs started.");
    describe_counter!(
        RETENTION_ERRORS,
        "Retention runs that failed; the next run tries again."
    );
    describe_gauge!(
        RETENTION_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the last retention run that succeeded."
    );
    describe_counter!(
        EVENTS_ERASED,
        "Events of erased subjects dropped before the insert (deny-list)."
    );
    describe_counter!(
        CONSENT_PSEUDONYMISED,
        "Consent records of erased subjects stored with a pseudonym as subject."
    );
    describe_gauge!(
        DENY_LIST_ERASURES,
        "Erasures in this sink's deny-list, read from the privacy topic."
    );
    describe_gauge!(
        DENY_LIST_LAG,
        "Privacy requests the deny-list follower has still to read."
    );
    describe_counter!(
        PRIVACY_REQUESTS,
        "Privacy requests that reached a state, by kind and state."
    );
    describe_histogram!(
        PRIVACY_STATE_SECONDS,
        Unit::Seconds,
        "Time from a privacy request to each state it reached, by kind and state."
    );
    describe_counter!(
        ERASURE_ROWS_DELETED,
        "Rows the erasure workflow deleted (pseudonymised for consent_log), by table."
    );
    describe_counter!(
        PRIVACY_INVALID,
        "Privacy-topic messages that are not a usable request; skipped."
    );
    describe_counter!(
        ERASURE_REDELETES,
        "Erasure deletes issued again because rows were still there after every mutation finished."
    );
    describe_histogram!(
        ITEM_LISTS_REFRESH_DURATION,
        Unit::Seconds,
        "Duration of one item lists refresh: the queries of every site and publishing what changed."
    );
    describe_counter!(
        ITEM_LISTS_PUBLISHED,
        "Item lists published because they were new or changed, by kind."
    );
    describe_counter!(
        ITEM_LISTS_TOMBSTONED,
        "Tombstones published for item lists that fell below k or out of the window, by kind."
    );
    describe_counter!(
        ITEM_LISTS_FAILURES,
        "Item lists refreshes that failed, by reason; the next one tries again."
    );
    describe_gauge!(ITEM_LISTS_HELD, "Item lists the topic holds, by kind.");
    describe_gauge!(
        ITEM_LISTS_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the last item lists refresh that succeeded."
    );
    for kind in ITEM_LIST_KINDS {
        metrics::counter!(ITEM_LISTS_PUBLISHED, "kind" => kind).increment(0);
        metrics::counter!(ITEM_LISTS_TOMBSTONED, "kind" => kind).increment(0);
    }
    for reason in ITEM_LIST_FAILURE_REASONS {
        metrics::counter!(ITEM_LISTS_FAILURES, "reason" => reason).increment(0);
    }
    for kind in PRIVACY_KINDS {
        for state in PRIVACY_STATES {
            metrics::counter!(PRIVACY_REQUESTS, "kind" => kind, "state" => state).increment(0);
        }
    }
    describe_counter!(
        ERASURE_ROWS_SWEPT,
        "Rows of erased subjects found after their erasure was verified and erased by the sweep, by table."
    );
    for table in ERASURE_TABLES {
        metrics::counter!(ERASURE_ROWS_DELETED, "table" => table).increment(0);
        metrics::counter!(ERASURE_ROWS_SWEPT, "table" => table).increment(0);
    }
    for name in [
        EVENTS_ERASED,
        CONSENT_PSEUDONYMISED,
        PRIVACY_INVALID,
        ERASURE_REDELETES,
        DEAD_LETTER_ERRORS,
        MIGRATIONS_APPLIED,
        PROFILES_ERASED,
        PROFILE_ROWS_SWEPT,
        RETENTION_RUNS,
        RETENTION_ERRORS,
    ] {
        metrics::counter!(name).increment(0);
    }
    for table in TABLES {
        metrics::counter!(ROWS_INSERTED, "table" => table).increment(0);
        metrics::counter!(INSERT_ERRORS, "table" => table).increment(0);
    }
    for data_type in RETENTION_DATA_TYPES {
        metrics::counter!(RETENTION_ROWS_DELETED, "data_type" => data_type).increment(0);
    }
    for table in TABLES {
        for reason in DEAD_LETTER_REASONS {
            metrics::counter!(DEAD_LETTERS, "table" => table, "reason" => reason).increment(0);
        }
    }
    for reason in DROP_REASONS {
        metrics::counter!(EVENTS_DROPPED, "reason" => reason).increment(0);
    }
    metrics::counter!(EVENTS_CONSUMED).increment(0);
}
