//! The snapshot's encoding: varints (prost's), fixed-width little-endian
//! integers and length-prefixed bytes, written into one buffer and read
//! back with every length checked. Compact and dependency-free: the file
//! is a few hundred bytes per subject, most of it the history's records
//! as they were on the topic.

use prost::encoding::{decode_varint, encode_varint};

/// The body ends early or says something impossible; the checksum passed,
/// so it was written by a different encoder (or a bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed snapshot body")]
pub struct Malformed;

/// Appends values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    /// What was written.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An unsigned integer, as a varint.
    pub fn uint(&mut self, value: u64) {
        encode_varint(value, &mut self.buf);
    }

    /// A count or length, as a varint.
    pub fn len(&mut self, value: usize) {
        self.uint(value as u64);
    }

    /// A signed integer, 8 bytes little-endian (times, offsets).
    pub fn int(&mut self, value: i64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A 4-byte integer, little-endian.
    pub fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// Raw bytes of a known width.
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes led by their length.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }
}

/// Reads values back, in the order written.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }

    /// Whether everything was read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// A varint.
    ///
    /// # Errors
    /// When the body ends in it.
    pub fn uint(&mut self) -> Result<u64, Malformed> {
        decode_varint(&mut self.rest).map_err(|_| Malformed)
    }

    /// A count or length: never more than the bytes left, so a malformed
    /// count cannot make the reader allocate beyond the file's size.
    ///
    /// # Errors
    /// When it is larger than what remains.
    pub fn len(&mut self) -> Result<usize, Malformed> {
        let len = usize::try_from(self.uint()?).map_err(|_| Malformed)?;
        if len > self.rest.len() {
            return Err(Malformed);
        }
        Ok(len)
    }

    /// `N` raw bytes.
    ///
    /// # Errors
    /// When fewer remain.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let bytes: [u8; N] = self
            .rest
            .get(..N)
            .and_then(|b| b.try_into().ok())
            .ok_or(Malformed)?;
        self.rest = &self.rest[N..];
        Ok(bytes)
    }

    /// A signed 8-byte integer.
    ///
    /// # Errors
    /// When fewer than 8 bytes remain.
    pub fn int(&mut self) -> Result<i64, Malformed> {
        Ok(i64::from_le_bytes(self.fixed()?))
    }

    /// A 4-byte integer.
    ///
    /// # Errors
    /// When fewer than 4 bytes remain.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    /// Length-prefixed bytes.
    ///
    /// # Errors
    /// When the length runs past the end.
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.len()?;
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(bytes)
    }

    /// Length-prefixed UTF-8.
    ///
    /// # Errors
    /// When the length runs past the end or the bytes are not UTF-8.
    pub fn str(&mut self) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_in_the_order_written() {
        let mut w = Writer::default();
        w.uint(300);
        w.int(-5);
        w.u32(7);
        w.bytes(b"site");
        w.fixed(&[1; 16]);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.uint(), Ok(300));
        assert_eq!(r.int(), Ok(-5));
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.str(), Ok("site"));
        assert_eq!(r.fixed::<16>(), Ok([1; 16]));
        assert!(r.is_empty());
        assert_eq!(r.uint(), Err(Malformed));
    }

    #[test]
    fn a_length_beyond_the_end_is_malformed() {
        let mut w = Writer::default();
        w.len(1_000_000);
        w.fixed(b"abc");
        assert_eq!(Reader::new(&w.buf).bytes(), Err(Malformed));
    }
}
