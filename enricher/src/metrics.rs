//! Metric names of the enricher, in one place. The shared consume loop and
//! producer record under the names handed to them here ([`CONSUMER`],
//! [`PRODUCER`]). Labels come from bounded sets only: dead-letter reasons,
//! drop reasons, session start reasons, reasons a profile is forgotten,
//! the raw topic's partitions.
//!
//! The loss ledger: every raw message read is counted in
//! [`EVENTS_CONSUMED`] and in exactly one of [`EVENTS_ENRICHED`],
//! [`DEAD_LETTERS`] and [`EVENTS_DROPPED`], all when its batch is
//! acknowledged, so consumed = enriched + dead-lettered + dropped at every
//! scrape.

use fiducia_runtime::kafka::consume::ConsumerMetrics;
use fiducia_runtime::kafka::group_lag::GroupLagMetrics;
use fiducia_runtime::kafka::resilient::ProducerMetrics;
use fiducia_runtime::service::admin::HistogramBuckets;

use crate::batch::BatchTally;

/// Messages read from the raw topic, counted when a batch is read (before
/// it is handled).
pub const KAFKA_MESSAGES_CONSUMED: &str = "fiducia_enricher_kafka_messages_consumed_total";
/// Failed attempts at making a batch durable (each one retried).
pub const BATCH_RETRIES: &str = "fiducia_enricher_batch_retries_total";
/// Time to make a batch durable, retries included.
pub const BATCH_DURATION: &str = "fiducia_enricher_batch_duration_seconds";
/// Partitions re-read from their beginning because the log no longer held
/// the consumer's position, by `topic`.
pub const KAFKA_OFFSET_RESETS: &str = "fiducia_enricher_kafka_offset_resets_total";
/// Rejoins of the group after being left without partitions.
pub const KAFKA_GROUP_REJOINS: &str = "fiducia_enricher_kafka_group_rejoins_total";
/// Consumer lag in messages, by `topic` and `partition` of the raw topic
/// assigned to this instance: the log end minus the next message to
/// process (the one after the last whose outputs Kafka acknowledged). 0
/// for a partition revoked since.
pub const CONSUMER_LAG_MESSAGES: &str = "fiducia_enricher_consumer_lag_messages";
/// Consumer lag in seconds, by `topic` and `partition`: the age of the
/// oldest unprocessed raw message, now minus its Kafka timestamp when the
/// enricher holds it (a batch read, not yet acknowledged), else the time
/// since the lag was first seen above 0 at the same position; 0 when the
/// lag in messages is 0.
pub const CONSUMER_LAG_SECONDS: &str = "fiducia_enricher_consumer_lag_seconds";
/// Producers replaced because deliveries kept failing while the broker answered.
pub const KAFKA_PRODUCER_REBUILDS: &str = "fiducia_enricher_kafka_producer_rebuilds_total";

/// 1 when `/readyz` answers 200, 0 when not, set at each scrape
/// (`fiducia_runtime::service::admin::serve` describes it).
pub const READY: &str = "fiducia_enricher_ready";
/// The names the shared consume loop records under.
pub const CONSUMER: ConsumerMetrics = ConsumerMetrics {
    consumed: KAFKA_MESSAGES_CONSUMED,
    batch_retries: BATCH_RETRIES,
    batch_seconds: BATCH_DURATION,
    offset_resets: KAFKA_OFFSET_RESETS,
    group_rejoins: KAFKA_GROUP_REJOINS,
    lag_messages: CONSUMER_LAG_MESSAGES,
    lag_seconds: CONSUMER_LAG_SECONDS,
};
/// Messages of the enriched topic the sink's group has not committed, by
/// `group`, `topic`, `partition`: the next stage's lag seen from here, so it
/// shows while the sink is down (`fiducia_runtime::kafka::group_lag`).
pub const DOWNSTREAM_LAG_MESSAGES: &str = "fiducia_enricher_downstream_lag_messages";
/// Age of the oldest of them, in seconds.
pub const DOWNSTREAM_LAG_SECONDS: &str = "fiducia_enricher_downstream_lag_seconds";
/// The names the downstream lag watch records under.
pub const DOWNSTREAM_LAG: GroupLagMetrics = GroupLagMetrics {
    messages: DOWNSTREAM_LAG_MESSAGES,
    seconds: DOWNSTREAM_LAG_SECONDS,
};
/// The names the shared producer records under.
pub const PRODUCER: ProducerMetrics = ProducerMetrics {
    rebuilds: KAFKA_PRODUCER_REBUILDS,
};

