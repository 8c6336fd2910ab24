//! The payloads of a batch's messages that became rows, in one buffer: all
//! the deny filter needs to make those rows again ([`crate::deny`]), at the
//! size of the payloads alone. Keeping the messages themselves cost each
//! one its own payload, key, topic and headers (librdkafka's list)
//! allocations until the batch was inserted: a third more memory, in
//! hundreds of thousands of small blocks per batch.

/// Payloads one after the other, and where each ends.
#[derive(Debug, Default)]
pub struct Payloads {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Payloads {
    /// Room for `count` payloads of `bytes` in all, allocated once: a
    /// buffer doubling as it fills would leave up to half of it unused
    /// and free every smaller one it outgrew (at 100,000-row batches the
    /// sink's peak grew by a third that way).
    #[must_use]
    pub fn with_capacity(count: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Adds the next payload.
    pub fn push(&mut self, payload: &[u8]) {
        self.bytes.extend_from_slice(payload);
        self.ends.push(self.bytes.len());
    }

    /// The payloads in the order they were pushed.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::Payloads;

    #[test]
    fn payloads_come_back_apart_and_in_order() {
        let mut payloads = Payloads::with_capacity(3, 8);
        for payload in [&b"one"[..], b"", b"three"] {
            payloads.push(payload);
        }
        let back: Vec<&[u8]> = payloads.iter().collect();
        assert_eq!(back, [&b"one"[..], b"", b"three"]);
        assert_eq!(Payloads::default().iter().count(), 0);
    }
}
