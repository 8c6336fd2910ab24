//! Writing and reading the routing headers of [`fiducia_proto::headers`] on Kafka
//! messages.

use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders};

use fiducia_proto::headers;

/// Site, event type and schema headers for an event message.
#[must_use]
pub fn routing_headers(site: &str, event_type: &str, schema: &str) -> OwnedHeaders {
    OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: headers::SITE,
            value: Some(site),
        })
        .insert(Header {
            key: headers::EVENT_TYPE,
            value: Some(event_type),
        })
        .insert(Header {
            key: headers::SCHEMA,
            value: Some(schema),
        })
}

/// The value of header `key` on `message`, when present.
#[must_use]
pub fn header<'a, M: Message>(message: &'a M, key: &str) -> Option<&'a [u8]>
where
    M::Headers: 'a,
{
    message.headers()?.iter().find(|h| h.key == key)?.value
}
