//! The tables and views of the sink's database, one module each, so that
//! everything about a table is in one place: its name, the statements that
//! create and alter it (the steps [`crate::schema::migrations`] runs, in its
//! order), and for a table the sink writes, its row type, the columns the
//! row is sent as, and how a message becomes a row.
//!
//! The sink writes three tables, each from its own topic: [`events`],
//! [`consent_log`] and [`dead_letters`]. Their rows implement [`TableRow`],
//! which the handler, the writers and the consume loop are generic over, so
//! every table goes through the same at-least-once path. The other objects
//! are filled by ClickHouse itself ([`profile_events`] by a materialized
//! view), are views ([`profiles`], [`sessions`]), are written by the
//! privacy-request workflow ([`privacy_requests`]) or by the collector
//! ([`admin_audit`]).
//!
//! A statement that a migration applied is never edited: a change is a new
//! statement and a new migration (see [`crate::schema::migrations`]).
//!
//! Row field names are the column names (each column of the insert's
//! `Native` block is named, see [`crate::columns`](mod@crate::columns)), and their Rust types
//! hold the column types: `DateTime` is `u32` seconds, `UInt8` flags are
//! `u8`, `UUID` is [`uuid::Uuid`].

pub mod admin_audit;
pub mod consent_log;
pub mod dead_letters;
pub mod events;
pub mod privacy_requests;
pub mod profile_events;
pub mod profiles;
pub mod sessions;

use crate::columns::Columns;
use crate::handler::Rejection;

/// A row of one table the sink writes.
pub trait TableRow: Columns + Clone + std::fmt::Debug + Send + Sync {
    /// The message a row is made from.
    type Message: prost::Message + Default;
    /// The table, in the configured database (its module's `NAME`).
    const TABLE: &'static str;
    /// The `fiducia-schema` header of that message.
    const SCHEMA: &'static str;

    /// Whether the deny filter checks the table's rows ([`crate::deny`]):
    /// rows that belong to a visitor or a user.
    const DENIED: bool = false;

    /// The row for one decoded message.
    ///
    /// # Errors
    /// A [`Rejection::Invalid`] when the message breaks a rule of the table.
    fn from_message(message: Self::Message) -> Result<Self, Rejection>;

    /// Whose row it is for the deny filter: site, visitor id, user id
    /// (either id may be empty).
    fn subject(&self) -> (&str, &str, &str) {
        ("", "", "")
    }

    /// When the collector received the event `message` carries (Unix ms),
    /// for the end-to-end latency; `None` for a table of something else.
    fn received_at_ms(message: &Self::Message) -> Option<i64> {
        let _ = message;
        None
    }

    /// What is stored of a row of an erased subject: nothing, or a
    /// pseudonymised copy.
    #[must_use]
    fn erase(self) -> Option<Self> {
        None
    }
}

/// A time `DateTime` cannot hold (before 1970 or after 2106).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {ms} ms is outside the DateTime range")]
pub struct TimeOutOfRange {
    /// The offending field.
    pub field: &'static str,
    /// Its value, Unix milliseconds.
    pub ms: i64,
}

/// Unix milliseconds as `DateTime` seconds plus the millisecond part (the
/// `UInt16` column beside a `DateTime` where a table keeps milliseconds).
///
/// # Errors
/// When `ms` is before 1970 or its seconds do not fit a `DateTime`.
pub fn split_ms(field: &'static str, ms: i64) -> Result<(u32, u16), TimeOutOfRange> {
    let out_of_range = TimeOutOfRange { field, ms };
    let seconds = u32::try_from(ms.div_euclid(1000)).map_err(|_| out_of_range.clone())?;
    let millis = u16::try_from(ms.rem_euclid(1000)).map_err(|_| out_of_range)?;
    Ok((seconds, millis))
}

/// The columns a `CREATE TABLE` statement declares, in order: what a row
/// type's `COLUMNS` must be for its table.
#[cfg(test)]
pub(crate) fn create_columns(create: &str) -> Vec<&str> {
    create
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with('('))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_millisecond_part_is_kept_beside_whole_seconds() {
        let cases = [
            (0, (0, 0)),
            (999, (0, 999)),
            (1_000, (1, 0)),
            // A date in 2025, as written: arithmetic, no clock involved.
            (1_764_000_000_001, (1_764_000_000, 1)),
        ];
        for (ms, want) in cases {
            assert_eq!(split_ms("t", ms).unwrap(), want, "{ms}");
        }
    }
}
