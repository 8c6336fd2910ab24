//! The runtime plumbing Fiducia's services share, beside the contract
//! (`fiducia-proto`) it carries:
//!
//! * [`kafka`]: producer set-up and the one send-and-await-acks, the
//!   at-least-once consume loop, reading partitions to their end without a
//!   group and whole-topic followers, topic admin, broker health and dead
//!   letters.
//! * [`erased`]: the deny-list of erased subjects, followed from the
//!   privacy topic by every enricher and sink.
//! * [`referrer`]: referrer classes (direct, internal, search, social, …),
//!   for the enricher's acquisition columns and the collector's contextual
//!   answers.
//! * [`service`]: JSON logs, the Prometheus recorder and admin endpoints
//!   (`/metrics`, `/healthz`, `/readyz`), the environment config reader, one
//!   shutdown token and one memory allocator.

pub mod erased;
pub mod kafka;
pub mod referrer;
pub mod service;
