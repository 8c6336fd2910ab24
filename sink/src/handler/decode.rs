//! From a Kafka message to a row of its table, or to why it cannot be one
//! ([`Rejection`], which names the dead-letter reason): an empty payload, a
//! schema header naming another message type, bytes that do not decode,
//! or a message its table refuses ([`TableRow::from_message`]).

use fiducia_proto::headers;
use fiducia_proto::v1::DeadLetterReason;
use fiducia_runtime::kafka::deadletter::reason_label;
use fiducia_runtime::kafka::routing::header;
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;

use crate::tables::TableRow;

/// Why a message cannot become a row.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// No payload, or a zero-length one.
    #[error("empty payload")]
    Empty,
    /// The schema header names another message type.
    #[error("schema header is {found:?}, want {want:?}")]
    WrongSchema {
        /// The header's value.
        found: String,
        /// The table's message type.
        want: &'static str,
    },
    /// Not a protobuf message of the table's type.
    #[error("does not decode: {0}")]
    Undecodable(#[from] prost::DecodeError),
    /// A message that decodes but breaks a rule of the contract or of its
    /// table (each table says which: `InvalidEvent`, `InvalidRecord`, ...).
    #[error("{0}")]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
}

impl Rejection {
    /// A message its table refuses, with the table's reason.
    pub fn invalid(reason: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Invalid(Box::new(reason))
    }

    /// The typed reason carried by the dead letter.
    #[must_use]
    pub fn reason(&self) -> DeadLetterReason {
        match self {
            Self::Empty => DeadLetterReason::Empty,
            Self::WrongSchema { .. } | Self::Undecodable(_) => DeadLetterReason::Undecodable,
            Self::Invalid(_) => DeadLetterReason::Invalid,
        }
    }

    /// The reason as a metric label (a bounded set).
    #[must_use]
    pub fn label(&self) -> &'static str {
        reason_label(self.reason())
    }
}

/// Turns one message into a row of `R`'s table, or says why it cannot be one.
///
/// # Errors
/// A [`Rejection`] naming the dead-letter reason.
pub fn decode<R: TableRow>(message: &OwnedMessage) -> Result<R, Rejection> {
    decode_timed(message).map(|(row, _)| row)
}

/// [`decode`], with when the collector received the event the row is made
/// of ([`TableRow::received_at_ms`]; `None` for other tables).
///
/// # Errors
/// A [`Rejection`] naming the dead-letter reason.
pub fn decode_timed<R: TableRow>(message: &OwnedMessage) -> Result<(R, Option<i64>), Rejection> {
    let payload = message.payload().unwrap_or_default();
    if payload.is_empty() {
        return Err(Rejection::Empty);
    }
    if let Some(schema) = header(message, headers::SCHEMA)
        && schema != R::SCHEMA.as_bytes()
    {
        return Err(Rejection::WrongSchema {
            found: String::from_utf8_lossy(schema).into_owned(),
            want: R::SCHEMA,
        });
    }
    decode_payload(payload)
}

/// [`decode_timed`] of a payload whose message passed the checks of its
/// headers (the deny filter makes rows again from payloads it kept).
///
/// # Errors
/// A [`Rejection`] naming the dead-letter reason.
pub fn decode_payload<R: TableRow>(payload: &[u8]) -> Result<(R, Option<i64>), Rejection> {
    let decoded = R::Message::decode(payload)?;
    let received_at_ms = R::received_at_ms(&decoded);
    Ok((R::from_message(decoded)?, received_at_ms))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use uuid::Uuid;

    use super::*;
    use crate::handler::tests::{event, message};
    use crate::tables::events::EventRow;

    #[test]
    fn each_kind_of_bad_message_gets_its_typed_reason() {
        let mut bad_id = event(Uuid::now_v7());
        bad_id.event_id = vec![1, 2, 3];
        let cases = [
            (message(None, 1, None), DeadLetterReason::Empty),
            (message(Some(Vec::new()), 2, None), DeadLetterReason::Empty),
            (
                message(Some(bad_id.encode_to_vec()), 3, None),
                DeadLetterReason::Invalid,
            ),
            (
                message(
                    Some(event(Uuid::now_v7()).encode_to_vec()),
                    4,
                    Some(headers::schema::RAW_EVENT),
                ),
                DeadLetterReason::Undecodable,
            ),
        ];
        for (message, want) in cases {
            let rejection = decode::<EventRow>(&message).unwrap_err();
            assert_eq!(rejection.reason(), want, "{rejection}");
        }
    }

    #[test]
    fn a_message_without_schema_header_is_still_decoded() {
        let id = Uuid::now_v7();
        let row: EventRow = decode(&message(Some(event(id).encode_to_vec()), 0, None)).unwrap();
        assert_eq!(row.event_id, id);
    }
}
