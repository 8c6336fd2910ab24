//! Kafka topic names (`proto/README.md`). Every service reads the names from
//! the `FIDUCIA_TOPIC_*` variables through the shared configuration reader
//! (`service::config::KafkaConfig::from_env`), so tests and multi-tenant
//! deployments can point a whole pipeline at other topics without code
//! changes.

/// Default topic names of the `v1` contract.
pub mod defaults {
    /// Accepted events, collector → enricher.
    pub const RAW: &str = "fiducia.raw.v1";
    /// Enriched events, enricher → sink.
    pub const ENRICHED: &str = "fiducia.enriched.v1";
    /// Consent records, collector → sink and collector ledgers.
    pub const CONSENT: &str = "fiducia.consent.v1";
    /// Access and erasure requests.
    pub const PRIVACY: &str = "fiducia.privacy.v1";
    /// Messages a stage could not process.
    pub const DEADLETTER: &str = "fiducia.deadletter.v1";
    /// The enricher's session state, compacted, partitioned like the raw topic.
    pub const SESSIONS: &str = "fiducia.sessions.v1";
    /// Visitor profiles, compacted, partitioned like the raw topic: written
    /// by the enricher, followed whole by every collector.
    pub const PROFILES: &str = "fiducia.profiles.v1";
    /// Item lists (related, popular), compacted: written by the sink,
    /// followed whole by every collector.
    pub const ITEMS: &str = "fiducia.items.v1";
}

/// Whether Kafka accepts `name` as a topic name: 1-249 characters of
/// `a-z A-Z 0-9 . _ -`, and neither `.` nor `..`.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Settings of the consent and privacy topics: they never expire. The
/// consent topic is the proof of consent (GDPR art. 7(1)) and the only
/// place the collectors rebuild their ledgers from: an expired withdrawal
/// would be a withdrawal forgotten. The privacy topic is where enrichers
/// and sinks rebuild their deny-list of erased subjects from. Operators of
/// their own brokers must set the same (`retention.ms=-1`,
/// `retention.bytes=-1`); the collector refuses a consent topic that expires.
pub const NEVER_EXPIRES: &[(&str, &str)] = &[("retention.ms", "-1"), ("retention.bytes", "-1")];

/// The topic names one pipeline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `FIDUCIA_TOPIC_RAW`
    pub raw: String,
    /// `FIDUCIA_TOPIC_ENRICHED`
    pub enriched: String,
    /// `FIDUCIA_TOPIC_CONSENT`
    pub consent: String,
    /// `FIDUCIA_TOPIC_PRIVACY`
    pub privacy: String,
    /// `FIDUCIA_TOPIC_DEADLETTER`
    pub deadletter: String,
    /// `FIDUCIA_TOPIC_SESSIONS`: the enricher's own state, not in [`Topics::all`]
    /// (the enricher creates it compacted).
    pub sessions: String,
    /// `FIDUCIA_TOPIC_PROFILES`: compacted, created by the enricher (its
    /// writer) and waited for by the collectors.
    pub profiles: String,
    /// `FIDUCIA_TOPIC_ITEMS`: compacted, created by the sink (its writer)
    /// and waited for by the collectors.
    pub items: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            raw: defaults::RAW.into(),
            enriched: defaults::ENRICHED.into(),
            consent: defaults::CONSENT.into(),
            privacy: defaults::PRIVACY.into(),
            deadletter: defaults::DEADLETTER.into(),
            sessions: defaults::SESSIONS.into(),
            profiles: defaults::PROFILES.into(),
            items: defaults::ITEMS.into(),
        }
    }
}

impl Topics {
    /// Every topic with the same suffix appended: one isolated pipeline per test.
    #[must_use]
    pub fn with_suffix(suffix: &str) -> Self {
        let d = Self::default();
        let add = |t: String| format!("{t}.{suffix}");
        Self {
            raw: add(d.raw),
            enriched: add(d.enriched),
            consent: add(d.consent),
            privacy: add(d.privacy),
            deadletter: add(d.deadletter),
            sessions: add(d.sessions),
            profiles: add(d.profiles),
            items: add(d.items),
        }
    }

    /// The settings `topic` is created with: [`NEVER_EXPIRES`] for the
    /// consent and privacy topics, the broker's defaults for the others.
    #[must_use]
    pub fn config_of(&self, topic: &str) -> &'static [(&'static str, &'static str)] {
        if topic == self.consent || topic == self.privacy {
            NEVER_EXPIRES
        } else {
            &[]
        }
    }

    /// The topics the services share, for topic creation.
    #[must_use]
    pub fn all(&self) -> [&str; 5] {
        [
            &self.raw,
            &self.enriched,
            &self.consent,
            &self.privacy,
            &self.deadletter,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for name in [defaults::RAW, "a", "x_y-z.1", &"t".repeat(249)] {
            assert!(is_valid_name(name), "{name}");
        }
        for name in ["", ".", "..", "a b", "tópico", "a/b", &"t".repeat(250)] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }
}
