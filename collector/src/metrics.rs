//! Metric names of the collector, in one place (`README.md`, Operations:
//! `fiducia_collector_*`, base units, counters end in `_total`, labels from
//! bounded sets only: route templates, status codes, reason enums).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use fiducia_runtime::kafka::group_lag::GroupLagMetrics;
use fiducia_runtime::kafka::resilient::ProducerMetrics;
use fiducia_runtime::service::admin::HistogramBuckets;

/// Producers replaced because deliveries kept failing while the broker answered.
pub const KAFKA_PRODUCER_REBUILDS: &str = "fiducia_collector_kafka_producer_rebuilds_total";
/// 1 when `/readyz` answers 200, 0 when not, set at each scrape
/// (`fiducia_runtime::service::admin::serve` describes it).
pub const READY: &str = "fiducia_collector_ready";
/// The names the shared producer records under.
pub const PRODUCER: ProducerMetrics = ProducerMetrics {
    rebuilds: KAFKA_PRODUCER_REBUILDS,
};
/// Messages of the raw topic the enricher's group has not committed, by
/// `group`, `topic`, `partition`: the next stage's lag seen from here, so it
/// shows while the enrichers are down (`fiducia_runtime::kafka::group_lag`).
pub const DOWNSTREAM_LAG_MESSAGES: &str = "fiducia_collector_downstream_lag_messages";
/// Age of the oldest of them, in seconds.
pub const DOWNSTREAM_LAG_SECONDS: &str = "fiducia_collector_downstream_lag_seconds";
/// The names the downstream lag watch records under.
pub const DOWNSTREAM_LAG: GroupLagMetrics = GroupLagMetrics {
    messages: DOWNSTREAM_LAG_MESSAGES,
    seconds: DOWNSTREAM_LAG_SECONDS,
};
/// Events acknowledged by Kafka on the raw topic: the loss ledger's first
/// hand-off. Counted per event once the broker acknowledged it, also when
/// another message of the same request failed (the request is then
/// answered 503 and the client's retry is dropped downstream as a
/// duplicate); in steady state, the events answered 2xx and kept or
/// stripped (`fiducia_collector_events_total{decision!="drop"}`). Events
/// enqueued before the producer refused one (queue full) are not awaited
/// and not counted, though Kafka may still store them.
pub const EVENTS_PUBLISHED: &str = "fiducia_collector_events_published_total";
/// Requests by `route` and `status`.
pub const HTTP_REQUESTS: &str = "fiducia_collector_http_requests_total";
/// Request latency by `route`.
pub const HTTP_REQUEST_DURATION: &str = "fiducia_collector_http_request_duration_seconds";
/// Rejected requests by `reason`: the error body's `error`, or what the HTTP
/// codec or the connection deadline refused (`header_too_large`,
/// `malformed_request`, `stalled_connection`; `crate::server`).
pub const REQUESTS_REJECTED: &str = "fiducia_collector_requests_rejected_total";
/// Events by `site` (a configured site's id), `decision` (`keep`, `strip`,
/// `drop`), and for drops the denied `purpose` and the `reason` (a
/// `DenyReason`): what each site's banner and notice produce (the site
/// dashboard, `deploy/grafana/README.md`).
pub const EVENTS: &str = "fiducia_collector_events_total";
/// TC strings received, by validation `outcome` (`valid`, or why not).
pub const TCF_STRINGS: &str = "fiducia_collector_tcf_strings_total";
/// Consent records published, by `action` and `source` kind (`tag`, `tcf`, `gpc`, `dnt`, `privacy`).
pub const CONSENT_RECORDS: &str = "fiducia_collector_consent_records_total";
/// Records read from the consent topic into the ledger, by `outcome` (`applied`, `invalid`).
pub const LEDGER_RECORDS: &str = "fiducia_collector_consent_ledger_records_total";
/// Records in the consent topic the ledger has not applied yet.
pub const LEDGER_LAG: &str = "fiducia_collector_consent_ledger_lag_messages";
/// Time from a record's creation (any collector) to this ledger applying it.
pub const LEDGER_DELAY: &str = "fiducia_collector_consent_ledger_delay_seconds";
/// Subjects the ledger holds.
pub const LEDGER_SUBJECTS: &str = "fiducia_collector_consent_ledger_subjects";
/// Subjects the ledger holds in full (erased, withdrawn, objection lifted,
/// retention chosen); the others are packed.
pub const LEDGER_HELD_SUBJECTS: &str = "fiducia_collector_consent_ledger_held_subjects";
/// About the bytes the ledger's entries take (not the privacy center's history).
pub const LEDGER_BYTES: &str = "fiducia_collector_consent_ledger_bytes";
/// Ledger snapshots written (`consent::snapshot`), by `outcome` (`ok`, `error`).
pub const LEDGER_SNAPSHOT_WRITES: &str = "fiducia_collector_consent_ledger_snapshot_writes_total";
/// When the last snapshot was written (Unix seconds; 0: none yet).
pub const LEDGER_SNAPSHOT_TIMESTAMP: &str =
    "fiducia_collector_consent_ledger_snapshot_timestamp_seconds";