/// Raw events read from the raw topic, one per message, counted when their
/// batch is acknowledged (a batch retried is counted once; one redelivered
/// after a crash or a rebalance again, and then mostly dropped as
/// `already_applied`).
pub const EVENTS_CONSUMED: &str = "fiducia_enricher_events_consumed_total";
/// Events enriched and acknowledged on the enriched topic.
pub const EVENTS_ENRICHED: &str = "fiducia_enricher_events_enriched_total";
/// Messages sent to the dead-letter topic, by `reason`.
pub const DEAD_LETTERS: &str = "fiducia_enricher_dead_letters_total";
/// Raw events not passed on, on purpose, by `reason` ([`DROP_REASONS`]):
/// `bot` (a bot on a site that drops them), `erased` (the subject's
/// erasure is in the deny-list), `duplicate` (a copy of a visitor's recent
/// event sent again by the tag), `already_applied` (re-read after a restart,
/// enriched before). The per-reason counters below stay, with the same counts.
pub const EVENTS_DROPPED: &str = "fiducia_enricher_events_dropped_total";
/// The `reason` label values of [`EVENTS_DROPPED`].
pub const DROP_REASONS: [&str; 4] = ["bot", "erased", "duplicate", "already_applied"];
/// Produce failures that made a batch retry.
pub const PRODUCE_ERRORS: &str = "fiducia_enricher_kafka_produce_errors_total";
/// Events flagged as bots.
pub const BOTS_FLAGGED: &str = "fiducia_enricher_bots_flagged_total";
/// Bot events dropped because their site asks for it.
pub const BOTS_DROPPED: &str = "fiducia_enricher_bots_dropped_total";
/// Events re-read after a restart that were already enriched, skipped.
pub const EVENTS_ALREADY_APPLIED: &str = "fiducia_enricher_events_already_applied_total";
/// Copies of a visitor's recent events (sent again by the tag), dropped.
pub const EVENTS_DUPLICATE: &str = "fiducia_enricher_events_duplicate_total";
/// Events of erased subjects (the privacy topic's deny-list), dropped.
pub const EVENTS_ERASED: &str = "fiducia_enricher_events_erased_total";
/// Consent records not yet read by the live follower of withdrawals.
pub const WITHDRAWALS_LAG: &str = "fiducia_enricher_withdrawals_lag_messages";
/// Erasure requests on the privacy topic not yet read into the deny-list.
pub const ERASURES_LAG: &str = "fiducia_enricher_erasures_lag_messages";
/// Sessions started, by `reason` (first, idle, midnight, campaign, late).
pub const SESSIONS_STARTED: &str = "fiducia_enricher_sessions_started_total";
/// Session states dropped from memory, by `reason` (expired, capacity, erased).
pub const SESSIONS_DROPPED: &str = "fiducia_enricher_sessions_dropped_total";
/// Session states held in memory.
pub const SESSIONS_HELD: &str = "fiducia_enricher_sessions_held";
/// Session state records written to the sessions topic.
pub const SESSION_RECORDS: &str = "fiducia_enricher_session_records_written_total";
/// Partitions whose session state and profiles were read back.
pub const SESSION_RESTORES: &str = "fiducia_enricher_session_restores_total";
/// How long reading back session state took.
pub const SESSION_RESTORE_SECONDS: &str = "fiducia_enricher_session_restore_duration_seconds";
/// Session state records that could not be decoded when read back.
pub const SESSION_RECORDS_UNDECODABLE: &str = "fiducia_enricher_session_records_undecodable_total";
/// Profiles held in memory (visitors with personalization consent of this
/// instance's partitions).
pub const PROFILES_HELD: &str = "fiducia_enricher_profiles_held";
/// Events applied to a profile.
pub const PROFILE_UPDATES: &str = "fiducia_enricher_profile_updates_total";
/// Profiles forgotten, by `reason` (withdrawn, erased, expired).
pub const PROFILES_FORGOTTEN: &str = "fiducia_enricher_profiles_forgotten_total";
/// Profile records (profiles and tombstones) written to the profiles topic.
pub const PROFILE_RECORDS: &str = "fiducia_enricher_profile_records_written_total";
/// Geo lookups that failed on the database.
pub const GEO_ERRORS: &str = "fiducia_enricher_geo_lookup_errors_total";
/// IP prefixes finer than /24 or /48 that had to be cut back.
pub const IP_COARSENED: &str = "fiducia_enricher_ip_prefixes_coarsened_total";
/// Stripped events that still carried an identifier, removed.
pub const IDENTIFIERS_REMOVED: &str = "fiducia_enricher_identifiers_removed_total";

