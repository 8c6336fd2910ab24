//! Referrer classes: the classifier lives in [`fiducia_runtime::referrer`],
//! shared with the collector's contextual answers (`GET /v1/profile`).

pub use fiducia_runtime::referrer::*;
