//! Kafka plumbing shared by the services: client and producer set-up
//! ([`client`]), broker health ([`health`]), topic creation ([`admin`]),
//! the at-least-once consume loop ([`consume`]) and dead letters
//! ([`deadletter`]), the routing headers ([`routing`]), sending a batch and
//! awaiting every acknowledgement ([`send`]) with a producer that replaces
//! itself when stuck ([`resilient`]), reading partitions to their end
//! without a group ([`scan`]), whole-topic followers that rebuild local
//! state on every instance ([`follow`]) and the next stage's lag watched
//! from upstream ([`group_lag`]).

pub mod ack;
pub mod admin;
pub mod client;
pub mod consume;
pub mod deadletter;
pub mod follow;
pub mod group_lag;
pub mod health;
pub mod resilient;
pub mod routing;
pub mod scan;
pub mod send;

pub use client::{ProducerSettings, client_config, producer, producer_config};
