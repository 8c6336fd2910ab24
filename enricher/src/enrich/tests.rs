//! One raw event in, one enriched event (or a dead letter) out.

use fiducia_proto::v1::{ConsentSnapshot, ConsentState, IpPrefix, PageContext};

use super::*;

use fiducia_testkit::raw::CHROME;

fn raw() -> RawEvent {
    RawEvent {
        event_id: vec![9; 16],
        site_id: "demo".into(),
        event_type: "page_view".into(),
        client_ts_ms: 1_000,
        sent_at_ms: 1_500,
        received_at_ms: 11_500,
        seq: 2,
        props_json: r#"{"email":"ada@example.com","sku":"42"}"#.into(),
        consent: Some(ConsentSnapshot {
            measurement: ConsentState::Granted.into(),
            personalization: ConsentState::Denied.into(),
            ..ConsentSnapshot::default()
        }),
        context: Some(PageContext {
            url: "https://shop.example/p/42?utm_source=news&utm_medium=cpc&gclid=abc&email=ada%40example.com".into(),
            referrer: "https://www.google.com/search?q=ada@example.com".into(),
            title: "Hello ada@example.com".into(),
            lang: "it-IT".into(),
            screen_width: 1920,
            screen_height: 1080,
            viewport_width: 1280,
            viewport_height: 800,
            ..PageContext::default()
        }),
        visitor_id: "v".into(),
        ip: Some(IpPrefix {
            network: vec![203, 0, 113, 0],
            prefix_len: 24,
        }),
        user_agent: CHROME.into(),
        decision: Decision::Keep.into(),
        ..RawEvent::default()
    }
}

fn engine(sites: &str) -> (Engine, tempfile::NamedTempFile) {
    let file = geo::fixture::file();
    let geo = GeoDb::open(file.path(), NonZeroUsize::new(8).unwrap()).unwrap();
    // "": no sites file rules, every site at the defaults.
    let sites = if sites.is_empty() {
        Sites::default()
    } else {
        Sites::parse(sites, "t").unwrap()
    };
    (
        Engine::new(sites, NonZeroUsize::new(8).unwrap(), Some(geo)),
        file,
    )
}

#[test]
fn a_raw_event_comes_out_with_every_derived_field_and_nothing_personal() {
    let (mut engine, _file) = engine(
        "[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\n[[sites.demo.enrich.categories]]\nname = \"product\"\npath_prefix = \"/p/\"\n",
    );
    let mut tally = Tally::default();
    let (out, drop) = engine.enrich(raw(), &mut tally).unwrap().finish();
    assert!(!drop);
    assert_eq!(
        out.event_time_ms, 11_000,
        "skew of the client clock removed"
    );
    assert_eq!(out.path, "/p/42");
    assert_eq!(
        out.url,
        "https://shop.example/p/42?utm_source=news&utm_medium=cpc"
    );
    assert_eq!(out.referrer, "https://www.google.com/search");
    assert_eq!(out.title, "Hello [email]");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out.props_json).unwrap(),
        serde_json::json!({"sku": "42"})
    );
    assert_eq!(
        (out.utm_source.as_str(), out.utm_medium.as_str()),
        ("news", "cpc")
    );
    assert_eq!(out.click_ids, ["gclid"]);
    assert_eq!(out.referrer_class, "paid");
    assert_eq!(
        (out.country.as_str(), out.region.as_str(), out.city.as_str()),
        ("IT", "62", "Rome")
    );
    assert_eq!(
        (out.browser.as_str(), out.os.as_str(), out.device.as_str()),
        ("Chrome", "Linux", "desktop")
    );
    assert!(!out.is_bot && out.bot_score == 0 && out.bot_reasons.is_empty());
    assert!(out.consent_measurement && !out.consent_personalization && !out.consent_functional);
    assert_eq!(out.page_categories, ["product"]);
    assert_eq!(out.visitor_id, "v");
    assert_eq!(
        (out.title.as_str(), out.lang.as_str()),
        ("Hello [email]", "it-IT")
    );
    assert_eq!(tally, Tally::default());
}

