//! Kafka topic names (SPEC section 3). Every service reads the names through
//! [`Topics::from_env`], so tests and multi-tenant deployments can point a
//! whole pipeline at other topics without code changes.

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
}

/// Settings of the consent topic: it never expires. It is the proof of
/// consent (GDPR art. 7(1)) and the only place the collectors rebuild their
/// ledgers from: an expired withdrawal would be a withdrawal forgotten.
/// Operators of their own brokers must set the same (`retention.ms=-1`,
/// `retention.bytes=-1`); the collector refuses a consent topic that expires.
pub const CONSENT_TOPIC_CONFIG: &[(&str, &str)] =
    &[("retention.ms", "-1"), ("retention.bytes", "-1")];

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
        }
    }
}

impl Topics {
    /// Defaults, each overridable by its `FIDUCIA_TOPIC_*` variable.
    #[must_use]
    pub fn from_env() -> Self {
        let pick = |var: &str, default: String| std::env::var(var).unwrap_or(default);
        let d = Self::default();
        Self {
            raw: pick("FIDUCIA_TOPIC_RAW", d.raw),
            enriched: pick("FIDUCIA_TOPIC_ENRICHED", d.enriched),
            consent: pick("FIDUCIA_TOPIC_CONSENT", d.consent),
            privacy: pick("FIDUCIA_TOPIC_PRIVACY", d.privacy),
            deadletter: pick("FIDUCIA_TOPIC_DEADLETTER", d.deadletter),
            sessions: pick("FIDUCIA_TOPIC_SESSIONS", d.sessions),
        }
    }

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
        }
    }

    /// The settings `topic` is created with: [`CONSENT_TOPIC_CONFIG`] for
    /// the consent topic, the broker's defaults for the others.
    #[must_use]
    pub fn config_of(&self, topic: &str) -> &'static [(&'static str, &'static str)] {
        if topic == self.consent {
            CONSENT_TOPIC_CONFIG
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
