//! Pure enrichment rules, one module per concern, composed by [`Engine`]:
//! raw event in, analysis-ready event out. No I/O here, so every rule is
//! tested table-driven beside its code. In order: [`validate`] (schema and
//! site rules), consent enforcement, [`url`] and [`scrub`] (URLs, title and
//! properties lose what is personal), [`referrer`] and campaign, [`ip`] and
//! [`geo`] (precision by consent), [`user_agent`] and [`bots`], [`time`],
//! [`category`](fiducia_runtime::service::sites::category). Sessions ([`session`]) need per-visitor state and are
//! applied by the batch processor on top of the [`Draft`] made here.

pub mod bots;
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
        // The visitor's shorter retention binds their identified data only.
        let retention_months = if visitor_id.is_empty() && user_id.is_empty() {
            0
        } else {
            raw.retention_months
        };
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
                item_id: site
                    .items
                    .of(&page.path, &item_property(&props_json))
                    .to_owned(),
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
                retention_months,
            },
        })
    }
}

#[cfg(test)]
mod tests;

/// The `item_id` property of scrubbed properties, if it is a string or a
/// number (an object or list is no id).
fn item_property(props_json: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Props {
        #[serde(default)]
        item_id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Props>(props_json)
        .ok()
        .and_then(|p| p.item_id)
    {
        Some(serde_json::Value::String(id)) => id,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}
