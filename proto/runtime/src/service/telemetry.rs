//! Structured JSON logs on stdout, filtered by `RUST_LOG` (default `info`).
//! Logs carry fields, never payloads, IP addresses or identifiers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, and a panic hook that logs a panic as
/// one JSON line (where, and the message) instead of free text on stderr.
/// Safe to call twice (tests): the second call is a no-op.
pub fn init() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%location, %message, "panic");
    }));
    // Through the one environment reader; a filter that does not parse
    // falls back to `info` (logging is not there yet to report it).
    let filter = super::config::env_opt::<String>("RUST_LOG")
        .ok()
        .flatten()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init();
}
