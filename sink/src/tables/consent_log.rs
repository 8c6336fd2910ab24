//! `consent_log`, the append-only proof of consent, from
//! `fiducia.consent.v1`: a [`ConsentRecord`] becomes one [`ConsentRow`].
//! Redelivered records carry the same `record_id` and collapse on it.
//! Storing a row can end a profile: see [`crate::jobs::erase_on_withdrawal`].

use std::net::{Ipv4Addr, Ipv6Addr};

use fiducia_proto::consent::{Purpose, action_name};
use fiducia_proto::headers::schema;
use fiducia_proto::v1::{ConsentAction, ConsentRecord, IpPrefix};
use uuid::Uuid;

use super::{TableRow, TimeOutOfRange, split_ms};
use crate::handler::Rejection;
use crate::schema::migrations::Step;

/// The table's name, in the configured database.
pub const NAME: &str = "consent_log";

/// Proof of consent (GDPR art. 7(1)): one row per consent record, never
/// updated, kept as long as proof is needed (no retention). Redelivered
/// records carry the same `record_id` and values and collapse on merge;
/// `record_id` is a UUIDv7, so the sorting key orders one subject's history
/// in time.
pub const CREATE: &str = "\
CREATE TABLE IF NOT EXISTS {db}.consent_log
(
    record_id UUID COMMENT 'UUIDv7 of the record, the dedup key (the tag event id for consent events)',
    site_id String,
    subject String COMMENT 'pseudonymous subject: the tag visitor id, or empty',
    action String COMMENT 'grant, deny, update, withdraw, object, erase',
    measurement UInt8 COMMENT 'state after the change: 1 granted',
    personalization UInt8,
    functional UInt8,
    contextual UInt8,
    source String COMMENT 'tag:<api|gcm|cmp|tcf>, tcf:<cmp id>, gpc, dnt, privacy',
    notice_version String,
    notice_hash String COMMENT 'SHA-256 of the notice text shown, from the site configuration',
    tcf String COMMENT 'the TC string, when one was the signal',
    gpp String,
    gpc UInt8,
    dnt UInt8,
    client_time DateTime('UTC') COMMENT 'when the visitor chose (client clock)',
    server_time DateTime('UTC') COMMENT 'when the collector recorded it',
    server_ms UInt16 COMMENT 'millisecond part of server_time',
    ip_prefix String COMMENT 'truncated network, e.g. 203.0.113.0/24',
    browser_family String,
    expires_at DateTime('UTC') COMMENT 'when the grant lapses (site maximum consent age)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(server_time)
ORDER BY (site_id, subject, record_id)";

/// Columns of migration 11 (data rights): the user key of an erasure by
/// user id, and the retention the visitor chose, which the retention job
/// reads (the latest record of a subject wins).
pub const RIGHTS_COLUMNS: &[Step] = &[
    Step::AddColumn {
        table: NAME,
        column: "user_key",
        definition: "String DEFAULT '' COMMENT 'an erasure by user id: lower(hex(SHA256(site_id NUL user_id))); empty otherwise'",
    },
    Step::AddColumn {
        table: NAME,
        column: "retention_months",
        definition: "UInt8 DEFAULT 0 COMMENT 'retention of identified data the visitor chose, months; 0 = site default'",
    },
];

/// Dictionary-encodes the `consent_log` columns with few distinct values.
pub const LOW_CARDINALITY: &str = "\
ALTER TABLE {db}.consent_log
    MODIFY COLUMN action LowCardinality(String),
    MODIFY COLUMN source LowCardinality(String),
    MODIFY COLUMN notice_version LowCardinality(String),
    MODIFY COLUMN browser_family LowCardinality(String)";

/// One row of `consent_log` (column types as in [`crate::tables`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// UUIDv7 of the record; the dedup key.
    pub record_id: Uuid,
    /// The site.
    pub site_id: String,
    /// Pseudonymous subject (the tag's visitor id), or empty.
    pub subject: String,
    /// `grant`, `deny`, `update`, `withdraw`, `object`, `erase`.
    pub action: String,
    /// State after the change, one `UInt8` per purpose.
    pub measurement: u8,
    /// State after the change.
    pub personalization: u8,
    /// State after the change.
    pub functional: u8,
    /// State after the change.
    pub contextual: u8,
    /// `tag:<source>`, `tcf:<cmp id>`, `gpc`, `dnt`, `privacy`.
    pub source: String,
    /// Version of the notice shown.
    pub notice_version: String,
    /// SHA-256 of the notice text, from the site's configuration.
    pub notice_hash: String,
    /// The TC string, when one was the signal.
    pub tcf: String,
    /// The GPP string, when one was sent.
    pub gpp: String,
    /// GPC was on (`UInt8`).
    pub gpc: u8,
    /// DNT was on (`UInt8`).
    pub dnt: u8,
    /// When the visitor chose (client clock), `DateTime`.
    pub client_time: u32,
    /// When the collector recorded it, `DateTime`.
    pub server_time: u32,
    /// Millisecond part of `server_time` (`UInt16`).
    pub server_ms: u16,
    /// Truncated network, e.g. `203.0.113.0/24`.
    pub ip_prefix: String,
    /// Browser name.
    pub browser_family: String,
    /// When the grant lapses, `DateTime` (0 when nothing is granted).
    pub expires_at: u32,
    /// An erasure by user id: the user's key; empty otherwise.
    pub user_key: String,
    /// The retention of identified data the subject chose, in months; 0 =
    /// the site's default (`UInt8`).
    pub retention_months: u8,
}

