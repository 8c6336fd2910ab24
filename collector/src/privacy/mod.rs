//! The visitor's privacy center (`collector/README.md`, The privacy center):
//! proof of identity and proof of consent. Its routes are in
//! `crate::routes::privacy`.
//!
//! * [`keys`]: the Ed25519 keys from configuration, published as a JWKS.
//! * [`jws`]: compact JWS with `EdDSA`, typed.
//! * [`token`]: visitor tokens, issued with each visitor id the collector mints.
//! * [`visitor`]: minting those ids.
//! * [`state`]: each purpose now and what each record changed.
//! * [`receipt`]: signed consent receipts.
//! * [`requests`]: export and erasure requests, and an erasure's record.
//! * [`export`]: the streamed export document (GDPR art. 15 and 20).

pub mod export;
pub mod jws;
pub mod keys;
pub mod receipt;
pub mod requests;
pub mod state;
pub mod token;
pub mod visitor;
