//! What every Fiducia service has: JSON logs ([`telemetry`]), the Prometheus
//! recorder and admin endpoints ([`admin`]), typed environment config
//! ([`config`]) and one shutdown token ([`shutdown`]).

pub mod admin;
pub mod config;
pub mod shutdown;
pub mod telemetry;
