//! Every consent record of every subject, for the privacy center's
//! history and receipts (`collector/README.md`, The privacy center).
//!
//! Kept beside the [`super::ledger::Ledger`] and fed the same way: from
//! `fiducia.consent.v1`, which every collector reads from its beginning
//! (so each one holds every record, whichever collector made it, and holds
//! them again after a restart), and from this collector's own records once
//! Kafka acknowledged them (so a visitor sees a change they just made on
//! the collector that answered it). A subject's records are held in one
//! allocation, in server receipt order, each as its receipt time and id
//! (so adding one never decodes the others) and its bytes as on the topic
//! but without its site and subject (the keys say them): about 185 bytes
//! a record with a notice hash. A record applied twice is held once. No consent decision reads the history: it is most of what a
//! collector holds per subject (`deploy/OPERATIONS.md`, "Consent ledger
//! sizing").

use std::collections::HashMap;
use std::sync::RwLock;

use fiducia_proto::v1::ConsentRecord;
use prost::Message;

use super::snapshot::codec::{Malformed, Reader, Writer};

/// A site's subjects, each with its records held in one allocation.
type Subjects = HashMap<Box<str>, Box<[u8]>>;

/// Every subject's records, by site then subject.
#[derive(Default)]
pub struct History {
    sites: RwLock<HashMap<String, Subjects>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

/// Record ids are UUIDs (16 bytes) by the contract.
fn id_of(record: &ConsentRecord) -> [u8; 16] {
    <[u8; 16]>::try_from(record.record_id.as_slice()).unwrap_or_default()
}

/// The next held record of `rest`: receipt time (8 bytes, little-endian),
/// id (16 bytes), then its length (varint) and bytes.
fn next<'a>(rest: &mut &'a [u8]) -> Option<(i64, [u8; 16], &'a [u8])> {
    let server_ts_ms = i64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let record_id: [u8; 16] = rest.get(8..24)?.try_into().ok()?;
    let mut after = &rest[24..];
    let len = usize::try_from(prost::encoding::decode_varint(&mut after).ok()?).ok()?;
    let bytes = after.get(..len)?;
    *rest = &after[len..];
    Some((server_ts_ms, record_id, bytes))
}

impl History {
    /// Holds `record`, in order, unless it is held already or names nobody.
    pub fn add(&self, record: &ConsentRecord) {
        if record.subject.is_empty() || record.site_id.is_empty() {
            return;
        }
        let record_id = id_of(record);
        let mut sites = self
            .sites
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = sites
            .entry(record.site_id.clone())
            .or_default()
            .entry(Box::from(record.subject.as_str()))
            .or_default();
        // After every record received no later (same time: by id).
        let mut at = held.len();
        let mut rest: &[u8] = held;
        loop {
            let start = held.len() - rest.len();
            let Some((server_ts_ms, other_id, _)) = next(&mut rest) else {
                break;
            };
            if other_id == record_id {
                return;
            }
            if at == held.len() && (server_ts_ms, other_id) > (record.server_ts_ms, record_id) {
                at = start;
            }
        }
        let stripped = ConsentRecord {
            site_id: String::new(),
            subject: String::new(),
            ..record.clone()
        };
        let mut bytes = Vec::with_capacity(held.len() + 24 + stripped.encoded_len() + 2);
        bytes.extend_from_slice(&held[..at]);
        bytes.extend_from_slice(&record.server_ts_ms.to_le_bytes());
        bytes.extend_from_slice(&record_id);
        // Writing to a Vec cannot fail.
        let _ = stripped.encode_length_delimited(&mut bytes);
        bytes.extend_from_slice(&held[at..]);
        *held = bytes.into_boxed_slice();
    }

    /// Writes every subject's records as held (`consent/snapshot/`).
    pub fn encode(&self, out: &mut Writer) {
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.len(sites.len());
        for (site, subjects) in sites.iter() {
            out.bytes(site.as_bytes());
            out.len(subjects.len());
            for (subject, held) in subjects {
                out.bytes(subject.as_bytes());
                out.bytes(held);
            }
        }
    }

    /// The history [`Self::encode`] wrote.
    ///
    /// # Errors
    /// When the bytes end early.
    pub fn decode(input: &mut Reader<'_>) -> Result<Self, Malformed> {
        let mut sites = HashMap::new();
        for _ in 0..input.len()? {
            let site = input.str()?.to_owned();
            let count = input.len()?;
            let mut subjects = Subjects::with_capacity(count);
            for _ in 0..count {
                let subject = Box::from(input.str()?);
                subjects.insert(subject, Box::from(input.bytes()?));
            }
            sites.insert(site, subjects);
        }
        Ok(Self {
            sites: RwLock::new(sites),
        })
    }

    /// The subject's records, oldest first (by the time a collector received them).
    #[must_use]
    pub fn records(&self, site: &str, subject: &str) -> Vec<ConsentRecord> {
        let sites = self
            .sites
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(held) = sites.get(site).and_then(|subjects| subjects.get(subject)) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        let mut rest: &[u8] = held;
        while let Some((_, _, bytes)) = next(&mut rest) {
            if let Ok(mut record) = ConsentRecord::decode(bytes) {
                record.site_id = site.to_owned();
                record.subject = subject.to_owned();
                records.push(record);
            }
        }
        records
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
        // Held without its site and subject, which come back on reading.
        let history = History::default();
        history.add(&typical);
        let held = history.sites.read().unwrap()["demo"][typical.subject.as_str()].len();
        println!("and held in {held} bytes");
        assert!((165..=205).contains(&held), "{held}");
        assert_eq!(history.records("demo", &typical.subject), [typical]);
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