/// The last snapshot's size on disk.
pub const LEDGER_SNAPSHOT_BYTES: &str = "fiducia_collector_consent_ledger_snapshot_bytes";
/// Time to encode, write, fsync and rename a snapshot.
pub const LEDGER_SNAPSHOT_WRITE_DURATION: &str =
    "fiducia_collector_consent_ledger_snapshot_write_duration_seconds";
/// How the ledger started, by `from` (`snapshot`, `replay`) and `reason`
/// (`loaded`; why not: `disabled`, `missing`, `unreadable`, `truncated`, `corrupt`,
/// `version`, `topic`, `partitions`, `beyond_end`, `below_start`,
/// `record_changed`, `unaligned`, `broker`).
pub const LEDGER_STARTS: &str = "fiducia_collector_consent_ledger_starts_total";
/// Time to read, check and restore a snapshot at start-up.
pub const LEDGER_SNAPSHOT_LOAD_DURATION: &str =
    "fiducia_collector_consent_ledger_snapshot_load_duration_seconds";
/// Events that arrived in a request that was refused as a whole, by `reason`.
pub const EVENTS_REJECTED: &str = "fiducia_collector_events_rejected_total";
/// Kafka produce attempts (events and consent records) by `outcome` (`ok`, `error`, `queue_full`).
pub const KAFKA_PRODUCE: &str = "fiducia_collector_kafka_produce_total";
/// Time from enqueueing a request's events to their last acknowledgement.
pub const KAFKA_PRODUCE_DURATION: &str = "fiducia_collector_kafka_produce_duration_seconds";
/// Privacy center requests (`routes::privacy`) by `route` (`consent`,
/// `change`, `history`, `receipt`, `erase`, `retention`, `export`,
/// `requests`, `explain`) and `outcome` (`ok`, or the
/// refusal's reason).
pub const PRIVACY_REQUESTS: &str = "fiducia_collector_privacy_requests_total";
/// Visitor tokens refused, by `reason` (`token_missing`, `token_malformed`,
/// `token_unknown_key`, `token_bad_signature`, `token_expired`,
/// `token_wrong_site`, `token_wrong_visitor`).
pub const TOKEN_FAILURES: &str = "fiducia_collector_privacy_token_failures_total";
/// Visitor ids minted and issued with their token.
pub const VISITOR_IDS_ISSUED: &str = "fiducia_collector_visitor_ids_issued_total";
/// Privacy requests made (published to the privacy topic), by `kind`
/// (`access`, `erasure`) and `channel` (`center`, `admin`).
pub const RIGHTS_REQUESTS: &str = "fiducia_collector_rights_requests_total";
/// Exports streamed, by `channel` and `outcome` (`ok`, `error`: ended early).
pub const EXPORTS: &str = "fiducia_collector_exports_total";
/// Table rows streamed in exports, by `channel`.
pub const EXPORT_ROWS: &str = "fiducia_collector_export_rows_total";
/// Bytes of export documents streamed, by `channel`.
pub const EXPORT_BYTES: &str = "fiducia_collector_export_bytes_total";
/// Time to stream one export, by `channel`.
pub const EXPORT_DURATION: &str = "fiducia_collector_export_duration_seconds";
/// Admin API calls by `route` (template) and `outcome` (`ok`, or the
/// refusal's reason: `admin_unauthorized`, `invalid_field`, `audit_failed`, …).
pub const ADMIN_CALLS: &str = "fiducia_collector_admin_calls_total";
/// Request body size as received.
pub const REQUEST_BODY_SIZE: &str = "fiducia_collector_request_body_size_bytes";
/// `GET /v1/profile` answers by `answer` (`personal`, `contextual`, and
/// `none` for a refusal: rate limit, unknown site, origin, bad query).
pub const PROFILE_REQUESTS: &str = "fiducia_collector_profile_requests_total";
/// Time to build a `GET /v1/profile` answer (from the checks to the JSON).
pub const PROFILE_REQUEST_DURATION: &str = "fiducia_collector_profile_request_duration_seconds";
/// Visitor profiles held in memory.
pub const PROFILES_HELD: &str = "fiducia_collector_profiles_held";
/// Item lists (related and popular) held in memory.
pub const ITEM_LISTS_HELD: &str = "fiducia_collector_item_lists_held";
/// Time from the event that last updated a profile (its `updated_at_ms`,
/// collector receive time) to this collector holding the update.
pub const PROFILE_FRESHNESS: &str = "fiducia_collector_profile_freshness_seconds";
/// Messages read from the profiles and items topics, by `store`
/// (`profiles`, `items`) and `outcome` (`applied`, `invalid`,
/// `dropped_by_consent`).
pub const PROFILE_RECORDS: &str = "fiducia_collector_profile_records_total";
/// Records in the profiles topic the store has not applied yet.
pub const PROFILES_LAG: &str = "fiducia_collector_profiles_lag_messages";
/// Records in the items topic the store has not applied yet.
pub const ITEM_LISTS_LAG: &str = "fiducia_collector_item_lists_lag_messages";
/// 1 once a store's follower, by `store` (`profiles`, `items`), has read
/// everything its topic held at start-up; until the profiles store has,
/// every answer is contextual.
pub const PROFILE_FOLLOWERS_CAUGHT_UP: &str = "fiducia_collector_profile_followers_caught_up";