crate::columns!(ConsentRow {
    record_id,
    site_id,
    subject,
    action,
    measurement,
    personalization,
    functional,
    contextual,
    source,
    notice_version,
    notice_hash,
    tcf,
    gpp,
    gpc,
    dnt,
    client_time as "DateTime('UTC')",
    server_time as "DateTime('UTC')",
    server_ms,
    ip_prefix,
    browser_family,
    expires_at as "DateTime('UTC')",
    user_key,
    retention_months,
});

/// A record that decodes but cannot be a row; dead-lettered as `INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRecord {
    /// `record_id` must be exactly 16 bytes.
    #[error("record_id has {0} bytes, want 16")]
    RecordIdLength(usize),
    /// The nil UUID would collapse unrelated records.
    #[error("record_id is the nil UUID")]
    NilRecordId,
    /// No site or no known action.
    #[error("record without a site or an action")]
    Incomplete,
    /// A time `DateTime` cannot hold.
    #[error(transparent)]
    Time(#[from] TimeOutOfRange),
}

impl TableRow for ConsentRow {
    type Message = ConsentRecord;
    const TABLE: &'static str = NAME;
    const SCHEMA: &'static str = schema::CONSENT_RECORD;

    fn from_message(message: ConsentRecord) -> Result<Self, Rejection> {
        Self::try_from(message).map_err(Rejection::invalid)
    }
}

impl TryFrom<ConsentRecord> for ConsentRow {
    type Error = InvalidRecord;

    fn try_from(record: ConsentRecord) -> Result<Self, Self::Error> {
        let id: [u8; 16] = record
            .record_id
            .as_slice()
            .try_into()
            .map_err(|_| InvalidRecord::RecordIdLength(record.record_id.len()))?;
        let record_id = Uuid::from_bytes(id);
        if record_id.is_nil() {
            return Err(InvalidRecord::NilRecordId);
        }
        let action = record.action();
        if record.site_id.is_empty() || action == ConsentAction::Unspecified {
            return Err(InvalidRecord::Incomplete);
        }
        let (client_time, _) = split_ms("client_ts_ms", record.client_ts_ms)?;
        let (server_time, server_ms) = split_ms("server_ts_ms", record.server_ts_ms)?;
        let (expires_at, _) = split_ms("expires_at_ms", record.expires_at_ms)?;
        let state = record.state.unwrap_or_default();
        let flag = |p: Purpose| u8::from(p.granted_by(&state));
        Ok(Self {
            record_id,
            site_id: record.site_id,
            subject: record.subject,
            action: action_name(action).to_owned(),
            measurement: flag(Purpose::Measurement),
            personalization: flag(Purpose::Personalization),
            functional: flag(Purpose::Functional),
            contextual: flag(Purpose::Contextual),
            source: record.source,
            notice_version: record.notice_version,
            notice_hash: record.notice_hash,
            tcf: state.tcf,
            gpp: state.gpp,
            gpc: state.gpc.into(),
            dnt: state.dnt.into(),
            client_time,
            server_time,
            server_ms,
            ip_prefix: record.ip.as_ref().map(prefix).unwrap_or_default(),
            browser_family: record.browser_family,
            expires_at,
            user_key: record.user_key,
            retention_months: u8::try_from(record.retention_months).unwrap_or(u8::MAX),
        })
    }
}

