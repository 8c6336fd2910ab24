//! The consent model shared by every service (SPEC section 5).
//!
//! * [`purpose`]: our purposes and sets of them.
//! * [`rules`]: which purposes each event type and each field needs, with
//!   per-site overrides.
//! * [`decision`]: per-purpose grants with their source and reason, and the
//!   KEEP / STRIP / DROP decision per event.
//!
//! Fail closed everywhere: a purpose is granted only when a source granted
//! it; missing, unknown or unspecified means denied. The collector resolves
//! the sources (ledger, TC string, GPC/DNT, the tag's state) into
//! [`Grants`] and applies [`decide`] to every event before anything reaches
//! Kafka; later stages read the resolved state from the event.

pub mod decision;
pub mod flags;
pub mod purpose;
pub mod rules;

pub use decision::{DenyReason, DropReason, Grant, Grants, Source, Verdict, decide};
pub use flags::{Flag, Flags};
pub use purpose::{Purpose, PurposeSet};
pub use rules::{EventType, Field, FieldSet, Rules};

use crate::v1::ConsentAction;

/// A record action's short name (`grant`, `withdraw`, ...), for metric
/// labels and the `consent_log.action` column.
#[must_use]
pub const fn action_name(action: ConsentAction) -> &'static str {
    match action {
        ConsentAction::Unspecified => "unspecified",
        ConsentAction::Grant => "grant",
        ConsentAction::Deny => "deny",
        ConsentAction::Update => "update",
        ConsentAction::Withdraw => "withdraw",
        ConsentAction::Object => "object",
        ConsentAction::Erase => "erase",
    }
}
