//! `admin_audit`: every call of the collector's admin API (requests that
//! reach the site's operator by e-mail or from a logged-in user), inserted
//! by the collector. The sink only creates the table; it never expires.

/// The table's name, in the configured database.
pub const NAME: &str = "admin_audit";

/// One row per admin API call, refused ones included (`status` 401). The
/// subject is a visitor id or `user:<user_key>`, never a user id; `ip_prefix`
/// is truncated like the consent log's. Kept forever: it is the operator's
/// proof of what was asked in whose name.
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.admin_audit
(
    called_at DateTime('UTC') COMMENT 'when the collector answered the call',
    called_ms UInt16 COMMENT 'millisecond part of called_at',
    call_id UUID COMMENT 'UUIDv7 of the call, the dedup key',
    site_id String,
    route String COMMENT 'the route template, e.g. /v1/admin/requests',
    method String COMMENT 'GET, POST',
    subject String COMMENT 'visitor id or user:<user_key>; never a user id; empty when none',
    request_id String COMMENT 'the privacy request created or read, when one was',
    status UInt16 COMMENT 'HTTP status answered (401 without the secret)',
    ip_prefix String COMMENT 'truncated network of the caller, e.g. 203.0.113.0/24'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(called_at)
ORDER BY (site_id, called_at, call_id)";
