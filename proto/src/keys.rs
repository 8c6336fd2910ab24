//! Kafka message keys (`proto/README.md`): one visitor's events share a key, so
//! they stay ordered on one partition and meet on one enricher.

/// `site/visitor` when a visitor id may be kept; otherwise `site/~fallback`
/// (the event id), which spreads anonymous events evenly instead of piling
/// them onto one hot key. The collector only accepts visitor ids of
/// `[A-Za-z0-9_-]`, so the `~` cannot collide with one.
#[must_use]
pub fn partition_key(site: &str, visitor_id: &str, fallback: &str) -> String {
    if visitor_id.is_empty() {
        format!("{site}/~{fallback}")
    } else {
        format!("{site}/{visitor_id}")
    }
}

/// The key of a raw or enriched event: [`partition_key`] with the event id
/// in lower-case hex as the fallback.
#[must_use]
pub fn event_key(site: &str, visitor_id: &str, event_id: &[u8]) -> String {
    if visitor_id.is_empty() {
        let mut hex = String::with_capacity(event_id.len() * 2);
        for byte in event_id {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
        }
        partition_key(site, visitor_id, &hex)
    } else {
        partition_key(site, visitor_id, "")
    }
}

#[cfg(test)]
mod tests {
    use super::{event_key, partition_key};

    #[test]
    fn an_anonymous_event_is_keyed_by_its_id_in_hex() {
        assert_eq!(event_key("demo", "v1", &[0xab; 16]), "demo/v1");
        assert_eq!(event_key("demo", "", &[0x01, 0xa2, 0xff]), "demo/~01a2ff");
    }

    #[test]
    fn a_visitor_keeps_one_key_across_events() {
        assert_eq!(
            partition_key("demo", "v1", "e1"),
            partition_key("demo", "v1", "e2")
        );
    }

    #[test]
    fn anonymous_events_spread_by_their_fallback() {
        assert_ne!(
            partition_key("demo", "", "e1"),
            partition_key("demo", "", "e2")
        );
    }
}
