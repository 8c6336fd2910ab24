//! What the sink stores: for each table (`events`, `consent_log`,
//! `dead_letters`), its row type, the protobuf message
//! a row is made from and the schema header that message carries. The
//! handler, the writers and the consume loop are generic over it, so every
//! table goes through the same at-least-once path.

use fiducia_proto::headers::schema;
use fiducia_proto::v1::{ConsentRecord, DeadLetter, EnrichedEvent};

use crate::columns::Columns;
use crate::consent_rows::ConsentRow;
use crate::dead_letter_rows::DeadLetterRow;
use crate::handler::Rejection;
use crate::rows::EventRow;

/// A row of one table.
pub trait TableRow: Columns + Clone + std::fmt::Debug + Send + Sync {
    /// The message a row is made from.
    type Message: prost::Message + Default;
    /// The table, in the configured database.
    const TABLE: &'static str;
    /// The `fiducia-schema` header of that message.
    const SCHEMA: &'static str;

    /// The row for one decoded message.
    ///
    /// # Errors
    /// A [`Rejection::Invalid`] when the message breaks a rule of the table.
    fn from_message(message: Self::Message) -> Result<Self, Rejection>;
}

impl TableRow for EventRow {
    type Message = EnrichedEvent;
    const TABLE: &'static str = crate::metrics::TABLES[0];
    const SCHEMA: &'static str = schema::ENRICHED_EVENT;

    fn from_message(message: EnrichedEvent) -> Result<Self, Rejection> {
        Ok(Self::try_from(message)?)
    }
}

impl TableRow for ConsentRow {
    type Message = ConsentRecord;
    const TABLE: &'static str = crate::metrics::TABLES[1];
    const SCHEMA: &'static str = schema::CONSENT_RECORD;

    fn from_message(message: ConsentRecord) -> Result<Self, Rejection> {
        Ok(Self::try_from(message)?)
    }
}

impl TableRow for DeadLetterRow {
    type Message = DeadLetter;
    const TABLE: &'static str = crate::metrics::TABLES[2];
    const SCHEMA: &'static str = schema::DEAD_LETTER;

    fn from_message(message: DeadLetter) -> Result<Self, Rejection> {
        Ok(Self::try_from(message)?)
    }
}
