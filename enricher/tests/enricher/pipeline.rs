//! Raw in, enriched out, on the real broker: every derived field, poison
//! messages dead-lettered with their typed reason, original bytes and
//! headers, and dead letters replayed after a fix.

use fiducia_enricher::replay::{REPLAYED_FROM, ReplayOptions, replay};
use fiducia_enricher::sites::{Sites, UnknownSites};
use fiducia_proto::headers;
use fiducia_proto::v1::{DeadLetter, DeadLetterReason, IpPrefix};
use fiducia_runtime::kafka::routing::{header, routing_headers};
use fiducia_testkit::unique;
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};

use crate::helpers::{Running, Setup, raw_event};

#[tokio::test]
async fn raw_events_come_out_enriched_and_poison_as_typed_dead_letters() {
    let setup = Setup::new().await;
    let geo = fiducia_testkit::mmdb::write(&[["203.0.113.0/24", "IT", "62", "Rome"]]);
    let mut config = setup.config(&unique("enricher"));
    config.sites = Sites::parse(
        r#"
[sites.demo.collect]
allowed_origins = []
[sites.demo.enrich]
event_types = ["page_view", "click"]
[[sites.demo.enrich.categories]]
name = "product"
path_prefix = "/p/"
"#,
        "test",
    )
    .unwrap();
    config.sites.unknown_sites = UnknownSites::DeadLetter;
    config.geoip_dbs = vec![geo.path().to_owned()];
    let enricher = Running::start(config).await;
    let producer = setup.producer();

    let mut landing = raw_event("v1", 0);
    {
        let context = landing.context.as_mut().unwrap();
        context.url = "https://shop.example/p/42?utm_source=google&utm_medium=cpc&gclid=Cj0&email=ada%40example.com".into();
        context.referrer = "https://www.google.com/".into();
    }
    let mut click = raw_event("v1", 1);
    click.event_type = "click".into();
    setup.produce_raw(&producer, &landing).await;
    setup.produce_raw(&producer, &click).await;

    let site = |h: OwnedHeaders| {
        h.insert(Header {
            key: headers::SITE,
            value: Some("demo"),
        })
    };
    let mut bad_id = raw_event("v2", 2);
    bad_id.event_id = vec![1; 5];
    let mut not_allowed = raw_event("v2", 2);
    not_allowed.event_type = "download".into();
    let mut unknown_site = raw_event("v2", 2);
    unknown_site.site_id = "elsewhere".into();
    let poison: Vec<(Option<Vec<u8>>, OwnedHeaders, DeadLetterReason, &str)> = vec![
        (None, site(OwnedHeaders::new()), DeadLetterReason::Empty, ""),
        (
            Some(vec![0xff, 0xfe, 0xfd]),
            site(OwnedHeaders::new()),
            DeadLetterReason::Undecodable,
            "",
        ),
        (
            Some(bad_id.encode_to_vec()),
            routing_headers("demo", "page_view", headers::schema::RAW_EVENT),
            DeadLetterReason::BadEventId,
            "event_id",
        ),
        (
            Some(not_allowed.encode_to_vec()),
            routing_headers("demo", "download", headers::schema::RAW_EVENT),
            DeadLetterReason::EventTypeNotAllowed,
            "event_type",
        ),
        (
            Some(unknown_site.encode_to_vec()),
            routing_headers("elsewhere", "page_view", headers::schema::RAW_EVENT),
            DeadLetterReason::UnknownSite,
            "site_id",
        ),
        (
            Some(raw_event("v2", 2).encode_to_vec()),
            routing_headers("demo", "page_view", headers::schema::ENRICHED_EVENT),
            DeadLetterReason::WrongSchema,
            "",
        ),
    ];
    for (i, (payload, headers, ..)) in poison.iter().enumerate() {
        setup
            .produce(
                &producer,
                &format!("demo/poison{i}"),
                payload.as_deref(),
                headers.clone(),
            )
            .await;
    }

    let events = setup.enriched(2).await;
    let first = events
        .iter()
        .find(|e| e.event_id == landing.event_id)
        .unwrap();
    let second = events
        .iter()
        .find(|e| e.event_id == click.event_id)
        .unwrap();
    assert_eq!(
        first.url,
        "https://shop.example/p/42?utm_source=google&utm_medium=cpc"
    );
    assert_eq!(first.path, "/p/42");
    assert_eq!(
        (first.utm_source.as_str(), first.utm_medium.as_str()),
        ("google", "cpc")
    );
    assert_eq!(first.click_ids, ["gclid"]);
    assert_eq!(first.referrer_class, "paid");
    assert_eq!(
        (
            first.country.as_str(),
            first.region.as_str(),
            first.city.as_str()
        ),
        ("IT", "62", "Rome")
    );
    assert_eq!(
        (first.browser.as_str(), first.device.as_str()),
        ("Chrome", "desktop")
    );
    assert_eq!(first.page_categories, ["product"]);
    assert!(!first.is_bot);
    assert_eq!(
        first.session_id,
        uuid::Uuid::from_slice(&landing.event_id)
            .unwrap()
            .to_string()
    );
    assert_eq!((first.session_seq, second.session_seq), (1, 2));
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(
        (
            second.landing_page.as_str(),
            second.entry_referrer_class.as_str()
        ),
        ("/p/42", "paid")
    );

    let letters = setup
        .read(&setup.topics.deadletter, |m| m.len() >= poison.len())
        .await;
    for (i, (payload, _, reason, field)) in poison.iter().enumerate() {
        let key = format!("demo/poison{i}");
        let message = letters
            .iter()
            .find(|m| m.key() == Some(key.as_bytes()))
            .unwrap_or_else(|| panic!("no dead letter for {key}"));
        assert_eq!(
            header(message, headers::SCHEMA),
            Some(headers::schema::DEAD_LETTER.as_bytes())
        );
        let letter = DeadLetter::decode(message.payload().unwrap()).unwrap();
        assert_eq!(
            (letter.reason(), letter.field.as_str()),
            (*reason, *field),
            "{key}"
        );
        assert_eq!(letter.stage, "enricher");
        assert_eq!(letter.topic, setup.topics.raw);
        assert_eq!(
            letter.payload,
            payload.clone().unwrap_or_default(),
            "original bytes kept"
        );
        assert!(
            letter.headers.iter().any(|h| h.key == headers::SITE),
            "original headers kept"
        );
        assert!(letter.failed_at_ms > 0);
    }
    enricher.stop().await;
}

