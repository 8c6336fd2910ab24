//! Pure enrichment rules, one module per concern, composed by [`Engine`]:
//! raw event in, analysis-ready event out. No I/O here, so every rule is
//! tested table-driven beside its code. In order: [`validate`] (schema and
//! site rules), consent enforcement, [`url`] and [`scrub`] (URLs, title and
//! properties lose what is personal), [`referrer`] and campaign, [`ip`] and
//! [`geo`] (precision by consent), [`user_agent`] and [`bots`], [`time`],
//! [`category`]. Sessions ([`session`]) need per-visitor state and are
//! applied by the batch processor on top of the [`Draft`] made here.

pub mod bots;
pub mod category;
pub mod geo;
pub mod ip;
pub mod referrer;
pub mod scrub;
pub mod session;
pub mod time;
pub mod url;
pub mod user_agent;
pub mod validate;

use std::num::NonZeroUsize;

use fiducia_proto::consent::Purpose;
use fiducia_proto::v1::{DeadLetterReason, Decision, EnrichedEvent, RawEvent};

use self::bots::Signal;
use self::geo::{GeoDb, Place, Precision};
use self::user_agent::AgentCache;
use self::validate::Invalid;
use crate::sessions::store::Assigned;
use crate::sites::Sites;

/// Counts kept while enriching, reported once the batch is acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Geo lookups that failed on a corrupt record.
    pub geo_errors: u64,
    /// IP prefixes finer than /24 or /48, cut back.
    pub ip_coarsened: u64,
    /// Stripped events that still carried a visitor or user id, removed.
    pub identifiers_removed: u64,
}

/// An enriched event before its session and final bot verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The event, sessions fields empty.
    pub event: EnrichedEvent,
    /// Bot signals so far (user agent and context).
    pub signals: Vec<Signal>,
    /// Day of the event in the site's time zone.
    pub local_day: i64,
    /// The site's bot threshold.
    pub bot_threshold: u32,
    /// Whether the site drops bots.
    pub drop_bots: bool,
}

impl Draft {
    /// Whether the event is a page view (pace and geometry rules use it).
    #[must_use]
    pub fn is_page_view(&self) -> bool {
        self.event.event_type == "page_view"
    }

    /// Fills the session fields.
    pub fn set_session(&mut self, assigned: Assigned) {
        self.event.session_id = assigned.session_id;
        self.event.session_seq = assigned.seq;
        self.event.landing_page = assigned.landing_page;
        self.event.entry_referrer = assigned.entry_referrer;
        self.event.entry_referrer_class = assigned.entry_referrer_class;
    }

    /// Scores the signals; returns the event and whether the site wants it
    /// dropped as a bot.
    #[must_use]
    pub fn finish(mut self) -> (EnrichedEvent, bool) {
        let score = bots::score(&self.signals);
        self.event.bot_score = score;
        self.event.is_bot = score >= self.bot_threshold;
        self.event.bot_reasons = self.signals.iter().map(|s| s.as_str().to_owned()).collect();
        let drop = self.event.is_bot && self.drop_bots;
        (self.event, drop)
    }
}

/// The enrichment rules with their caches: one per consume loop.
pub struct Engine {
    sites: Sites,
    agents: AgentCache,
    geo: Option<GeoDb>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sites", &self.sites.len())
            .field("agents_cached", &self.agents.len())
            .field("geo", &self.geo)
            .finish()
    }
}

impl Engine {
    /// Rules for `sites`, a user-agent cache of `agent_cache_entries`, and
    /// geo from `geo` when a database is configured.
    #[must_use]
    pub fn new(sites: Sites, agent_cache_entries: NonZeroUsize, geo: Option<GeoDb>) -> Self {
        Self {
            sites,
            agents: AgentCache::new(agent_cache_entries),
            geo,
        }
    }

    /// The site rules.
    #[must_use]
    pub fn sites(&self) -> &Sites {
        &self.sites
    }