/// Buckets of the histograms whose range is not their unit's default
/// (`fiducia_runtime::service::admin`: seconds 100 µs to 10 s).
pub const BUCKETS: &[HistogramBuckets] = &[
    (BATCH_DURATION, SLOW_BUCKETS),
    (SESSION_RESTORE_SECONDS, SLOW_BUCKETS),
];
/// A batch retried, or a read back of partitions: 1 ms to 5 min.
const SLOW_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Registers descriptions so `/metrics` explains every series, and creates
/// the loss ledger's counters so they read 0 (not absent) before the first
/// event.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    CONSUMER.describe();
    PRODUCER.describe();
    describe_counter!(
        EVENTS_CONSUMED,
        "Raw events read, counted when their batch is acknowledged: enriched + dead-lettered + dropped."
    );
    describe_counter!(
        EVENTS_DROPPED,
        "Raw events not passed on, on purpose, by reason (bot, erased, duplicate, already_applied)."
    );
    for reason in DROP_REASONS {
        metrics::counter!(EVENTS_DROPPED, "reason" => reason).increment(0);
    }
    for name in [EVENTS_CONSUMED, EVENTS_ENRICHED] {
        metrics::counter!(name).increment(0);
    }
    describe_counter!(
        EVENTS_ENRICHED,
        "Events enriched and acknowledged downstream."
    );
    describe_counter!(DEAD_LETTERS, "Messages dead-lettered, by reason.");
    describe_counter!(PRODUCE_ERRORS, "Produce failures (the batch is retried).");
    describe_counter!(BOTS_FLAGGED, "Events flagged as bots.");
    describe_counter!(BOTS_DROPPED, "Bot events dropped on their site's request.");
    describe_counter!(
        EVENTS_ALREADY_APPLIED,
        "Events re-read after a restart that were already enriched (skipped)."
    );
    describe_counter!(
        EVENTS_DUPLICATE,
        "Copies of a visitor's recent events (sent again by the tag), dropped before counting."
    );
    describe_counter!(
        EVENTS_ERASED,
        "Events of erased subjects dropped (the privacy topic's deny-list)."
    );
    DOWNSTREAM_LAG.describe();
    describe_gauge!(
        ERASURES_LAG,
        "Privacy requests not yet read into the deny-list."
    );
    describe_gauge!(
        WITHDRAWALS_LAG,
        "Consent records not yet read by the live follower of personalization withdrawals."
    );
    describe_counter!(SESSIONS_STARTED, "Sessions started, by reason.");
    describe_counter!(
        SESSIONS_DROPPED,
        "Session states dropped from memory, by reason."
    );
    describe_gauge!(SESSIONS_HELD, "Session states held in memory.");
    describe_counter!(SESSION_RECORDS, "Session state records written.");
    describe_counter!(
        SESSION_RESTORES,
        "Partitions whose session state and profiles were read back."
    );
    describe_histogram!(
        SESSION_RESTORE_SECONDS,
        Unit::Seconds,
        "Time to read back the session state and profiles of partitions."
    );
    describe_counter!(
        SESSION_RECORDS_UNDECODABLE,
        "Session state and profile records skipped because they did not decode."
    );
    describe_gauge!(PROFILES_HELD, "Visitor profiles held in memory.");
    describe_counter!(PROFILE_UPDATES, "Events applied to a visitor profile.");
    describe_counter!(
        PROFILES_FORGOTTEN,
        "Profiles forgotten, by reason (withdrawn, erased, expired)."
    );
    describe_counter!(PROFILE_RECORDS, "Profile records (and tombstones) written.");
    describe_counter!(GEO_ERRORS, "Geo lookups that failed on the database.");
    describe_counter!(IP_COARSENED, "IP prefixes finer than /24 or /48, cut back.");
    describe_counter!(
        IDENTIFIERS_REMOVED,
        "Stripped events that still carried an identifier, removed."
    );
}

