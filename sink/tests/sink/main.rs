//! The sink against the real broker and the real ClickHouse (started by
//! `deploy/local/up --infra` through the testkit). Every test has its own
//! topics, consumer group and database. [`jobs`] covers profiles, their
//! erasure and retention; [`rights`] erasure requests and retention
//! choices; [`docs`] runs every query of the analyst guide;
//! [`startup`] runs the binary with configurations it must refuse;
//! [`cluster`] the sink against a ClickHouse cluster of its own.

mod cluster;
mod dead_letters;
mod delivery;
mod docs;
mod helpers;
mod items;
mod jobs;
mod migrations;
mod rights;
mod startup;
