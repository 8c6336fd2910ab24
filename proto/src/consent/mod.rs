//! The consent vocabulary every service shares (`collector/README.md`, Consent).
//!
//! * [`purpose`]: our purposes and sets of them.
//! * [`event_type`]: the event types of the wire contract.
//! * [`flags`]: small sets of such names.
//!
//! Fail closed everywhere: a purpose is granted only when a source granted
//! it; missing, unknown or unspecified means denied. Deciding is the
//! collector's alone (`collector/src/consent/`: sources, rules, KEEP /
//! STRIP / DROP), before anything reaches Kafka; later stages read the
//! resolved state from the event.

pub mod event_type;
pub mod flags;
pub mod purpose;

pub use event_type::EventType;
pub use flags::{Flag, Flags};
pub use purpose::{Purpose, PurposeSet};

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
