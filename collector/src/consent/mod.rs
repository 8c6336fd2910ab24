//! The collector's side of the consent model (SPEC section 5): where
//! consent comes from and what is recorded. The model itself (purposes,
//! rules, KEEP / STRIP / DROP) is `fiducia_proto::consent`.
//!
//! * [`policy`]: a site's consent settings, validated at start-up.
//! * [`tcf`]: TC strings (and GPP strings carrying one), decoded and validated.
//! * [`ledger`] and [`follow`]: the server-side ledger, rebuilt on every
//!   instance from `fiducia.consent.v1`.
//! * [`resolve`]: sources and precedence, into per-purpose grants.
//! * [`record`]: the consent records every change produces.

pub mod follow;
pub mod ledger;
pub mod policy;
pub mod record;
pub mod resolve;
pub mod tcf;
#[cfg(test)]
mod tcf_vectors;
