//! Kafka plumbing shared by the services: client and producer set-up
//! ([`client`]), broker health ([`health`]), topic creation ([`admin`]),
//! the at-least-once consume loop ([`consume`]) and dead letters
//! ([`deadletter`]) and the routing headers ([`routing`]).

pub mod admin;
pub mod client;
pub mod consume;
pub mod deadletter;
pub mod health;
pub mod routing;

pub use client::{ProducerSettings, client_config, producer};
