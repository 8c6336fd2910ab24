//! Raw events as the collector publishes them, for tests that feed the
//! enricher directly.

use std::time::Duration;

use fiducia_proto::headers;
use fiducia_proto::keys::event_key;
use fiducia_proto::v1::{ConsentSnapshot, ConsentState, Decision, IpPrefix, PageContext, RawEvent};
use fiducia_runtime::kafka::routing::routing_headers;
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A desktop Chrome user agent.
pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A consented page view of `visitor` on site `demo` at `at` (Unix ms), as
/// the collector publishes it: a desktop Chrome, from 203.0.113.0/24.
#[must_use]
pub fn page_view(visitor: &str, at: i64) -> RawEvent {
    RawEvent {
        event_id: uuid::Uuid::now_v7().as_bytes().to_vec(),
        site_id: "demo".into(),
        event_type: "page_view".into(),
        client_ts_ms: at,
        sent_at_ms: at,
        received_at_ms: at,
        seq: 1,
        props_json: "{}".into(),
        consent: Some(ConsentSnapshot {
            measurement: ConsentState::Granted.into(),
            ..ConsentSnapshot::default()
        }),
        context: Some(PageContext {
            url: "https://shop.example/p/42".into(),
            title: "Red shoes".into(),
            lang: "it-IT".into(),
            screen_width: 1920,
            screen_height: 1080,
            viewport_width: 1280,
            viewport_height: 800,
            ..PageContext::default()
        }),
        visitor_id: visitor.into(),
        ip: Some(IpPrefix {
            network: vec![203, 0, 113, 0],
            prefix_len: 24,
        }),
        user_agent: CHROME.into(),
        decision: Decision::Keep.into(),
        ..RawEvent::default()
    }
}

/// Produces `raw` to `topic` as the collector does: keyed by visitor, with
/// the routing headers.
///
/// # Panics
/// When the broker does not acknowledge it.
pub async fn produce(producer: &FutureProducer, topic: &str, raw: &RawEvent) {
    let key = event_key(&raw.site_id, &raw.visitor_id, &raw.event_id);
    let headers = routing_headers(&raw.site_id, &raw.event_type, headers::schema::RAW_EVENT);
    let payload = raw.encode_to_vec();
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
        .key(key.as_str())
        .payload(payload.as_slice())
        .headers(headers);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)
        .expect("produce a raw event");
}