/// Buckets of the histograms whose range is not their unit's default
/// (`fiducia_runtime::service::admin`: seconds 100 µs to 10 s, bytes 64 B
/// to 1 MiB).
pub const BUCKETS: &[HistogramBuckets] = &[
    (EXPORT_DURATION, EXPORT_BUCKETS),
    (LEDGER_SNAPSHOT_WRITE_DURATION, SNAPSHOT_BUCKETS),
    (LEDGER_SNAPSHOT_LOAD_DURATION, SNAPSHOT_BUCKETS),
];
/// A ledger snapshot written or loaded: 10 ms (thousands of subjects) to
/// 2 min (tens of millions).
const SNAPSHOT_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];
/// An export document streamed: 10 ms to 10 min.
const EXPORT_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

/// Registers descriptions so `/metrics` explains every series.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    PRODUCER.describe();
    DOWNSTREAM_LAG.describe();
    describe_counter!(
        EVENTS_PUBLISHED,
        "Events acknowledged by Kafka on the raw topic."
    );
    metrics::counter!(EVENTS_PUBLISHED).increment(0);
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route and status.");
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by route."
    );
    describe_counter!(
        REQUESTS_REJECTED,
        "Requests refused, by machine-readable reason."
    );
    describe_counter!(
        EVENTS,
        "Events by consent decision; drops by denied purpose and reason."
    );
    describe_counter!(TCF_STRINGS, "TC strings received, by validation outcome.");
    describe_counter!(
        CONSENT_RECORDS,
        "Consent records published, by action and source kind."
    );
    describe_counter!(
        LEDGER_RECORDS,
        "Consent records read into the ledger, by outcome."
    );
    describe_gauge!(
        LEDGER_LAG,
        "Consent records in the topic not yet applied to the ledger."
    );
    describe_histogram!(
        LEDGER_DELAY,
        Unit::Seconds,
        "Time from a consent record's creation to this collector's ledger applying it."
    );
    describe_gauge!(LEDGER_SUBJECTS, "Subjects held by the consent ledger.");
    describe_gauge!(
        LEDGER_HELD_SUBJECTS,
        "Subjects the consent ledger holds in full (what wins over the tag); the others are packed."
    );
    describe_gauge!(
        LEDGER_BYTES,
        Unit::Bytes,
        "About the bytes the consent ledger's entries take, history of records excluded."
    );
    describe_counter!(
        LEDGER_SNAPSHOT_WRITES,
        "Consent ledger snapshots written, by outcome."
    );
    describe_gauge!(
        LEDGER_SNAPSHOT_TIMESTAMP,
        Unit::Seconds,
        "When the last consent ledger snapshot was written (Unix time)."
    );
    describe_gauge!(
        LEDGER_SNAPSHOT_BYTES,
        Unit::Bytes,
        "Size of the last consent ledger snapshot written."
    );
    describe_histogram!(
        LEDGER_SNAPSHOT_WRITE_DURATION,
        Unit::Seconds,
        "Time to encode, write, fsync and rename a consent ledger snapshot."
    );
    describe_counter!(
        LEDGER_STARTS,
        "How the consent ledger started: from a snapshot, or a full replay and why."
    );
    describe_histogram!(
        LEDGER_SNAPSHOT_LOAD_DURATION,
        Unit::Seconds,
        "Time to read, check and restore the consent ledger's snapshot at start-up."
    );
    describe_counter!(
        EVENTS_REJECTED,
        "Events in requests refused as a whole, by reason."
    );
    describe_counter!(KAFKA_PRODUCE, "Kafka produce attempts by outcome.");
    describe_histogram!(
        KAFKA_PRODUCE_DURATION,
        Unit::Seconds,
        "Time until Kafka acknowledged a request's events."
    );
    describe_counter!(
        PRIVACY_REQUESTS,
        "Privacy center API requests by route and outcome."
    );
    describe_counter!(TOKEN_FAILURES, "Visitor tokens refused, by reason.");
    describe_counter!(
        VISITOR_IDS_ISSUED,
        "Visitor ids minted and issued with their token."
    );
    describe_counter!(
        RIGHTS_REQUESTS,
        "Export and erasure requests published, by kind and channel."
    );
    describe_counter!(EXPORTS, "Exports streamed, by channel and outcome.");
    describe_counter!(EXPORT_ROWS, "Table rows streamed in exports, by channel.");
    describe_counter!(
        EXPORT_BYTES,
        Unit::Bytes,
        "Bytes of export documents streamed, by channel."
    );
    describe_histogram!(
        EXPORT_DURATION,
        Unit::Seconds,
        "Time to stream one export document, by channel."
    );
    describe_counter!(
        ADMIN_CALLS,
        "Admin API calls by route and outcome (every call is also audited in ClickHouse)."
    );
    describe_histogram!(
        REQUEST_BODY_SIZE,
        Unit::Bytes,
        "Request body size as received."
    );
    describe_counter!(
        PROFILE_REQUESTS,
        "GET /v1/profile answers by kind (personal, contextual; none: refused)."
    );
    describe_histogram!(
        PROFILE_REQUEST_DURATION,
        Unit::Seconds,
        "Time to build a GET /v1/profile answer."
    );
    describe_gauge!(PROFILES_HELD, "Visitor profiles held in memory.");
    describe_gauge!(ITEM_LISTS_HELD, "Item lists held in memory.");
    describe_histogram!(
        PROFILE_FRESHNESS,
        Unit::Seconds,
        "Time from the event that updated a profile to this collector holding it."
    );
    describe_counter!(
        PROFILE_RECORDS,
        "Profiles and item lists topic messages read, by store and outcome."
    );
    describe_gauge!(
        PROFILES_LAG,
        "Profiles topic records not yet applied to the store."
    );
    describe_gauge!(
        ITEM_LISTS_LAG,
        "Items topic records not yet applied to the store."
    );
    describe_gauge!(
        PROFILE_FOLLOWERS_CAUGHT_UP,
        "1 once a store's follower read everything its topic held at start-up."
    );
    // Resolved here, right after the recorder was installed.
    hot();
}

