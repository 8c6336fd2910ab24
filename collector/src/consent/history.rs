//! Every consent record of every subject, for the privacy center's
//! history and receipts (`collector/README.md`, The privacy center).
//!
//! Kept beside the [`super::ledger::Ledger`] and fed the same way: from
//! `fiducia.consent.v1`, which every collector reads from its beginning
//! (so each one holds every record, whichever collector made it, and holds
//! them again after a restart), and from this collector's own records once
//! Kafka acknowledged them (so a visitor sees a change they just made on
//! the collector that answered it). Records are held encoded, as on the
//! topic (about 200 bytes each with a notice hash, 240 with their
//! bookkeeping), in server receipt order; a record applied twice is held
//! once.

use std::collections::HashMap;
use std::sync::RwLock;

use fiducia_proto::v1::ConsentRecord;
use prost::Message;

/// One record: its order and identity, and its bytes (16 + 8 + 16 bytes
/// besides them).
struct Held {
    server_ts_ms: i64,
    record_id: [u8; 16],
    encoded: Box<[u8]>,
}

/// Every subject's records, by site then subject.
#[derive(Default)]
pub struct History {
    sites: RwLock<HashMap<String, HashMap<String, Vec<Held>>>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

impl History {
    /// Holds `record`, in order, unless it is held already or names nobody.
    pub fn add(&self, record: &ConsentRecord) {
        if record.subject.is_empty() || record.site_id.is_empty() {
            return;
        }
        let mut sites = self
            .sites
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let records = sites
            .entry(record.site_id.clone())
            .or_default()
            .entry(record.subject.clone())
            .or_default();
        // Record ids are UUIDs (16 bytes) by the contract.
        let record_id = <[u8; 16]>::try_from(record.record_id.as_slice()).unwrap_or_default();
        if records.iter().any(|h| h.record_id == record_id) {
            return;
        }
        let at = records
            .partition_point(|h| (h.server_ts_ms, h.record_id) <= (record.server_ts_ms, record_id));
        records.insert(
            at,
            Held {
                server_ts_ms: record.server_ts_ms,
                record_id,
                encoded: record.encode_to_vec().into_boxed_slice(),
            },
        );
    }

    /// The subject's records, oldest first (by the time a collector received them).
    #[must_use]
    pub fn records(&self, site: &str, subject: &str) -> Vec<ConsentRecord> {
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sites
            .get(site)
            .and_then(|subjects| subjects.get(subject))
            .map(|held| {
                held.iter()
                    .filter_map(|h| ConsentRecord::decode(&*h.encoded).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: &str, id: u8, server_ts_ms: i64) -> ConsentRecord {
        ConsentRecord {
            record_id: vec![id; 16],
            site_id: "demo".into(),
            subject: subject.into(),
            server_ts_ms,
            notice_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ..ConsentRecord::default()
        }
    }

    /// What one record costs: a choice through the tag's API, with a
    /// notice hash, network and browser (the README's figure).
    #[test]
    fn a_typical_record_is_held_in_about_200_bytes() {
        let mut typical = record(&"0".repeat(32), 1, 1_764_000_000_000);
        typical.source = "tag:api".into();
        typical.notice_version = "2026-01".into();
        typical.client_ts_ms = 1_764_000_000_000;
        typical.expires_at_ms = 1_798_128_000_000;
        typical.browser_family = "Chrome".into();
        typical.ip = Some(fiducia_proto::v1::IpPrefix {
            network: vec![198, 51, 100, 0],
            prefix_len: 24,
        });
        typical.state = Some(fiducia_proto::v1::ConsentSnapshot {
            source: "api".into(),
            notice_version: "2026-01".into(),
            updated_at_ms: 1_764_000_000_000,
            ..Default::default()
        });
        let bytes = typical.encode_to_vec().len();
        println!("a typical consent record is {bytes} bytes encoded");
        assert!((180..=230).contains(&bytes), "{bytes}");
    }

    #[test]
    fn records_are_held_once_in_server_order_per_subject() {
        let history = History::default();
        for (id, at) in [(3, 300), (1, 100), (2, 200), (1, 100), (4, 200)] {
            history.add(&record("v1", id, at));
        }
        history.add(&record("v2", 9, 50));
        history.add(&record("", 8, 50));
        let ids: Vec<u8> = history
            .records("demo", "v1")
            .iter()
            .map(|r| r.record_id[0])
            .collect();
        assert_eq!(ids, [1, 2, 4, 3]);
        assert_eq!(history.records("demo", "v2").len(), 1);
        assert!(history.records("demo", "").is_empty());
        assert!(history.records("other", "v1").is_empty());
    }
}
