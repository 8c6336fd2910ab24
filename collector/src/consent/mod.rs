//! The consent model's decisions (`collector/README.md`, Consent), the collector's alone:
//! the vocabulary (purposes, event types) is `fiducia_proto::consent`.
//!
//! * [`rules`]: which purposes each event type and each field needs, with
//!   per-site overrides.
//! * [`decision`]: per-purpose grants with their source and reason, and the
//!   KEEP / STRIP / DROP decision per event.
//! * [`policy`]: a site's consent settings, validated at start-up.
//! * [`tcf`]: TC strings (and GPP strings carrying one), decoded and validated.
//! * [`ledger`] and [`follow`]: the server-side ledger, rebuilt on every
//!   instance from `fiducia.consent.v1`.
//! * [`snapshot`]: the ledger saved to a local file with the offsets it
//!   covers, so a restart replays only the tail.
//! * [`history`]: every record of every subject, for the privacy center.
//! * [`resolve`]: sources and precedence, into per-purpose grants.
//! * [`record`]: the consent records every change produces.

pub mod decision;
pub mod follow;
pub mod history;
pub mod ledger;
pub mod policy;
pub mod record;
pub mod resolve;
pub mod rules;
pub mod snapshot;
pub mod tcf;
#[cfg(test)]
mod tcf_vectors;
#[cfg(test)]
pub(crate) mod testing;

pub use decision::{DenyReason, DropReason, Grant, Grants, Source, Verdict, decide};
pub use rules::{Field, FieldSet, Rules, default_needs};