/// `network/len`; empty for a malformed prefix (never a full address).
fn prefix(ip: &IpPrefix) -> String {
    let network = match ip.network.len() {
        4 => <[u8; 4]>::try_from(ip.network.as_slice()).map(|o| Ipv4Addr::from(o).to_string()),
        16 => <[u8; 16]>::try_from(ip.network.as_slice()).map(|o| Ipv6Addr::from(o).to_string()),
        _ => return String::new(),
    };
    network.map_or_else(|_| String::new(), |n| format!("{n}/{}", ip.prefix_len))
}

#[cfg(test)]
pub(crate) mod tests {
    use fiducia_proto::time::{DAY_MS, midnight_days_ago_ms};
    use fiducia_proto::v1::ConsentSnapshot;

    use super::*;
    use crate::columns::Columns as _;
    use crate::tables::create_columns;

    fn record() -> ConsentRecord {
        let mut state = ConsentSnapshot {
            gpc: true,
            tcf: "CQ".into(),
            ..ConsentSnapshot::default()
        };
        Purpose::Measurement.set_in(&mut state, true);
        Purpose::Personalization.set_in(&mut state, false);
        ConsentRecord {
            record_id: Uuid::now_v7().into_bytes().to_vec(),
            site_id: "demo".into(),
            subject: "v1".into(),
            action: ConsentAction::Withdraw.into(),
            state: Some(state),
            source: "tag:api".into(),
            notice_version: "2026-01".into(),
            notice_hash: "ab".repeat(32),
            client_ts_ms: midnight_days_ago_ms(1),
            server_ts_ms: midnight_days_ago_ms(1) + 250,
            ip: Some(IpPrefix {
                network: vec![203, 0, 113, 0],
                prefix_len: 24,
            }),
            browser_family: "Firefox".into(),
            expires_at_ms: midnight_days_ago_ms(1) + 395 * DAY_MS,
            user_key: String::new(),
            retention_months: 6,
        }
    }

    /// A row of `subject` on site `demo`.
    pub(crate) fn row(subject: &str) -> ConsentRow {
        let mut record = record();
        record.subject = subject.into();
        ConsentRow::try_from(record).unwrap()
    }

    #[test]
    fn a_record_becomes_a_row() {
        let row = ConsentRow::try_from(record()).unwrap();
        assert_eq!(row.action, "withdraw");
        assert_eq!(
            (row.measurement, row.personalization, row.functional),
            (1, 0, 0)
        );
        assert_eq!((row.gpc, row.dnt), (1, 0));
        assert_eq!(row.ip_prefix, "203.0.113.0/24");
        let second = u32::try_from(midnight_days_ago_ms(1) / 1000).unwrap();
        assert_eq!((row.server_time, row.server_ms), (second, 250));
        assert_eq!(row.tcf, "CQ");
    }

    #[test]
    fn broken_records_are_refused_with_a_reason() {
        let mut short = record();
        short.record_id = vec![1];
        let mut nil = record();
        nil.record_id = vec![0; 16];
        let mut no_action = record();
        no_action.action = 0;
        let mut old = record();
        old.client_ts_ms = -5;
        for (r, want) in [
            (short, InvalidRecord::RecordIdLength(1)),
            (nil, InvalidRecord::NilRecordId),
            (no_action, InvalidRecord::Incomplete),
        ] {
            assert_eq!(ConsentRow::try_from(r).unwrap_err(), want);
        }
        assert!(matches!(
            ConsentRow::try_from(old),
            Err(InvalidRecord::Time(_))
        ));
    }

    #[test]
    fn an_ipv6_prefix_keeps_only_its_network() {
        let ip = IpPrefix {
            network: vec![
                0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            prefix_len: 48,
        };
        assert_eq!(prefix(&ip), "2001:db8:1234::/48");
        assert_eq!(
            prefix(&IpPrefix {
                network: vec![1, 2, 3],
                prefix_len: 24
            }),
            ""
        );
    }

    #[test]
    fn the_consent_log_has_a_column_for_every_row_field() {
        let mut columns = create_columns(CREATE);
        columns.extend(RIGHTS_COLUMNS.iter().map(|step| match step {
            Step::AddColumn { column, .. } => *column,
            other => panic!("{other:?}"),
        }));
        assert_eq!(columns, ConsentRow::COLUMNS);
    }
}
