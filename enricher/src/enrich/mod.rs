//! Pure enrichment rules, one module per concern, composed by [`enrich`]:
//! raw event in, analysis-ready event out. No I/O here, so every rule is
//! tested table-driven beside its code.

pub mod referrer;
pub mod time;
pub mod url;
pub mod user_agent;

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{EnrichedEvent, RawEvent};

/// Turns a raw event into an enriched one.
#[must_use]
pub fn enrich(raw: RawEvent) -> EnrichedEvent {
    let consent = raw.consent.unwrap_or_default();
    let context = raw.context.unwrap_or_default();
    let page = url::split(&context.url);
    let agent = user_agent::parse(&raw.user_agent);
    let referrer_class = referrer::classify(
        &context.referrer,
        page.host.as_deref(),
        &page.campaign.medium,
    );
    EnrichedEvent {
        event_id: raw.event_id,
        site_id: raw.site_id,
        event_type: raw.event_type,
        event_time_ms: time::corrected_event_time(
            raw.client_ts_ms,
            raw.sent_at_ms,
            raw.received_at_ms,
        ),
        received_at_ms: raw.received_at_ms,
        seq: raw.seq,
        visitor_id: raw.visitor_id,
        session_id: String::new(),
        user_id: raw.user_id,
        url: context.url,
        path: page.path,
        referrer: context.referrer,
        referrer_class: referrer_class.as_str().to_owned(),
        utm_source: page.campaign.source,
        utm_medium: page.campaign.medium,
        utm_campaign: page.campaign.campaign,
        utm_term: page.campaign.term,
        utm_content: page.campaign.content,
        country: String::new(),
        region: String::new(),
        city: String::new(),
        browser: agent.browser,
        browser_version: agent.version,
        os: agent.os,
        device: agent.device.as_str().to_owned(),
        is_bot: !agent.bot_reasons.is_empty(),
        bot_reasons: agent.bot_reasons.iter().map(|r| (*r).to_owned()).collect(),
        consent_measurement: Purpose::Measurement.granted_by(&consent),
        consent_personalization: Purpose::Personalization.granted_by(&consent),
        consent_functional: Purpose::Functional.granted_by(&consent),
        decision: raw.decision,
        props_json: raw.props_json,
        title: context.title,
        lang: context.lang,
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::{ConsentSnapshot, ConsentState, Decision, PageContext};

    use super::*;

    #[test]
    fn a_raw_event_comes_out_with_every_derived_field() {
        let raw = RawEvent {
            event_id: vec![9; 16],
            site_id: "demo".into(),
            event_type: "page_view".into(),
            client_ts_ms: 1_000,
            sent_at_ms: 1_500,
            received_at_ms: 11_500,
            seq: 2,
            props_json: "{}".into(),
            consent: Some(ConsentSnapshot {
                measurement: ConsentState::Granted.into(),
                personalization: ConsentState::Denied.into(),
                ..ConsentSnapshot::default()
            }),
            context: Some(PageContext {
                url: "https://shop.example/p/42?utm_source=news&utm_medium=cpc".into(),
                referrer: "https://www.google.com/".into(),
                title: "Red shoes".into(),
                lang: "it-IT".into(),
                ..PageContext::default()
            }),
            visitor_id: "v".into(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36".into(),
            decision: Decision::Keep.into(),
            ..RawEvent::default()
        };
        let out = enrich(raw);
        assert_eq!(
            out.event_time_ms, 11_000,
            "skew of the client clock removed"
        );
        assert_eq!(out.path, "/p/42");
        assert_eq!(out.utm_source, "news");
        assert_eq!(out.referrer_class, "search");
        assert_eq!(out.browser, "Chrome");
        assert_eq!(out.os, "Linux");
        assert_eq!(out.device, "desktop");
        assert!(!out.is_bot);
        assert!(out.consent_measurement && !out.consent_personalization && !out.consent_functional);
        assert_eq!(out.decision, i32::from(Decision::Keep));
        assert_eq!(
            (out.title.as_str(), out.lang.as_str()),
            ("Red shoes", "it-IT")
        );
    }
}
