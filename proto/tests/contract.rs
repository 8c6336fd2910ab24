//! The wire contract: every `fiducia.v1` message survives an encode/decode
//! round trip with every field set, so no field is silently lost between
//! services.

use fiducia_proto::time::midnight_days_ago_ms;
use fiducia_proto::v1::{
    ConsentAction, ConsentRecord, ConsentSnapshot, ConsentState, DeadLetter, DeadLetterHeader,
    DeadLetterReason, Decision, EnrichedEvent, Interest, IpPrefix, ItemCount, ItemList,
    ItemListKind, PageContext, PrivacyRequest, PrivacyRequestKind, Profile, RawEvent, SessionState,
};
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) {
    let bytes = message.encode_to_vec();
    assert!(
        !bytes.is_empty(),
        "a fully set message encodes to something"
    );
    assert_eq!(&M::decode(bytes.as_slice()).unwrap(), message);
}

fn consent() -> ConsentSnapshot {
    ConsentSnapshot {
        measurement: ConsentState::Granted.into(),
        personalization: ConsentState::Denied.into(),
        functional: ConsentState::Granted.into(),
        contextual: ConsentState::Denied.into(),
        source: "api".into(),
        notice_version: "2026-01".into(),
        tcf: "CQ".into(),
        gpp: "DB".into(),
        gpc: true,
        dnt: true,
        updated_at_ms: midnight_days_ago_ms(1),
    }
}

fn ip() -> IpPrefix {
    IpPrefix {
        network: vec![192, 0, 2, 0],
        prefix_len: 24,
    }
}

#[test]
fn raw_event_round_trips() {
    let at = midnight_days_ago_ms(0);
    round_trip(&RawEvent {
        event_id: vec![7; 16],
        site_id: "demo".into(),
        event_type: "page_view".into(),
        client_ts_ms: at,
        sent_at_ms: at + 100,
        received_at_ms: at + 200,
        seq: 3,
        props_json: r#"{"a":1}"#.into(),
        consent: Some(consent()),
        context: Some(PageContext {
            url: "https://shop.example/p/42".into(),
            referrer: "https://www.google.com/".into(),
            title: "Red shoes".into(),
            lang: "it-IT".into(),
            tz: "Europe/Rome".into(),
            screen_width: 1920,
            screen_height: 1080,
            viewport_width: 1280,
            viewport_height: 800,
        }),
        visitor_id: "v".into(),
        user_id: "u".into(),
        ip: Some(ip()),
        user_agent: "Mozilla/5.0".into(),
        decision: Decision::Keep.into(),
        device_class: String::new(),
        retention_months: 6,
        personalization_since_ms: 7,
    });
}

#[test]
fn enriched_event_round_trips() {
    round_trip(&EnrichedEvent {
        event_id: vec![1; 16],
        site_id: "demo".into(),
        event_type: "click".into(),
        event_time_ms: 1,
        received_at_ms: 2,
        seq: 4,
        visitor_id: "v".into(),
        session_id: "s".into(),
        user_id: "u".into(),
        url: "https://a.example/x".into(),
        path: "/x".into(),
        referrer: "https://b.example/".into(),
        referrer_class: "search".into(),
        utm_source: "news".into(),
        utm_medium: "email".into(),
        utm_campaign: "spring".into(),
        utm_term: "shoes".into(),
        utm_content: "hero".into(),
        country: "IT".into(),
        region: "RM".into(),
        city: "Rome".into(),
        browser: "Chrome".into(),
        browser_version: "120".into(),
        os: "Linux".into(),
        device: "desktop".into(),
        is_bot: true,
        bot_reasons: vec!["crawler".into()],
        consent_measurement: true,
        consent_personalization: true,
        consent_functional: true,
        decision: Decision::Strip.into(),
        props_json: "{}".into(),
        title: "t".into(),
        lang: "en".into(),
        bot_score: 90,
        search_engine: "google".into(),
        social_network: "linkedin".into(),
        utm_id: "42".into(),
        utm_source_platform: "sa360".into(),
        utm_creative_format: "banner".into(),
        utm_marketing_tactic: "remarketing".into(),
        click_ids: vec!["gclid".into()],
        session_seq: 3,
        landing_page: "/".into(),
        entry_referrer: "https://b.example/".into(),
        entry_referrer_class: "other".into(),
        page_categories: vec!["product".into()],
        retention_months: 6,
        item_id: "shoe-42".into(),
    });
}

