//! Reading typed configuration from the environment: the one place any
//! service reads a variable (every `FIDUCIA_*` variable and `RUST_LOG`). A bad
//! value stops start-up with an error naming the variable, the value and
//! what was wanted; a variable that was removed stops it too, saying what
//! replaced it, so nobody's stale setting is silently ignored. Per-site
//! settings are not variables: they are in the sites file ([`super::sites`]).

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A configuration variable with a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?}: {message}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: String,
    /// The value it had.
    pub value: String,
    /// What was wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `var` holding `value`.
    pub fn new(var: &str, value: impl Into<String>, message: impl Display) -> Self {
        Self {
            var: var.to_owned(),
            value: value.into(),
            message: message.to_string(),
        }
    }
}

/// The variable's value exactly as set (not trimmed, not parsed; for
/// secrets), or `None` when unset.
///
/// # Errors
/// When the value is not valid UTF-8.
pub fn env_raw(var: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(var) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(ConfigError::new(var, "<not unicode>", "not valid UTF-8"))
        }
    }
}

/// Variables that no service reads any more, with what replaced each.
pub const REMOVED: [(&str, &str); 3] = [
    (
        "FIDUCIA_COLLECTOR_SITES_FILE",
        "removed: every service reads FIDUCIA_SITES_FILE (origins now under [sites.<id>.collect])",
    ),
    (
        "FIDUCIA_ENRICHER_SITES_FILE",
        "removed: every service reads FIDUCIA_SITES_FILE (rules now under [sites.<id>.enrich])",
    ),
    (
        "FIDUCIA_SINK_RETENTION_SITES",
        "removed: per-site retention is in the sites file, [sites.<id>.retention]",
    ),
];

/// Refuses any [`REMOVED`] variable that is set, even empty.
///
/// # Errors
/// Naming the first one set and what replaced it.
pub fn refuse_removed() -> Result<(), ConfigError> {
    for (var, why) in REMOVED {
        if let Some(value) = env_raw(var)? {
            return Err(ConfigError::new(var, value, why));
        }
    }
    Ok(())
}

/// The variable parsed as `T`, or `default` when unset or empty.
///
/// # Errors
/// When the variable is set but does not parse.
pub fn env_or<T>(var: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(env_opt(var)?.unwrap_or(default))
}

/// The variable parsed as `T`, or `None` when unset or empty.
///
/// # Errors
/// When the variable is set but does not parse.
pub fn env_opt<T>(var: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match env_raw(var)? {
        Some(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| ConfigError::new(var, value, e)),
        _ => Ok(None),
    }
}

/// The variable parsed as `T`, or `default`; either must be above zero
/// (sizes, counts, rates: a zero would disable the thing or divide by it).
///
/// # Errors
/// When the variable does not parse or is not positive.
pub fn env_positive<T>(var: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Default + Display + Copy,
    T::Err: Display,
{
    let value = env_or(var, default)?;
    if value <= T::default() {
        return Err(ConfigError::new(var, value.to_string(), "must be positive"));
    }
    Ok(value)
}

/// A duration in milliseconds from a `*_MS` variable, at least 1 ms.
///
/// # Errors
/// When the variable is set but is not a positive integer.
pub fn env_ms(var: &str, default: Duration) -> Result<Duration, ConfigError> {
    match env_opt::<u64>(var)? {
        None => Ok(default),
        Some(0) => Err(ConfigError::new(
            var,
            "0",
            "must be at least 1 (milliseconds)",
        )),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

/// Kafka settings every service reads the same way.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `FIDUCIA_KAFKA_BROKERS`: bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// `FIDUCIA_TOPIC_*`: topic names.
    pub topics: fiducia_proto::topics::Topics,
    /// `FIDUCIA_KAFKA_CREATE_TOPICS`: create missing topics at start-up.
    pub create_topics: bool,
    /// `FIDUCIA_KAFKA_PARTITIONS`: partitions of topics created at start-up.
    pub partitions: i32,
    /// `FIDUCIA_KAFKA_SESSION_TIMEOUT_MS`: consumer group session timeout (how
    /// soon a crashed instance's partitions move to another).
    pub session_timeout: std::time::Duration,
    /// `FIDUCIA_KAFKA_REJOIN_UNASSIGNED_MS`: a consumer left without partitions
    /// this long rejoins its group (`0`: never); see
    /// `kafka::consume::ConsumerSettings::rejoin_when_unassigned`.
    pub rejoin_when_unassigned: Option<std::time::Duration>,
}

impl KafkaConfig {
    /// The defaults for `brokers` and `topics`: what tests start from.
    #[must_use]
    pub fn new(brokers: &str, topics: fiducia_proto::topics::Topics) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topics,
            create_topics: true,
            partitions: 4,
            session_timeout: Duration::from_secs(10),
            rejoin_when_unassigned: Some(Duration::from_secs(30)),
        }
    }

    /// Reads the `FIDUCIA_KAFKA_*` and `FIDUCIA_TOPIC_*` variables.
    ///
    /// # Errors
    /// When a variable is set to a value that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let partitions = env_positive("FIDUCIA_KAFKA_PARTITIONS", 4)?;
        let d = Self::new("127.0.0.1:19092", topics_from_env()?);
        let rejoin_var = "FIDUCIA_KAFKA_REJOIN_UNASSIGNED_MS";
        let rejoin_when_unassigned = match env_opt::<u64>(rejoin_var)? {
            None => d.rejoin_when_unassigned,
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        Ok(Self {
            brokers: env_or("FIDUCIA_KAFKA_BROKERS", d.brokers)?,
            create_topics: env_or("FIDUCIA_KAFKA_CREATE_TOPICS", d.create_topics)?,
            partitions,
            session_timeout: env_ms("FIDUCIA_KAFKA_SESSION_TIMEOUT_MS", d.session_timeout)?,
            rejoin_when_unassigned,
            topics: d.topics,
        })
    }
}

