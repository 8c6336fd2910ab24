//! `privacy_requests`, the audit trail of access and erasure requests,
//! written by the privacy-request workflow ([`crate::jobs::privacy`], the
//! consumer of `fiducia.privacy.v1`): one row per state a request reached,
//! so the rows of one request tell its story (received, enforced, deleted,
//! verified for an erasure; completed for an access request the collector
//! served).

/// The table's name, in the configured database.
pub const NAME: &str = "privacy_requests";

/// The first version of the table (migration 6), one row per request with
/// its latest status. Nothing ever wrote it.
pub const CREATE_FIRST: &str = "\
CREATE TABLE IF NOT EXISTS {db}.privacy_requests
(
    request_id UUID COMMENT 'UUIDv7 of the request',
    site_id String,
    subject String COMMENT 'pseudonymous subject the request is about',
    kind String COMMENT 'access or erasure',
    status String COMMENT 'received, deny_listed, deleted, completed, failed',
    requested_at DateTime('UTC'),
    updated_at DateTime('UTC') COMMENT 'when the request reached this status',
    tables Array(String) COMMENT 'tables the deletion covered',
    detail String COMMENT 'why it failed, when it did'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(requested_at)
ORDER BY (site_id, request_id)";

/// Migration 11 replaces [`CREATE_FIRST`]: that table was always empty
/// (nothing wrote it before the workflow existed), so it is dropped.
pub const DROP_FIRST: &str = "DROP TABLE IF EXISTS {db}.privacy_requests";

/// The audit trail of the visitors' rights: one row per state a request
/// reached. A state is written once; a state written twice (a redelivered
/// request, a restart between the write and the offset) has the same sorting
/// key and collapses on merge, so `FINAL` shows one row per state. Never
/// expires and is never erased: it is the proof that a request was
/// honoured. `tables` and `rows` are parallel arrays (18.16 has no `Map`).
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.privacy_requests
(
    request_id UUID COMMENT 'UUIDv7 of the request; retries of one request share it',
    site_id String,
    subject String COMMENT 'visitor id the request is about; empty for a request by user key',
    user_key String COMMENT 'for a request by user id: lower(hex(SHA256(site_id NUL user_id))), never the id',
    kind String COMMENT 'access or erasure',
    channel String COMMENT 'center (the visitor, with their token) or admin (the operator)',
    status String COMMENT 'erasure: received, enforced, deleted, verified; access: completed',
    requested_at DateTime('UTC') COMMENT 'when the collector took the request',
    requested_ms UInt16 COMMENT 'millisecond part of requested_at',
    updated_at DateTime('UTC') COMMENT 'when the request reached this status',
    updated_ms UInt16 COMMENT 'millisecond part of updated_at',
    tables Array(String) COMMENT 'enforced and deleted: the tables holding the subject',
    rows Array(UInt64) COMMENT 'rows of the subject in tables[i] when the request was enforced, which the deletion removed',
    detail String COMMENT 'what happened, e.g. visitor ids resolved from the user key'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(requested_at)
ORDER BY (site_id, request_id, status)";