/// Handles of the series every `POST /v1/events` and `GET /v1/profile`
/// records, resolved once:
/// `counter!` looks its series up in the registry on every call (hashing
/// the name and labels, cloning the labels), which cost the request path
/// about 0.7 µs of its ~20 (`benches/README.md`, the collector's profile).
/// Rare outcomes (refusals, drops by reason) still use the macros.
pub struct Hot {
    /// [`EVENTS_PUBLISHED`].
    pub events_published: metrics::Counter,
    /// `KAFKA_PRODUCE{outcome="ok"}`.
    pub produce_ok: metrics::Counter,
    /// [`KAFKA_PRODUCE_DURATION`].
    pub produce_duration: metrics::Histogram,
    /// [`REQUEST_BODY_SIZE`].
    pub body_size: metrics::Histogram,
    /// [`VISITOR_IDS_ISSUED`].
    pub visitor_ids_issued: metrics::Counter,
    /// [`PROFILE_REQUESTS`] by [`ProfileAnswer`].
    pub profile_requests: [metrics::Counter; 3],
    /// [`PROFILE_REQUEST_DURATION`].
    pub profile_duration: metrics::Histogram,
}

/// The `answer` label of [`PROFILE_REQUESTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileAnswer {
    /// From the visitor's profile.
    Personal = 0,
    /// From the request alone.
    Contextual = 1,
    /// Refused (rate limit, site, origin, query).
    None = 2,
}

