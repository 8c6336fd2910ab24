//! Structured JSON logs on stdout, filtered by `RUST_LOG` (default `info`).
//! Logs carry fields, never payloads, IP addresses or identifiers.
//!
//! librdkafka reports every failed connection attempt and every partition
//! read to its end as an error, over and over while a broker is down (hundreds
//! of lines a minute per service). Those are dropped here: a broker going
//! down and coming back is logged once each way by the services' broker
//! health watch (`broker health changed`), and reaching a partition's end is
//! how a follower knows it caught up. librdkafka's other errors pass.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// The starts of librdkafka's messages that repeat a state already logged
/// once (see the module docs).
const REPEATED: [&str; 5] = [
    "librdkafka: Global error: AllBrokersDown",
    "librdkafka: Global error: BrokerTransportFailure",
    "librdkafka: Global error: PartitionEOF",
    "librdkafka: Global error: Resolve",
    "librdkafka: FAIL [",
];

/// Drops the events whose message starts with one of [`REPEATED`]. Only
/// events bridged from the `log` crate (librdkafka's, through rdkafka) are
/// looked at: the services' own events pass without their message being
/// formatted.
struct QuietRepeats;

impl<S: Subscriber> Layer<S> for QuietRepeats {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if event.metadata().target() != "log" {
            return true;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        !REPEATED.iter().any(|start| message.0.starts_with(start))
    }
}

/// An event's `message` field, as text.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

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
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(QuietRepeats)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false),
        )
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages seen while a broker was down, as the log bridge passes them.
    #[test]
    fn librdkafkas_repeats_are_dropped_and_the_rest_kept() {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Seen {
            fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
                let mut message = Message(String::new());
                event.record(&mut message);
                self.0.lock().unwrap().push(message.0);
            }
        }
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(QuietRepeats)
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, || {
            // As the log bridge emits them: target "log".
            tracing::error!(
                target: "log",
                "librdkafka: Global error: AllBrokersDown (Local: All broker connections are down): 1/1 brokers are down"
            );
            tracing::error!(
                target: "log",
                "librdkafka: Global error: BrokerTransportFailure (Local: Broker transport failure): 127.0.0.1:19092/bootstrap: Connect to ipv4#127.0.0.1:19092 failed"
            );
            tracing::error!(
                target: "log",
                "librdkafka: Global error: PartitionEOF (Broker: No more messages): Fetch from broker 111 reached end of partition at offset 0"
            );
            tracing::error!(
                target: "log",
                "librdkafka: FAIL [thrd:127.0.0.1:19092/bootstrap]: Connect to ipv4#127.0.0.1:19092 failed: Connection refused"
            );
            tracing::error!(
                target: "log",
                "librdkafka: Global error: Fatal (Local: Fatal error): producer fenced"
            );
            tracing::info!(up = false, "broker health changed");
            // The services' own events are not looked at, whatever they say.
            tracing::warn!("librdkafka: FAIL [as a service would quote it]");
        });
        assert_eq!(
            *seen.0.lock().unwrap(),
            [
                "librdkafka: Global error: Fatal (Local: Fatal error): producer fenced",
                "broker health changed",
                "librdkafka: FAIL [as a service would quote it]",
            ]
        );
    }
}
