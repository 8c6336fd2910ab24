//! Every reason a snapshot is not used, and a round trip.

use std::collections::BTreeMap;

use fiducia_proto::v1::{ConsentAction, ConsentRecord};

use super::check::{Found, against_topic, judge};
use super::format::{self, VERSION};
use super::{Cover, Fallback, Position};
use crate::consent::ledger::Ledger;

fn record(subject: &str, id: u8, action: ConsentAction, at: i64) -> ConsentRecord {
    ConsentRecord {
        record_id: vec![id; 16],
        site_id: "demo".into(),
        subject: subject.into(),
        action: action.into(),
        server_ts_ms: at,
        ..ConsentRecord::default()
    }
}

fn ledger() -> Ledger {
    let ledger = Ledger::default();
    ledger.apply(&record("plain", 1, ConsentAction::Grant, 100));
    ledger.apply(&record("held", 2, ConsentAction::Withdraw, 100));
    ledger.apply(&ConsentRecord {
        user_key: "user-key".into(),
        ..record("", 3, ConsentAction::Erase, 100)
    });
    ledger
}

fn cover() -> Cover {
    let partitions = [
        (
            0,
            Position {
                next: 12,
                last_crc: 7,
            },
        ),
        (1, Position::default()),
        (
            2,
            Position {
                next: 3,
                last_crc: 9,
            },
        ),
    ];
    Cover {
        topic: "fiducia.consent.v1".into(),
        partitions: partitions.into_iter().collect(),
        applied: 0,
    }
}

fn file() -> Vec<u8> {
    format::encode(&cover(), &ledger(), 1_000)
}

#[test]
fn a_snapshot_reads_back_as_the_ledger_and_offsets_written() {
    let (cover, restored) = format::decode(&file()).unwrap();
    assert_eq!(
        cover,
        super::Cover {
            applied: 0,
            ..self::cover()
        }
    );
    let original = ledger();
    for subject in ["plain", "held", "nobody"] {
        assert_eq!(restored.get("demo", subject), original.get("demo", subject));
        assert_eq!(
            restored.history("demo", subject),
            original.history("demo", subject)
        );
    }
    assert!(restored.user_key_erased("demo", "user-key"));
    assert_eq!(restored.size(), original.size());
}

#[test]
fn any_byte_changed_is_corrupt() {
    let good = file();
    // Every byte after the version (a changed length is truncated or corrupt).
    for at in [0, 5, 24, 30, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            format::decode(&bad).err(),
            Some(Fallback::Corrupt),
            "byte {at}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(format::decode(&longer).err(), Some(Fallback::Corrupt));
}

#[test]
fn a_cut_file_is_truncated() {
    let good = file();
    for len in [0, 10, 23, 24, good.len() - 1] {
        assert_eq!(
            format::decode(&good[..len]).err(),
            Some(Fallback::Truncated),
            "{len} bytes"
        );
    }
}

#[test]
fn another_format_version_is_not_read() {
    let mut other = file();
    other[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    assert_eq!(format::decode(&other).err(), Some(Fallback::Version));
}

#[test]
fn a_missing_file_is_missing_and_a_written_one_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.snapshot");
    assert_eq!(format::read(&path).err(), Some(Fallback::Missing));
    format::write_atomically(&path, &file()).unwrap();
    format::write_atomically(&path, &file()).unwrap();
    assert!(format::read(&path).is_ok());
    assert!(!dir.path().join("ledger.snapshot.tmp").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the owner's only");
}

#[test]
fn a_snapshot_of_another_topic_is_not_used() {
    // Decided before the broker is asked.
    assert_eq!(
        against_topic(
            "127.0.0.1:1",
            "other.consent.v1",
            &cover(),
            std::time::Duration::from_millis(10)
        ),
        Err(Fallback::Topic)
    );
}

fn lows(partitions: &[i32]) -> BTreeMap<i32, i64> {
    partitions.iter().map(|&p| (p, 0)).collect()
}

/// What the broker holds when the topic is as the snapshot saw it.
fn found_as_covered() -> BTreeMap<i32, Found> {
    [(0, Found::Record(11, 7)), (2, Found::Record(2, 9))]
        .into_iter()
        .collect()
}

#[test]
fn a_topic_as_covered_passes_and_resumes_at_each_last_covered_record() {
    // Applied again, harmlessly: it was seen to come back first.
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found_as_covered()),
        Ok([(0, 11), (2, 2)].into_iter().collect())
    );
}

#[test]
fn another_partition_count_is_not_used() {
    for partitions in [&[0, 1][..], &[0, 1, 2, 3], &[]] {
        assert_eq!(
            judge(&cover(), &lows(partitions), &found_as_covered()),
            Err(Fallback::Partitions)
        );
    }
}

#[test]
fn offsets_beyond_the_log_end_are_not_used() {
    // The partition ends before the last covered record.
    let mut found = found_as_covered();
    found.insert(0, Found::End);
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found),
        Err(Fallback::BeyondEnd)
    );
    // Out of range: the fetch was reset to the beginning.
    found.insert(0, Found::Record(0, 1));
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found),
        Err(Fallback::BeyondEnd)
    );
}

#[test]
fn offsets_below_the_log_start_are_not_used() {
    let mut lows = lows(&[0, 1, 2]);
    lows.insert(2, 3);
    assert_eq!(
        judge(&cover(), &lows, &found_as_covered()),
        Err(Fallback::BelowStart)
    );
}

#[test]
fn the_record_after_the_last_covered_one_first_is_a_batch_boundary() {
    // A broker that fetches from record batches: the next batch starts
    // right after the snapshot's last record.
    let mut found = found_as_covered();
    found.insert(2, Found::Record(3, 0));
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found),
        Ok([(0, 11), (2, 3)].into_iter().collect())
    );
    // It starts later: records inside the batch would be skipped.
    found.insert(2, Found::Record(4, 0));
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found),
        Err(Fallback::Unaligned)
    );
}

#[test]
fn a_covered_record_replaced_is_not_used() {
    let mut found = found_as_covered();
    found.insert(2, Found::Record(2, 10));
    assert_eq!(
        judge(&cover(), &lows(&[0, 1, 2]), &found),
        Err(Fallback::RecordChanged)
    );
}

#[test]
fn every_fallback_has_its_own_reason() {
    let all = [
        Fallback::Disabled,
        Fallback::Missing,
        Fallback::Unreadable,
        Fallback::Truncated,
        Fallback::Corrupt,
        Fallback::Version,
        Fallback::Topic,
        Fallback::Partitions,
        Fallback::BeyondEnd,
        Fallback::BelowStart,
        Fallback::RecordChanged,
        Fallback::Unaligned,
        Fallback::Broker,
    ];
    let reasons: std::collections::HashSet<_> = all.iter().map(|f| f.reason()).collect();
    assert_eq!(reasons.len(), all.len());
}
