//! The Fiducia enricher: consumes `fiducia.raw.v1`, turns each event into an
//! analysis-ready one ([`enrich`]), and produces it to `fiducia.enriched.v1`;
//! poison messages go to `fiducia.deadletter.v1` ([`pipeline`]). Offsets are
//! stored only after the produce is acknowledged.

pub mod config;
pub mod enrich;
pub mod metrics;
pub mod pipeline;
pub mod startup;

pub use config::Config;
pub use startup::Application;
