//! The runtime plumbing Fiducia's services share, beside the contract
//! (`fiducia-proto`) it carries:
//!
//! * [`kafka`]: producer set-up, the at-least-once consume loop, whole-topic
//!   followers, topic admin, broker health and dead letters.
//! * [`service`]: JSON logs, the Prometheus recorder and admin endpoints
//!   (`/metrics`, `/healthz`, `/readyz`), the environment config reader, one
//!   shutdown token and one memory allocator.

pub mod kafka;
pub mod service;