#[tokio::test]
async fn dead_letters_are_replayed_after_a_fix_and_a_dry_run_changes_nothing() {
    let setup = Setup::new().await;
    let group = unique("enricher");
    let strict = Sites::parse("[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\nevent_types = [\"page_view\"]\n", "strict").unwrap();
    let fixed = Sites::parse(
        "[sites.demo.collect]\nallowed_origins = []\n[sites.demo.enrich]\nevent_types = [\"page_view\", \"click\"]\n",
        "fixed",
    )
    .unwrap();
    let mut config = setup.config(&group);
    config.sites = strict;
    let enricher = Running::start(config.clone()).await;
    let producer = setup.producer();
    let view = raw_event("v1", 0);
    let mut click = raw_event("v1", 1);
    click.event_type = "click".into();
    click.ip = Some(IpPrefix::default());
    setup.produce_raw(&producer, &view).await;
    setup.produce_raw(&producer, &click).await;
    setup.enriched(1).await;
    setup
        .read(&setup.topics.deadletter, |m| !m.is_empty())
        .await;
    enricher.stop().await;

    // Nothing fixed yet: the letter would fail again, and is not re-fed.
    let report = replay(&config, &ReplayOptions::default()).await.unwrap();
    assert_eq!((report.scanned, report.matched, report.replayed), (1, 1, 0));
    assert_eq!(report.still_failing.get("event_type_not_allowed"), Some(&1));

    // Fixed, dry run: it would be re-fed, nothing is produced.
    config.sites = fixed;
    let dry = ReplayOptions {
        dry_run: true,
        ..ReplayOptions::default()
    };
    let report = replay(&config, &dry).await.unwrap();
    assert_eq!((report.matched, report.replayed), (1, 1));
    assert!(report.still_failing.is_empty() && report.dry_run);
    let filtered = ReplayOptions {
        dry_run: true,
        reasons: vec!["undecodable".into()],
        ..ReplayOptions::default()
    };
    assert_eq!(replay(&config, &filtered).await.unwrap().matched, 0);

    // The fixed enricher runs; the replay feeds the click to it.
    let enricher = Running::start(config.clone()).await;
    let report = replay(&config, &ReplayOptions::default()).await.unwrap();
    assert_eq!(report.replayed, 1);
    let events = setup.enriched(2).await;
    let replayed = events
        .iter()
        .find(|e| e.event_id == click.event_id)
        .unwrap();
    assert_eq!(replayed.event_type, "click");
    let first = events.iter().find(|e| e.event_id == view.event_id).unwrap();
    assert_eq!(
        (replayed.session_id.as_str(), replayed.session_seq),
        (first.session_id.as_str(), 2),
        "a replayed event joins its session"
    );
    assert_eq!(
        setup.count(&setup.topics.raw),
        3,
        "the dry runs produced nothing"
    );
    let raw = setup.read(&setup.topics.raw, |m| m.len() >= 3).await;
    let fed = raw
        .iter()
        .find(|m| {
            m.headers()
                .is_some_and(|h| h.iter().any(|h| h.key == REPLAYED_FROM))
        })
        .expect("the replayed message is marked");
    assert_eq!(fed.payload(), Some(click.encode_to_vec().as_slice()));
    assert_eq!(
        fed.key(),
        Some(&b"demo/v1"[..]),
        "the visitor's key is kept"
    );
    enricher.stop().await;
}
