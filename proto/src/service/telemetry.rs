//! Structured JSON logs on stdout, filtered by `RUST_LOG` (default `info`).
//! Logs carry fields, never payloads, IP addresses or identifiers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call twice (tests): the second call is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init();
}
