//! From a validated envelope to the messages to publish: the consent gate
//! decides each event, accepted events become `fiducia.v1.RawEvent`s with
//! the truncated client network, and drops are tallied by reason.

use fiducia_proto::consent::{self, DropReason, Verdict};
use fiducia_proto::keys::partition_key;
use fiducia_proto::v1::{ConsentSnapshot, ConsentState, IpPrefix, PageContext, RawEvent};

use crate::envelope::{Consent, ConsentValue, Envelope, EventId};

/// What the gate made of one envelope.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Events to publish, with their partition keys.
    pub events: Vec<(String, RawEvent)>,
    /// Dropped events, counted by reason.
    pub dropped: Vec<(DropReason, usize)>,
}

/// Request facts that are not in the body.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Truncated client network.
    pub ip: Option<IpPrefix>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Collector clock at arrival, Unix ms.
    pub received_at_ms: i64,
}

/// Applies the consent gate to every event of `envelope`.
#[must_use]
pub fn accept(envelope: Envelope, ids: &[EventId], meta: &RequestMeta) -> Accepted {
    let consent = snapshot(&envelope.consent);
    let mut accepted = Accepted::default();
    let context = context(&envelope);
    let visitor_id = envelope.visitor.id.unwrap_or_default();
    let user_id = envelope.visitor.user_id.unwrap_or_default();
    for (event, id) in envelope.events.into_iter().zip(ids) {
        let decision = match consent::decide(&consent) {
            Verdict::Publish(decision) => decision,
            Verdict::Drop(reason) => {
                tally(&mut accepted.dropped, reason);
                continue;
            }
        };
        let key = partition_key(&envelope.site, &visitor_id, &event.id);
        accepted.events.push((
            key,
            RawEvent {
                event_id: id.to_vec(),
                site_id: envelope.site.clone(),
                event_type: event.kind,
                client_ts_ms: event.ts,
                sent_at_ms: envelope.sent_at,
                received_at_ms: meta.received_at_ms,
                seq: event.seq,
                props_json: serde_json::Value::Object(event.props).to_string(),
                consent: Some(consent.clone()),
                context: Some(context.clone()),
                visitor_id: visitor_id.clone(),
                user_id: user_id.clone(),
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
                decision: decision.into(),
            },
        ));
    }
    accepted
}

fn tally(dropped: &mut Vec<(DropReason, usize)>, reason: DropReason) {
    match dropped.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, count)) => *count += 1,
        None => dropped.push((reason, 1)),
    }
}

fn state(value: Option<ConsentValue>) -> i32 {
    match value {
        Some(ConsentValue::Granted) => ConsentState::Granted,
        Some(ConsentValue::Denied) => ConsentState::Denied,
        None => ConsentState::Unspecified,
    }
    .into()
}

fn snapshot(consent: &Consent) -> ConsentSnapshot {
    ConsentSnapshot {
        measurement: state(consent.measurement),
        personalization: state(consent.personalization),
        functional: state(consent.functional),
        contextual: state(consent.contextual),
        source: consent.source.clone(),
        notice_version: consent.notice_version.clone(),
        tcf: consent.tcf.clone(),
        gpp: consent.gpp.clone(),
        gpc: consent.gpc,
    }
}