impl ProfileAnswer {
    const LABELS: [&str; 3] = ["personal", "contextual", "none"];

    /// Counts one answer of this kind.
    pub fn count(self) {
        hot().profile_requests[self as usize].increment(1);
    }
}

/// The request path's handles ([`Hot`]), resolved against the recorder
/// installed at the first call: [`describe`] makes that call right after
/// the service installed its recorder.
pub fn hot() -> &'static Hot {
    static HOT: OnceLock<Hot> = OnceLock::new();
    HOT.get_or_init(|| Hot {
        events_published: metrics::counter!(EVENTS_PUBLISHED),
        produce_ok: metrics::counter!(KAFKA_PRODUCE, "outcome" => "ok"),
        produce_duration: metrics::histogram!(KAFKA_PRODUCE_DURATION),
        body_size: metrics::histogram!(REQUEST_BODY_SIZE),
        visitor_ids_issued: metrics::counter!(VISITOR_IDS_ISSUED),
        profile_requests: ProfileAnswer::LABELS
            .map(|answer| metrics::counter!(PROFILE_REQUESTS, "answer" => answer)),
        profile_duration: metrics::histogram!(PROFILE_REQUEST_DURATION),
    })
}

/// Counts a request's events kept and stripped for `site` under
/// [`EVENTS`]; the handles are resolved on a site's first request and kept
/// per worker thread (sites are the configured ones).
pub fn events_decided(site: &str, kept: usize, stripped: usize) {
    thread_local! {
        static SITES: RefCell<HashMap<String, [metrics::Counter; 2]>> = RefCell::default();
    }
    if kept == 0 && stripped == 0 {
        return;
    }
    SITES.with_borrow_mut(|sites| {
        if !sites.contains_key(site) {
            let handles = [
                metrics::counter!(EVENTS, "site" => site.to_owned(), "decision" => "keep", "purpose" => "all", "reason" => "granted"),
                metrics::counter!(EVENTS, "site" => site.to_owned(), "decision" => "strip", "purpose" => "measurement", "reason" => "anonymous"),
            ];
            sites.insert(site.to_owned(), handles);
        }
        if let Some([kept_counter, stripped_counter]) = sites.get(site) {
            kept_counter.increment(kept as u64);
            stripped_counter.increment(stripped as u64);
        }
    });
}

/// One route's [`HTTP_REQUESTS`] and [`HTTP_REQUEST_DURATION`] handles.
struct RouteHandles {
    duration: metrics::Histogram,
    by_status: Vec<(u16, metrics::Counter)>,
}

/// Counts a request under its `route` template and `status` and records how
/// long it took. The handles are resolved on a route's or a status's first
/// request and kept per worker thread (both label sets are bounded: route
/// templates, status codes), so a request costs no registry lookup.
pub fn http_request(route: &str, status: u16, seconds: f64) {
    thread_local! {
        static ROUTES: RefCell<HashMap<String, RouteHandles>> = RefCell::default();
    }
    ROUTES.with_borrow_mut(|routes| {
        if !routes.contains_key(route) {
            let duration = metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route.to_owned());
            let handles = RouteHandles {
                duration,
                by_status: Vec::new(),
            };
            routes.insert(route.to_owned(), handles);
        }
        let Some(handles) = routes.get_mut(route) else {
            return;
        };
        handles.duration.record(seconds);
        if let Some((_, counter)) = handles.by_status.iter().find(|(s, _)| *s == status) {
            counter.increment(1);
        } else {
            let counter = metrics::counter!(
                HTTP_REQUESTS,
                "route" => route.to_owned(),
                "status" => status.to_string()
            );
            counter.increment(1);
            handles.by_status.push((status, counter));
        }
    });
}
