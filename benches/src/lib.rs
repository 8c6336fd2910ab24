//! The benchmark harness's shared parts: the seeded corpus of envelopes
//! every scenario sends ([`corpus`]), what we read of a process from
//! `/proc` ([`procfs`]), a one-shot HTTP client for `/metrics` and
//! ClickHouse ([`http`]), the load generator's requests to the collector
//! ([`intake`]), and, for the tag → ClickHouse latency scenario,
//! requests re-stamped at send time ([`stamp`]) and their arrival in
//! ClickHouse ([`arrivals`]). The binaries are the load generator
//! (`fiducia-loadgen`), the bare actix-web baseline (`fiducia-bare`) and
//! the drain meter (`fiducia-drain`); `benches/run` drives them. The
//! `GET /v1/profile` scenario's profiles, item lists and site are in
//! [`profiles`].

pub mod arrivals;
pub mod corpus;
pub mod http;
pub mod intake;
pub mod procfs;
pub mod profiles;
pub mod stamp;