#[test]
fn profile_and_item_list_round_trip() {
    round_trip(&Profile {
        site_id: "demo".into(),
        visitor_id: "v".into(),
        interests: vec![Interest {
            category: "shoes".into(),
            score: 2.5,
            last_seen_ms: 3,
        }],
        scores_at_ms: 3,
        recent_items: vec!["shoe-42".into()],
        first_seen_ms: 1,
        last_seen_ms: 3,
        events: 2,
        sessions: 1,
        last_campaign: "spring".into(),
        device: "mobile".into(),
        raw_partition: 1,
        raw_offset: 9,
        updated_at_ms: 4,
        begun_at_ms: 2,
        retention_months: 6,
    });
    round_trip(&ItemList {
        site_id: "demo".into(),
        kind: ItemListKind::Related.into(),
        subject: "shoe-42".into(),
        items: vec![ItemCount {
            item: "shoe-7".into(),
            visitors: 12,
        }],
        computed_at_ms: 5,
        min_visitors: 10,
    });
}

#[test]
fn consent_record_round_trips() {
    round_trip(&ConsentRecord {
        record_id: vec![2; 16],
        site_id: "demo".into(),
        subject: "s".into(),
        action: ConsentAction::Withdraw.into(),
        state: Some(consent()),
        source: "cmp:10".into(),
        notice_version: "2026-01".into(),
        notice_hash: "ab".repeat(32),
        client_ts_ms: 1,
        server_ts_ms: 2,
        ip: Some(ip()),
        browser_family: "Firefox".into(),
        expires_at_ms: 3,
        user_key: fiducia_proto::privacy::user_key("demo", "u-1"),
        retention_months: 1,
    });
}

#[test]
fn dead_letter_round_trips() {
    round_trip(&DeadLetter {
        stage: "enricher".into(),
        reason: DeadLetterReason::Undecodable.into(),
        detail: "bad wire type".into(),
        topic: "fiducia.raw.v1".into(),
        partition: 2,
        offset: 99,
        key: b"demo/v".to_vec(),
        payload: vec![0xff, 0x00],
        headers: vec![DeadLetterHeader {
            key: "fiducia-site".into(),
            value: b"demo".to_vec(),
        }],
        failed_at_ms: 5,
        field: "event_id".into(),
    });
}

#[test]
fn session_state_round_trips() {
    round_trip(&SessionState {
        session_id: "0193a1f0-7c2e-7d3a-9f10-2b3c4d5e6f70".into(),
        started_at_ms: 1,
        last_event_ms: 2,
        events: 3,
        landing_page: "/p/1".into(),
        entry_referrer: "https://www.google.com/".into(),
        entry_referrer_class: "search".into(),
        utm_source: "news".into(),
        utm_medium: "email".into(),
        utm_campaign: "spring".into(),
        local_day: 20_000,
        raw_partition: 1,
        raw_offset: 77,
        updated_at_ms: 4,
        rate_window_start_ms: 5,
        rate_window_events: 6,
        rate_window_page_views: 7,
    });
}

#[test]
fn privacy_request_round_trips() {
    round_trip(&PrivacyRequest {
        request_id: vec![3; 16],
        site_id: "demo".into(),
        subject: "s".into(),
        kind: PrivacyRequestKind::Erasure.into(),
        requested_at_ms: 6,
        user_key: fiducia_proto::privacy::user_key("demo", "u-1"),
        channel: fiducia_proto::privacy::channel::ADMIN.into(),
    });
}

#[test]
fn unknown_enum_values_decode_as_numbers_not_errors() {
    // Fail closed lives in the consent model; decoding must not reject a
    // newer producer's enum value.
    let mut snapshot = consent();
    snapshot.measurement = 42;
    round_trip(&snapshot);
}
