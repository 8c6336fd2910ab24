//! Session state, kept so that one visitor's sessions continue across
//! restarts and rebalances: in memory per raw partition ([`store`]), written
//! to the compacted sessions topic after every batch, and read back when a
//! partition comes to this enricher ([`crate::restore`]). The rules
//! themselves are pure and live in [`crate::enrich::session`].

pub mod store;
