//! Integration tests of the collector against the real broker (and, for the
//! whole pipeline, the real ClickHouse), started by `deploy/local/up`.

mod consent;
mod events;
mod helpers;
mod pipeline;
mod processes;
mod startup;
mod tag;
