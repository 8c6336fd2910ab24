//! The Fiducia enricher: consumes `fiducia.raw.v1`, turns each event into an
//! analysis-ready, anonymised, sessionised one ([`enrich`], [`batch`]), and
//! produces it to `fiducia.enriched.v1`; messages that break the schema or
//! the site's rules go to `fiducia.deadletter.v1` with a typed reason
//! ([`pipeline`]), and can be fed again after a fix ([`replay`]). Session
//! state lives per raw partition and is kept in `fiducia.sessions.v1`
//! ([`sessions`]); visitor profiles, for personalization, in
//! `fiducia.profiles.v1` ([`profiles`]), both read back by [`restore`];
//! withdrawals of personalization are followed live ([`withdrawals`]).
//! Records go out through [`publish`]; offsets are stored only after every
//! produce is acknowledged.

pub mod batch;
pub mod config;
pub mod enrich;
pub mod metrics;
pub mod pipeline;
pub mod profiles;
pub mod publish;
pub mod replay;
pub mod restore;
pub mod sessions;
pub mod sites;
pub mod startup;
pub mod withdrawals;

pub use config::Config;
pub use startup::Application;
