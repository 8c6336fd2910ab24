//! The snapshot file: a 24-byte header (magic `FIDLEDGR`, format version,
//! the body's length and CRC-32), then the body: the consent topic's name,
//! every partition with the next offset not covered and the CRC-32 of the
//! last record covered, when it was written, and the ledger's state
//! (`ledger/state.rs`).

use std::path::Path;

use super::codec::{Reader, Writer};
use super::{Cover, Fallback, Position};
use crate::consent::ledger::Ledger;

/// What every snapshot file starts with.
const MAGIC: &[u8; 8] = b"FIDLEDGR";
/// The layout this collector writes and reads; another is replayed over.
pub const VERSION: u32 = 1;
/// Magic, version, body length, body CRC-32.
const HEADER: usize = 8 + 4 + 8 + 4;

/// The file's bytes for `cover` and the ledger's state, written at `now_ms`.
/// Locks the ledger's parts one after the other (`ledger/state.rs`).
#[must_use]
pub fn encode(cover: &Cover, ledger: &Ledger, now_ms: i64) -> Vec<u8> {
    let mut body = Writer::default();
    body.fixed(&[0; HEADER]);
    body.bytes(cover.topic.as_bytes());
    body.len(cover.partitions.len());
    for (&partition, position) in &cover.partitions {
        body.int(i64::from(partition));
        body.int(position.next);
        body.u32(position.last_crc);
    }
    body.int(now_ms);
    ledger.encode(&mut body);
    let mut buf = body.buf;
    let len = (buf.len() - HEADER) as u64;
    let crc = crc32fast::hash(&buf[HEADER..]);
    buf[..8].copy_from_slice(MAGIC);
    buf[8..12].copy_from_slice(&VERSION.to_le_bytes());
    buf[12..20].copy_from_slice(&len.to_le_bytes());
    buf[20..24].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// The cover and ledger of a file's bytes.
///
/// # Errors
/// [`Fallback::Truncated`], [`Fallback::Corrupt`] or [`Fallback::Version`].
pub fn decode(bytes: &[u8]) -> Result<(Cover, Ledger), Fallback> {
    let Some((header, body)) = bytes.split_at_checked(HEADER) else {
        return Err(Fallback::Truncated);
    };
    if &header[..8] != MAGIC {
        return Err(Fallback::Corrupt);
    }
    let word = |range: std::ops::Range<usize>| {
        let mut le = [0; 8];
        le[..range.len()].copy_from_slice(&header[range]);
        u64::from_le_bytes(le)
    };
    if word(8..12) != u64::from(VERSION) {
        return Err(Fallback::Version);
    }
    let len = usize::try_from(word(12..20)).map_err(|_| Fallback::Corrupt)?;
    if body.len() < len {
        return Err(Fallback::Truncated);
    }
    if body.len() > len || u64::from(crc32fast::hash(body)) != word(20..24) {
        return Err(Fallback::Corrupt);
    }
    decode_body(body).map_err(|_| Fallback::Corrupt)
}

fn decode_body(body: &[u8]) -> Result<(Cover, Ledger), super::codec::Malformed> {
    let mut input = Reader::new(body);
    let topic = input.str()?.to_owned();
    let mut cover = Cover {
        topic,
        ..Cover::default()
    };
    for _ in 0..input.len()? {
        let partition = i32::try_from(input.int()?).map_err(|_| super::codec::Malformed)?;
        let position = Position {
            next: input.int()?,
            last_crc: input.u32()?,
        };
        cover.partitions.insert(partition, position);
    }
    let _written_ms = input.int()?;
    let ledger = Ledger::decode(&mut input)?;
    if !input.is_empty() {
        return Err(super::codec::Malformed);
    }
    Ok((cover, ledger))
}

/// Reads and decodes the file at `path`.
///
/// # Errors
/// [`Fallback::Missing`], [`Fallback::Unreadable`], or what [`decode`] says.
pub fn read(path: &Path) -> Result<(Cover, Ledger), Fallback> {
    let bytes = std::fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Fallback::Missing,
        _ => {
            tracing::warn!(path = %path.display(), %error, "cannot read the consent ledger snapshot");
            Fallback::Unreadable
        }
    })?;
    decode(&bytes)
}

/// Writes `bytes` to `path` durably: to `path.tmp`, fsynced, renamed over
/// `path`, and the directory fsynced, so a crash leaves the old file or
/// the new one, never a part. Readable by the collector's user only: it
/// holds every visitor's consent history.
///
/// # Errors
/// When a step fails (the old file is left as it was).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
