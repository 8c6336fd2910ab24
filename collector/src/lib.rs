//! The Fiducia collector: receives the tag's batches, drops every event that
//! lacks consent, and publishes the rest to `fiducia.raw.v1` as protobuf,
//! answering `204` only once Kafka has acknowledged them.
//!
//! Request path: [`routes::events`] → [`body`] → [`envelope`] → [`accept`]
//! (the consent gate of [`consent`], IP truncation via [`client_ip`]) →
//! [`publish`]. `POST /v1/consent/explain` ([`routes::explain`]) runs the
//! same gate without side effects.

pub mod accept;
pub mod body;
pub mod client_ip;
pub mod config;
pub mod consent;
pub mod envelope;
pub mod error;
pub mod metrics;
pub mod privacy;
pub mod profile;
pub mod publish;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod sites;
pub mod startup;
pub mod warehouse;

pub use config::Config;
pub use startup::Application;
