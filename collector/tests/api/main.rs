//! Integration tests of the collector against the real broker, started by
//! `deploy/local/up`. The tests that need the other services too live in
//! `deploy/tests`; `hostile` needs no broker (the in-memory publisher).

mod consent;
mod events;
mod helpers;
mod hostile;
mod outage;
mod privacy;
mod profile;
mod rights;
mod rights_bench;
mod snapshot;
mod startup;
mod tag;