    /// Turns a validated raw event into a draft.
    ///
    /// # Errors
    /// When the properties are not a JSON object (`BAD_PROPERTIES`).
    pub fn enrich(&mut self, raw: RawEvent, tally: &mut Tally) -> Result<Draft, Invalid> {
        let Self { sites, agents, geo } = self;
        let site = sites.rules(&raw.site_id);
        let consent = raw.consent.unwrap_or_default();
        let context = raw.context.unwrap_or_default();
        let keep = raw.decision == i32::from(Decision::Keep);
        let (mut visitor_id, mut user_id) = (raw.visitor_id, raw.user_id);
        let identified = !visitor_id.is_empty() || !user_id.is_empty();
        if !keep && identified {
            // A stripped event has no identifiers: fail closed if one slipped through.
            visitor_id.clear();
            user_id.clear();
            tally.identifiers_removed += 1;
        }
        let props_json = match site.scrubber.props(&raw.props_json) {
            Ok(None) => raw.props_json,
            Ok(Some(clean)) => clean,
            Err(error) => {
                return Err(Invalid::new(
                    DeadLetterReason::BadProperties,
                    "props_json",
                    format!("not a JSON object: {error}"),
                ));
            }
        };
        let page = url::scrub(&context.url, &site.scrubber);
        let mut referrer = url::scrub(&context.referrer, &site.scrubber);
        let source = referrer::classify(
            referrer.host.as_deref(),
            page.host.as_deref(),
            &page.campaign.medium,
            page.paid_click,
            &site.internal_hosts,
        );
        let own = referrer::is_internal(
            referrer.host.as_deref(),
            page.host.as_deref(),
            &site.internal_hosts,
        );
        if !own {
            // Another site's parameters (search terms, its own ids) are none of ours.
            url::strip_query(&mut referrer.url);
        }
        let measurement = Purpose::Measurement.granted_by(&consent);
        let precision = if measurement && keep {
            site.geo_precision
        } else {
            site.anonymous_geo_precision
        };
        let network = raw.ip.as_ref().and_then(ip::network);
        if network.is_some_and(|n| n.coarsened) {
            tally.ip_coarsened += 1;
        }
        let place = match (geo.as_mut(), network) {
            (Some(db), Some(parsed)) if precision > Precision::None => db
                .locate(parsed.network, || tally.geo_errors += 1)
                .limited(precision),
            _ => Place::default(),
        };
        let anonymous;
        let agent = if raw.user_agent.is_empty() && !raw.device_class.is_empty() {
            anonymous = user_agent::from_class(&raw.device_class);
            &anonymous
        } else {
            agents.get(&raw.user_agent)
        };
        let mut signals = agent.signals.clone();
        let page_view = raw.event_type == "page_view";
        bots::context_signals(&context, page_view, &mut signals);
        let event_time_ms =
            time::corrected_event_time(raw.client_ts_ms, raw.sent_at_ms, raw.received_at_ms);
        let campaign = page.campaign;
        Ok(Draft {
            local_day: time::local_day(event_time_ms, &site.time_zone),
            bot_threshold: site.bot_threshold,
            drop_bots: site.drop_bots,
            signals,
            event: EnrichedEvent {
                event_id: raw.event_id,
                site_id: raw.site_id,
                event_type: raw.event_type,
                event_time_ms,
                received_at_ms: raw.received_at_ms,
                seq: raw.seq,
                visitor_id,
                session_id: String::new(),
                user_id,
                url: page.url,
                page_categories: site.categories.of(&page.path),
                path: page.path,
                referrer: referrer.url,
                referrer_class: source.class.as_str().to_owned(),
                search_engine: source.search_engine.to_owned(),
                social_network: source.social_network.to_owned(),
                utm_source: campaign.source,
                utm_medium: campaign.medium,
                utm_campaign: campaign.campaign,
                utm_term: campaign.term,
                utm_content: campaign.content,
                utm_id: campaign.id,
                utm_source_platform: campaign.source_platform,
                utm_creative_format: campaign.creative_format,
                utm_marketing_tactic: campaign.marketing_tactic,
                click_ids: page.click_ids.iter().map(|&c| c.to_owned()).collect(),
                country: place.country,
                region: place.region,
                city: place.city,
                browser: agent.browser.clone(),
                browser_version: agent.version.clone(),
                os: agent.os.clone(),
                device: agent.device.as_str().to_owned(),
                is_bot: false,
                bot_score: 0,
                bot_reasons: Vec::new(),
                consent_measurement: measurement,
                consent_personalization: Purpose::Personalization.granted_by(&consent),
                consent_functional: Purpose::Functional.granted_by(&consent),
                decision: raw.decision,
                props_json,
                title: site.scrubber.text(&context.title).into_owned(),
                lang: context.lang,
                session_seq: 0,
                landing_page: String::new(),
                entry_referrer: String::new(),
                entry_referrer_class: String::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use fiducia_proto::v1::{ConsentSnapshot, ConsentState, IpPrefix, PageContext};

    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

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
}
