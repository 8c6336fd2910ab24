//! The enricher against the real broker (and, for the privacy check, the
//! real sink and ClickHouse), all started by `deploy/local/up --infra`
//! through the testkit. Every test has its own topics and consumer groups.

mod helpers;
mod pipeline;
mod sessions;
mod startup;