/// The `FIDUCIA_TOPIC_*` variables over the default names (unset or empty:
/// the default), each a name Kafka accepts.
///
/// # Errors
/// When a variable holds a name Kafka would refuse.
pub fn topics_from_env() -> Result<fiducia_proto::topics::Topics, ConfigError> {
    let d = fiducia_proto::topics::Topics::default();
    let pick = |var: &str, default: String| {
        let name: String = env_or(var, default)?;
        if fiducia_proto::topics::is_valid_name(&name) {
            Ok(name)
        } else {
            Err(ConfigError::new(
                var,
                name,
                "not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)",
            ))
        }
    };
    let [
        raw,
        enriched,
        consent,
        privacy,
        deadletter,
        sessions,
        profiles,
        items,
    ] = topic_vars(&d).map(|(var, default)| pick(var, default));
    Ok(fiducia_proto::topics::Topics {
        raw: raw?,
        enriched: enriched?,
        consent: consent?,
        privacy: privacy?,
        deadletter: deadletter?,
        sessions: sessions?,
        profiles: profiles?,
        items: items?,
    })
}

/// The variables that name the topics, each with the name `topics` gives
/// it, in the order of [`Topics`](fiducia_proto::topics::Topics)' fields:
/// what a process must be given to use `topics` (how tests run pipelines
/// side by side).
#[must_use]
pub fn topic_vars(topics: &fiducia_proto::topics::Topics) -> [(&'static str, String); 8] {
    [
        ("FIDUCIA_TOPIC_RAW", topics.raw.clone()),
        ("FIDUCIA_TOPIC_ENRICHED", topics.enriched.clone()),
        ("FIDUCIA_TOPIC_CONSENT", topics.consent.clone()),
        ("FIDUCIA_TOPIC_PRIVACY", topics.privacy.clone()),
        ("FIDUCIA_TOPIC_DEADLETTER", topics.deadletter.clone()),
        ("FIDUCIA_TOPIC_SESSIONS", topics.sessions.clone()),
        ("FIDUCIA_TOPIC_PROFILES", topics.profiles.clone()),
        ("FIDUCIA_TOPIC_ITEMS", topics.items.clone()),
    ]
}

impl KafkaConfig {
    /// Creates the missing topics when `create_topics` is set.
    ///
    /// # Errors
    /// When the broker cannot be reached or refuses.
    pub async fn ensure_topics(&self) -> rdkafka::error::KafkaResult<()> {
        if !self.create_topics {
            return Ok(());
        }
        crate::kafka::admin::ensure_pipeline_topics(&self.brokers, &self.topics, self.partitions)
            .await
    }

    /// Settings for a group consumer of `topic` with these batch bounds.
    #[must_use]
    pub fn consumer_settings(
        &self,
        group_id: &str,
        topic: &str,
        batch_max_messages: usize,
        batch_max_bytes: usize,
        batch_max_wait: Duration,
    ) -> crate::kafka::consume::ConsumerSettings {
        crate::kafka::consume::ConsumerSettings {
            brokers: self.brokers.clone(),
            group_id: group_id.to_owned(),
            topic: topic.to_owned(),
            batch_max_messages,
            batch_max_bytes,
            batch_max_wait,
            session_timeout: self.session_timeout,
            partitions: usize::try_from(self.partitions).unwrap_or(1),
            rejoin_when_unassigned: self.rejoin_when_unassigned,
            read_ahead: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_variable_and_the_value() {
        let error = "abc"
            .parse::<u16>()
            .map_err(|e| ConfigError::new("FIDUCIA_X_PORT", "abc", e));
        let text = error.unwrap_err().to_string();
        assert!(text.starts_with("FIDUCIA_X_PORT=\"abc\": "), "{text}");
    }

    #[test]
    fn unset_variables_take_the_default() {
        assert_eq!(env_or("FIDUCIA_TEST_SURELY_UNSET_VAR", 7_u32).unwrap(), 7);
        assert_eq!(
            env_ms("FIDUCIA_TEST_SURELY_UNSET_VAR_MS", Duration::from_millis(5)).unwrap(),
            Duration::from_millis(5)
        );
    }
}