/// Counts an acknowledged batch.
pub fn record(
    tally: &BatchTally,
    state_records: usize,
    sessions_held: usize,
    profiles_held: usize,
) {
    use metrics::{counter, gauge};
    counter!(EVENTS_CONSUMED).increment(tally.consumed);
    counter!(EVENTS_ENRICHED).increment(tally.enriched);
    for (reason, n) in &tally.dead_letters {
        counter!(DEAD_LETTERS, "reason" => *reason).increment(*n);
    }
    counter!(BOTS_FLAGGED).increment(tally.bots_flagged);
    counter!(BOTS_DROPPED).increment(tally.bots_dropped);
    counter!(EVENTS_ALREADY_APPLIED).increment(tally.already_applied);
    counter!(EVENTS_ERASED).increment(tally.erased);
    counter!(EVENTS_DUPLICATE).increment(tally.duplicates);
    for (reason, n) in [
        ("bot", tally.bots_dropped),
        ("erased", tally.erased),
        ("duplicate", tally.duplicates),
        ("already_applied", tally.already_applied),
    ] {
        counter!(EVENTS_DROPPED, "reason" => reason).increment(n);
    }
    for (reason, n) in &tally.sessions_started {
        counter!(SESSIONS_STARTED, "reason" => *reason).increment(*n);
    }
    counter!(SESSIONS_DROPPED, "reason" => "expired").increment(tally.store.expired);
    counter!(SESSIONS_DROPPED, "reason" => "capacity").increment(tally.store.evicted_live);
    counter!(SESSIONS_DROPPED, "reason" => "erased").increment(tally.store.erased);
    let profiles = &tally.profiles;
    counter!(SESSION_RECORDS).increment((state_records as u64).saturating_sub(profiles.written));
    counter!(PROFILE_RECORDS).increment(profiles.written);
    counter!(PROFILE_UPDATES).increment(profiles.updated);
    counter!(PROFILES_FORGOTTEN, "reason" => "withdrawn").increment(profiles.withdrawn);
    counter!(PROFILES_FORGOTTEN, "reason" => "erased").increment(profiles.erased);
    counter!(PROFILES_FORGOTTEN, "reason" => "expired").increment(profiles.expired);
    #[allow(clippy::cast_precision_loss)] // a count of visitors, far below 2^52
    gauge!(PROFILES_HELD).set(profiles_held as f64);
    #[allow(clippy::cast_precision_loss)] // a count of visitors, far below 2^52
    gauge!(SESSIONS_HELD).set(sessions_held as f64);
    counter!(GEO_ERRORS).increment(tally.enrich.geo_errors);
    counter!(IP_COARSENED).increment(tally.enrich.ip_coarsened);
    counter!(IDENTIFIERS_REMOVED).increment(tally.enrich.identifiers_removed);
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn a_batch_is_counted_under_the_documented_names() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let mut tally = BatchTally {
            consumed: 10,
            enriched: 7,
            bots_dropped: 1,
            ..BatchTally::default()
        };
        tally.dead_letters.insert("bad_event_id", 2);
        tally.sessions_started.insert("idle", 3);
        tally.profiles.updated = 5;
        tally.profiles.written = 1;
        metrics::with_local_recorder(&recorder, || record(&tally, 4, 9, 2));
        let values: Vec<(String, Vec<String>, DebugValue)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        let find = |name: &str, label: Option<&str>| {
            values
                .iter()
                .find(|(n, labels, _)| {
                    n == name && label.is_none_or(|l| labels.iter().any(|x| x == l))
                })
                .map(|(_, _, v)| v)
        };
        assert_eq!(find(EVENTS_ENRICHED, None), Some(&DebugValue::Counter(7)));
        assert_eq!(
            find(DEAD_LETTERS, Some("reason=bad_event_id")),
            Some(&DebugValue::Counter(2))
        );
        assert_eq!(
            find(SESSIONS_STARTED, Some("reason=idle")),
            Some(&DebugValue::Counter(3))
        );
        assert_eq!(find(BOTS_DROPPED, None), Some(&DebugValue::Counter(1)));
        assert_eq!(find(EVENTS_CONSUMED, None), Some(&DebugValue::Counter(10)));
        assert_eq!(
            find(EVENTS_DROPPED, Some("reason=bot")),
            Some(&DebugValue::Counter(1))
        );
        assert_eq!(find(SESSION_RECORDS, None), Some(&DebugValue::Counter(3)));
        assert_eq!(find(PROFILE_RECORDS, None), Some(&DebugValue::Counter(1)));
        assert_eq!(find(PROFILE_UPDATES, None), Some(&DebugValue::Counter(5)));
        assert!(matches!(
            find(PROFILES_HELD, None),
            Some(DebugValue::Gauge(_))
        ));
        assert!(matches!(
            find(SESSIONS_HELD, None),
            Some(DebugValue::Gauge(_))
        ));
        for (name, ..) in &values {
            assert!(name.starts_with("fiducia_enricher_"), "{name}");
        }
    }
}
