//! Metric names of the enricher, in one place. The shared consume loop adds
//! `fiducia_enricher_kafka_messages_consumed_total`,
//! `fiducia_enricher_batch_retries_total` and
//! `fiducia_enricher_batch_duration_seconds` under [`PREFIX`]. Labels come
//! from bounded sets only: dead-letter reasons, session start reasons,
//! reasons a profile is forgotten.

use crate::batch::BatchTally;

/// Prefix handed to the shared consume loop.
pub const PREFIX: &str = "fiducia_enricher";
/// Events enriched and acknowledged on the enriched topic.
pub const EVENTS_ENRICHED: &str = "fiducia_enricher_events_enriched_total";
/// Messages sent to the dead-letter topic, by `reason`.
pub const DEAD_LETTERS: &str = "fiducia_enricher_dead_letters_total";
/// Produce failures that made a batch retry.
pub const PRODUCE_ERRORS: &str = "fiducia_enricher_kafka_produce_errors_total";
/// Events flagged as bots.
pub const BOTS_FLAGGED: &str = "fiducia_enricher_bots_flagged_total";
/// Bot events dropped because their site asks for it.
pub const BOTS_DROPPED: &str = "fiducia_enricher_bots_dropped_total";
/// Events re-read after a restart that were already enriched, skipped.
pub const EVENTS_ALREADY_APPLIED: &str = "fiducia_enricher_events_already_applied_total";
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

/// Registers descriptions so `/metrics` explains every series.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
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
        EVENTS_ERASED,
        "Events of erased subjects dropped (the privacy topic's deny-list)."
    );
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
    counter!(EVENTS_ENRICHED).increment(tally.enriched);
    for (reason, n) in &tally.dead_letters {
        counter!(DEAD_LETTERS, "reason" => *reason).increment(*n);
    }
    counter!(BOTS_FLAGGED).increment(tally.bots_flagged);
    counter!(BOTS_DROPPED).increment(tally.bots_dropped);
    counter!(EVENTS_ALREADY_APPLIED).increment(tally.already_applied);
    counter!(EVENTS_ERASED).increment(tally.erased);
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
