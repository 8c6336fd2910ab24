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

#[cfg(test)]
mod tests {
    use super::partition_key;

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
