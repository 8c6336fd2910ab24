//! `privacy_requests`, the audit trail of access and erasure requests. Its
//! writer, the privacy-request workflow (the consumer of
//! `fiducia.privacy.v1`), is not built yet: until then the table is empty.

/// The audit trail of access and erasure requests (the visitors' rights): one row
/// per state a request reached; the latest `updated_at` wins on merge.
pub const CREATE: &str = "\
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
