//! What leaves the collector: STRIP mode's minimum, no URL fragments, and
//! per-field rules.

use super::*;

#[test]
fn strip_keeps_only_what_audience_measurement_needs() {
    let mut case = Case::new("{}", &["page_view"]);
    case.body = case
        .body
        .replace(r#""props":{"k":"v"}"#, r#""props":{"k":"v","plan":"pro"}"#);
    case.policy.rules.anonymous_measurement = true;
    case.policy.anonymous_props = ["plan".to_owned()].into();
    let (accepted, _) = case.run();
    let (key, event) = &accepted.events[0];
    assert_eq!(event.decision, i32::from(Decision::Strip));
    assert!(key.starts_with("demo/~"), "{key}");
    assert_eq!(event.visitor_id, "");
    assert_eq!(event.user_id, "");
    assert_eq!(
        event.props_json, r#"{"plan":"pro"}"#,
        "anonymous-safe keys only"
    );
    assert_eq!(event.user_agent, "");
    assert_eq!(event.device_class, "desktop");
    let context = event.context.as_ref().unwrap();
    assert_eq!(context.url, "https://shop.example/p/42?utm_source=news");
    assert_eq!(context.referrer, "https://www.google.com/");
    assert_eq!(context.title, "");
    assert_eq!((context.lang.as_str(), context.tz.as_str()), ("", ""));
    assert_eq!((context.screen_width, context.viewport_width), (0, 0));
    assert_eq!(accepted.stripped, 1);
    // Without a list, no property at all.
    case.policy.anonymous_props.clear();
    assert_eq!(case.run().0.events[0].1.props_json, "{}");
}

#[test]
fn no_url_keeps_its_fragment() {
    let (accepted, _) = Case::new(&tag(&["measurement"], 1), &["page_view"]).run();
    let context = accepted.events[0].1.context.clone().unwrap();
    assert_eq!(
        context.url,
        "https://shop.example/p/42?utm_source=news&email=a%40b.c"
    );
    assert!(
        accepted.events[0].1.user_agent.contains("Chrome"),
        "kept when not anonymous"
    );
}

#[test]
fn a_field_rule_removes_only_that_field() {
    let mut case = Case::new(&tag(&["measurement"], 1), &["click"]);
    case.policy = Policy::from_file(
        toml::from_str("[fields]\ntitle = [\"functional\"]\nprops = [\"functional\"]").unwrap(),
    )
    .unwrap();
    let (accepted, _) = case.run();
    let event = &accepted.events[0].1;
    assert_eq!(event.context.as_ref().unwrap().title, "");
    assert_eq!(event.props_json, "{}");
    assert_eq!(event.visitor_id, "v-1");
    assert!(
        !case
            .policy
            .rules
            .field_needs(Field::Title)
            .contains(Purpose::Measurement)
    );
}
