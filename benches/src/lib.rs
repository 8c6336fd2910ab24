//! The benchmark harness's shared parts: the seeded corpus of envelopes
//! every scenario sends ([`corpus`]) and what we read of a process from
//! `/proc` ([`procfs`]). The binaries are the load generator
//! (`fiducia-loadgen`) and the bare actix-web baseline (`fiducia-bare`);
//! `benches/run` drives them.

pub mod corpus;
pub mod procfs;