fn context(envelope: &Envelope) -> PageContext {
    let c = &envelope.context;
    let [screen_width, screen_height] = c.screen.unwrap_or_default();
    let [viewport_width, viewport_height] = c.viewport.unwrap_or_default();
    PageContext {
        url: c.url.clone(),
        referrer: c.referrer.clone(),
        title: c.title.clone(),
        lang: c.lang.clone(),
        tz: c.tz.clone(),
        screen_width,
        screen_height,
        viewport_width,
        viewport_height,
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::Decision;

    use super::*;
    use crate::config::Limits;
    use crate::envelope::parse;

    fn run(measurement: &str, count: usize) -> Accepted {
        let events: Vec<String> = (0..count)
            .map(|i| {
                format!(
                    r#"{{"id":"{}","type":"click","ts":1764000000000,"seq":{i},"props":{{"k":"v"}}}}"#,
                    uuid::Uuid::now_v7()
                )
            })
            .collect();
        let text = format!(
            r#"{{"site":"demo","sent_at":1764000000500,"consent":{{"measurement":{measurement}}},
               "visitor":{{"id":"vis"}},"context":{{"url":"https://a.example/"}},"events":[{}]}}"#,
            events.join(",")
        );
        let envelope = parse(text.as_bytes()).unwrap();
        let ids = envelope.validate(&Limits::default()).unwrap();
        let meta = RequestMeta {
            ip: Some(crate::client_ip::truncate("203.0.113.77".parse().unwrap())),
            user_agent: "UA".into(),
            received_at_ms: 1_764_000_001_000,
        };
        accept(envelope, &ids, &meta)
    }

    #[test]
    fn granted_events_become_raw_events_keyed_by_visitor() {
        let accepted = run("\"granted\"", 3);
        assert_eq!(accepted.events.len(), 3);
        assert!(accepted.dropped.is_empty());
        let (key, event) = &accepted.events[0];
        assert_eq!(key, "demo/vis");
        assert_eq!(event.site_id, "demo");
        assert_eq!(event.decision, i32::from(Decision::Keep));
        assert_eq!(event.props_json, r#"{"k":"v"}"#);
        assert_eq!(event.ip.as_ref().unwrap().network, vec![203, 0, 113, 0]);
        assert_eq!(event.received_at_ms, 1_764_000_001_000);
    }

    #[test]
    fn denied_or_missing_consent_drops_every_event_and_counts_it() {
        for measurement in ["\"denied\"", "null"] {
            let accepted = run(measurement, 4);
            assert!(accepted.events.is_empty(), "{measurement}");
            assert_eq!(
                accepted.dropped,
                vec![(DropReason::NoMeasurementConsent, 4)]
            );
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn consent_value() -> impl Strategy<Value = Option<&'static str>> {
            prop_oneof![
                Just(Some("\"granted\"")),
                Just(Some("\"denied\"")),
                Just(Some("null")),
                Just(None)
            ]
        }

        proptest! {
            /// Whatever the consent snapshot, the batch size and the other
            /// purposes say, an event is handed on only with measurement
            /// granted, and every dropped event is counted.
            #[test]
            fn no_event_without_measurement_consent_is_published(
                measurement in consent_value(),
                others in proptest::collection::vec(consent_value(), 3),
                count in 1_usize..30,
                visitor in proptest::option::of("[A-Za-z0-9_-]{1,40}"),
            ) {
                let mut consent = Vec::new();
                for (name, value) in ["measurement", "personalization", "functional", "contextual"]
                    .iter()
                    .zip(std::iter::once(measurement).chain(others))
                {
                    if let Some(value) = value {
                        consent.push(format!("\"{name}\":{value}"));
                    }
                }
                let events: Vec<String> = (0..count)
                    .map(|seq| format!(r#"{{"id":"{}","type":"click","ts":1,"seq":{seq}}}"#, uuid::Uuid::now_v7()))
                    .collect();
                let visitor = visitor.map_or_else(String::new, |v| format!(r#""visitor":{{"id":"{v}"}},"#));
                let text = format!(
                    r#"{{"site":"demo","sent_at":1,"consent":{{{}}},{visitor}"events":[{}]}}"#,
                    consent.join(","),
                    events.join(",")
                );
                let envelope = parse(text.as_bytes()).unwrap();
                let ids = envelope.validate(&Limits::default()).unwrap();
                let accepted = accept(envelope, &ids, &RequestMeta::default());
                let dropped: usize = accepted.dropped.iter().map(|(_, n)| n).sum();
                prop_assert_eq!(accepted.events.len() + dropped, count);
                if measurement == Some("\"granted\"") {
                    prop_assert_eq!(accepted.events.len(), count);
                } else {
                    prop_assert!(accepted.events.is_empty());
                }
                for (_, event) in &accepted.events {
                    prop_assert_eq!(event.consent.as_ref().unwrap().measurement, i32::from(ConsentState::Granted));
                }
            }

            /// No host bit of any client address survives truncation.
            #[test]
            fn truncation_keeps_no_host_bits(ip in any::<std::net::IpAddr>()) {
                let prefix = crate::client_ip::truncate(ip);
                let kept = usize::try_from(prefix.prefix_len / 8).unwrap();
                prop_assert!(prefix.prefix_len == 24 || prefix.prefix_len == 48);
                prop_assert!(prefix.network[kept..].iter().all(|b| *b == 0));
            }
        }
    }
}
