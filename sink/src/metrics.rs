//! Metric names of the sink, in one place (`README.md`, Operations: `fiducia_sink_*`,
//! base units, counters end in `_total`, labels from bounded sets only).
//!
//! The shared consume loop adds `fiducia_sink_kafka_messages_consumed_total`,
//! `fiducia_sink_batch_retries_total` and `fiducia_sink_batch_duration_seconds`
//! under [`PREFIX`].

use crate::tables;

/// The prefix handed to the shared consume loop for its own metrics.
pub const PREFIX: &str = "fiducia_sink";

/// Rows ClickHouse acknowledged, by `table` ([`TABLES`]).
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
    for reason in DEAD_LETTER_REASONS {
        metrics::counter!(DEAD_LETTERS, "reason" => reason).increment(0);
    }
}
