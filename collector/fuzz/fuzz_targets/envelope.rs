//! Arbitrary bytes through everything the collector does with a body
//! before publishing: parse, validate, resolve consent (TC and GPP strings
//! included) against a ledger, decide every event. Nothing may panic, and
//! the gate's promises must hold whatever the input.
#![no_main]

use fiducia_collector::accept::{RequestMeta, accept, gate};
use fiducia_collector::config::Limits;
use fiducia_collector::consent::ledger::Ledger;
use fiducia_collector::consent::policy::Policy;
use fiducia_collector::consent::resolve::HeaderSignals;
use fiducia_collector::envelope::parse;
use fiducia_collector_fuzz::{NOW_MS, allow_caught_decoder_panics};
use fiducia_proto::consent::{EventType, Purpose};
use fiducia_proto::v1::Decision;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: allow_caught_decoder_panics(), |data: &[u8]| {
    // The first byte picks the request's headers and the site's policy.
    let Some((&knobs, body)) = data.split_first() else {
        return;
    };
    let Ok(envelope) = parse(body) else { return };
    let Ok(checked) = envelope.validate(&Limits::default()) else {
        return;
    };
    let mut policy = Policy::default();
    policy.rules.anonymous_measurement = knobs & 1 != 0;
    policy.honor_dnt = knobs & 2 != 0;
    let meta = RequestMeta {
        ip: None,
        user_agent: String::new(),
        received_at_ms: NOW_MS,
        signals: HeaderSignals {
            gpc: knobs & 4 != 0,
            dnt: knobs & 8 != 0,
        },
    };
    let ledger = Ledger::default();
    let resolution = gate(&envelope, &checked, &meta, &policy, Some(&ledger));
    let granted = resolution.grants.granted();
    let accepted = accept(envelope, &checked, &meta, &policy, &resolution);
    for record in accepted.records.iter().map(|(_, r)| r) {
        ledger.apply(record);
    }
    for (_, event) in &accepted.events {
        let kind = EventType::parse(&event.event_type).expect("a known type");
        assert_ne!(kind, EventType::Consent, "consent events are records");
        if event.decision == i32::from(Decision::Keep) {
            assert!(policy.rules.needs(kind).is_subset(granted), "kept without consent");
        } else {
            assert!(policy.rules.anonymous_measurement);
            assert!(event.visitor_id.is_empty() && event.user_id.is_empty(), "STRIP with an id");
            assert!(event.user_agent.is_empty(), "STRIP with a user agent");
            assert_eq!(event.props_json, "{}", "STRIP with props the site did not list");
        }
        let context = event.context.as_ref().expect("a context");
        assert!(!context.url.contains('#') && !context.referrer.contains('#'), "a fragment left");
        if !event.user_id.is_empty() {
            assert!(granted.contains(Purpose::Personalization));
        }
    }
});