#[test]
fn external_referrers_keep_no_query_internal_ones_keep_a_scrubbed_one() {
    let (mut engine, _file) = engine("");
    for (referrer, want) in [
        (
            "https://www.bing.com/search?q=ada+lovelace",
            "https://www.bing.com/search",
        ),
        (
            "https://blog.example/post#comments",
            "https://blog.example/post",
        ),
        (
            "https://shop.example/c/shoes?page=2&token=x",
            "https://shop.example/c/shoes?page=2",
        ),
    ] {
        let mut input = raw();
        input.context.as_mut().unwrap().referrer = referrer.into();
        let out = engine.enrich(input, &mut Tally::default()).unwrap().event;
        assert_eq!(out.referrer, want, "{referrer}");
    }
}

#[test]
fn geo_precision_follows_consent_and_the_site() {
    let (mut engine, _file) = engine(
        "[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\ngeo = { precision = \"region\", anonymous_precision = \"none\" }\n[sites.open.collect]\nallowed_origins = []\n[sites.open.enrich]\n",
    );
    let mut tally = Tally::default();
    let stripped = |site: &str| {
        let mut r = raw();
        r.site_id = site.into();
        r.decision = Decision::Strip.into();
        r.visitor_id.clear();
        r.consent = None;
        r
    };
    let mut kept = raw();
    kept.site_id = "open".into();
    for (input, want) in [
        (raw(), ("IT", "62", "")),
        (stripped("demo"), ("", "", "")),
        (kept, ("IT", "62", "Rome")),
        (stripped("open"), ("IT", "", "")),
    ] {
        let out = engine.enrich(input, &mut tally).unwrap().event;
        assert_eq!(
            (out.country.as_str(), out.region.as_str(), out.city.as_str()),
            want
        );
    }
}

#[test]
fn identifiers_of_stripped_events_are_removed() {
    let (mut engine, _file) = engine("");
    let mut tally = Tally::default();
    let mut input = raw();
    input.decision = Decision::Strip.into();
    input.user_id = "u".into();
    let out = engine.enrich(input, &mut tally).unwrap().event;
    assert!(out.visitor_id.is_empty() && out.user_id.is_empty());
    assert_eq!(tally.identifiers_removed, 1);
}

#[test]
fn bots_are_scored_flagged_and_dropped_when_the_site_says_so() {
    let (mut engine, _file) = engine(
        "[sites.strict.collect]\nallowed_origins = []\n[sites.strict.enrich]\ndrop_bots = true\n",
    );
    let mut tally = Tally::default();
    let mut bot = raw();
    bot.user_agent =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into();
    let (out, drop) = engine.enrich(bot.clone(), &mut tally).unwrap().finish();
    assert!(out.is_bot && !drop);
    assert_eq!(out.bot_score, 100);
    assert_eq!(out.bot_reasons, ["known_crawler"]);
    assert_eq!(out.device, "bot");
    bot.site_id = "strict".into();
    let (_, drop) = engine.enrich(bot, &mut tally).unwrap().finish();
    assert!(drop);
    // A weak signal alone is recorded but stays under the threshold.
    let mut odd = raw();
    odd.context.as_mut().unwrap().viewport_width = 4000;
    let (out, _) = engine.enrich(odd, &mut tally).unwrap().finish();
    assert!(!out.is_bot);
    assert_eq!(out.bot_reasons, ["viewport_exceeds_screen"]);
}

#[test]
fn properties_that_are_not_json_are_refused() {
    let (mut engine, _file) = engine("");
    let mut input = raw();
    input.props_json = "{broken".into();
    let error = engine.enrich(input, &mut Tally::default()).unwrap_err();
    assert_eq!(error.reason, DeadLetterReason::BadProperties);
}

#[test]
fn without_a_geo_database_places_are_empty() {
    let mut engine = Engine::new(Sites::default(), NonZeroUsize::new(8).unwrap(), None);
    let out = engine.enrich(raw(), &mut Tally::default()).unwrap().event;
    assert!(out.country.is_empty() && out.region.is_empty() && out.city.is_empty());
}
