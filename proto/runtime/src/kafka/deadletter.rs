//! Building dead letters: the original bytes and headers, a typed reason and
//! the source position, so `fiducia.deadletter.v1` can be replayed.

use rdkafka::Message;
use rdkafka::message::{Headers, OwnedHeaders, OwnedMessage};

use fiducia_proto::headers;
use fiducia_proto::v1::{DeadLetter, DeadLetterHeader, DeadLetterReason};

/// Wraps a message a stage gave up on.
#[must_use]
pub fn dead_letter(
    stage: &str,
    reason: DeadLetterReason,
    detail: String,
    message: &OwnedMessage,
    failed_at_ms: i64,
) -> DeadLetter {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|header| DeadLetterHeader {
                    key: header.key.to_owned(),
                    value: header.value.map(<[u8]>::to_vec).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    DeadLetter {
        stage: stage.to_owned(),
        reason: reason as i32,
        detail,
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec).unwrap_or_default(),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers,
        failed_at_ms,
        field: String::new(),
    }
}

/// Routing headers for a dead letter: the original site header, when present,
/// and the dead-letter schema name.
#[must_use]
pub fn dead_letter_headers(message: &OwnedMessage) -> OwnedHeaders {
    let site = super::routing::header(message, headers::SITE).map(<[u8]>::to_vec);
    let out = OwnedHeaders::new().insert(rdkafka::message::Header {
        key: headers::SCHEMA,
        value: Some(headers::schema::DEAD_LETTER),
    });
    match site {
        Some(site) => out.insert(rdkafka::message::Header {
            key: headers::SITE,
            value: Some(&site),
        }),
        None => out,
    }
}

/// The reason as a metric label (a bounded set).
#[must_use]
pub const fn reason_label(reason: DeadLetterReason) -> &'static str {
    match reason {
        DeadLetterReason::Undecodable => "undecodable",
        DeadLetterReason::Invalid => "invalid",
        DeadLetterReason::Empty => "empty",
        DeadLetterReason::WrongSchema => "wrong_schema",
        DeadLetterReason::BadEventId => "bad_event_id",
        DeadLetterReason::MissingField => "missing_field",
        DeadLetterReason::BadValue => "bad_value",
        DeadLetterReason::BadProperties => "bad_properties",
        DeadLetterReason::UnknownSite => "unknown_site",
        DeadLetterReason::EventTypeNotAllowed => "event_type_not_allowed",
        DeadLetterReason::Unspecified => "unspecified",
    }
}
