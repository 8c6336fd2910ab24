//! From a validated envelope to the messages to publish. The consent
//! signals are resolved once per envelope ([`gate`]); then every event is
//! decided (KEEP, STRIP, DROP). Kept and stripped events become
//! `fiducia.v1.RawEvent`s without the fields their grants do not cover, with
//! the truncated client network and the resolved consent state (URL
//! fragments never leave: they carry tokens); `consent` events become
//! consent records; drops are tallied by reason.

pub(crate) mod strip;
#[cfg(test)]
mod tests;

use crate::consent::{DropReason, Field, FieldSet, Source, Verdict, decide};
use fiducia_proto::consent::{EventType, Purpose};
use fiducia_proto::keys::partition_key;
use fiducia_proto::v1::{ConsentRecord, ConsentSnapshot, IpPrefix, PageContext, RawEvent};

use crate::consent::ledger::Ledger;
use crate::consent::policy::Policy;
use crate::consent::record::{self, Origin};
use crate::consent::resolve::{HeaderSignals, Resolution, resolve};
use crate::envelope::{Checked, Consent, Context, Envelope};

/// What the gate made of one envelope.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Events to publish, with their partition keys.
    pub events: Vec<(String, RawEvent)>,
    /// Consent records to publish, with their partition keys.
    pub records: Vec<(String, ConsentRecord)>,
    /// Events kept whole (but for fields their grants do not cover).
    pub kept: usize,
    /// Events kept as anonymous measurement.
    pub stripped: usize,
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
    /// `Sec-GPC` and `DNT`.
    pub signals: HeaderSignals,
}

/// Resolves the envelope's consent signals against the ledger (no side
/// effects); `None`: as if the ledger held nothing about the visitor.
#[must_use]
pub fn gate(
    envelope: &Envelope,
    checked: &[Checked],
    meta: &RequestMeta,
    policy: &Policy,
    ledger: Option<&Ledger>,
) -> Resolution {
    let subject = envelope.visitor.id.as_deref().unwrap_or_default();
    let has_consent_event = checked.iter().any(|c| c.kind == EventType::Consent);
    let mut entry = ledger.and_then(|l| l.get(&envelope.site, subject));
    // An erased user stays erased under any visitor id, new ones too.
    if let Some(ledger) = ledger
        && let Some(user_id) = envelope.visitor.user_id.as_deref()
        && ledger.user_erased(&envelope.site, user_id)
    {
        entry = Some(entry.unwrap_or_default().with_user_erased());
    }
    resolve(
        policy,
        &envelope.consent,
        meta.signals,
        entry,
        has_consent_event,
        meta.received_at_ms,
    )
}

/// Decides every event of `envelope` under `resolution`.
#[must_use]
pub fn accept(
    envelope: Envelope,
    checked: &[Checked],
    meta: &RequestMeta,
    policy: &Policy,
    resolution: &Resolution,
) -> Accepted {
    let mut accepted = Accepted::default();
    let Envelope {
        site,
        sent_at,
        consent: signals,
        visitor,
        context: page,
        events,
    } = envelope;
    let issued = visitor.issued;
    let subject = visitor.id.unwrap_or_default();
    let user_id = visitor.user_id.unwrap_or_default();
    let origin = Origin {
        site: &site,
        subject: &subject,
        ip: meta.ip.as_ref(),
        sent_at_ms: sent_at,
        now_ms: meta.received_at_ms,
    };
    let consent = snapshot(resolution, &signals);
    // The visitor's retention choice goes with their identified events.
    let retention_months = resolution.ledger.map_or(0, |e| e.retention_months);
    // Since when the ledger has personalization on: a profile the enricher
    // began before it (a withdrawal and a new grant since) starts again.
    let personalization_since_ms = resolution
        .ledger
        .and_then(|e| e.granted_since(Purpose::Personalization))
        .unwrap_or(0);
    let mut contexts = ContextCache::default();
    let mut context_slots = Vec::with_capacity(events.len());
    // Parsed once per envelope, and only when an event is stripped.
    let mut device_class = None;
    for (event, check) in events.into_iter().zip(checked) {
        if check.kind == EventType::Consent {
            let record = record::for_consent_event(
                &check.id, event.ts, &signals, resolution, policy, &origin,
            );
            if let Some(record) = record {
                let key = partition_key(&site, &subject, &event.id);
                accepted.records.push((key, record));
            }
            continue;
        }
        let verdict = decide(&policy.rules, check.kind, &resolution.grants);
        let Some(decision) = verdict.decision() else {
            if let Verdict::Drop(reason) = verdict {
                tally(&mut accepted.dropped, reason);
            }
            continue;
        };
        if verdict == Verdict::Strip {
            accepted.stripped += 1;
        } else {
            accepted.kept += 1;
        }
        let removed = verdict.removed_fields();
        let strip = verdict == Verdict::Strip;
        let visitor_id = keep_unless(removed, Field::VisitorId, &subject);
        let key = partition_key(&site, visitor_id, &event.id);
        context_slots.push(contexts.slot(&page, removed, strip));
        accepted.events.push((
            key,
            RawEvent {
                event_id: check.id.to_vec(),
                site_id: site.clone(),
                event_type: check.kind.as_str().to_owned(),
                client_ts_ms: event.ts,
                sent_at_ms: sent_at,
                received_at_ms: meta.received_at_ms,
                seq: event.seq,
                props_json: if strip {
                    event.props_json_where(|key| policy.anonymous_props.contains(key))
                } else if removed.contains(Field::Props) {
                    "{}".to_owned()
                } else {
                    event.props_json()
                },
                // Set once every event is decided: moved into the last
                // event that uses them, cloned for the others.
                consent: None,
                context: None,
                visitor_id: visitor_id.to_owned(),
                user_id: keep_unless(removed, Field::UserId, &user_id).to_owned(),
                ip: meta.ip.clone(),
                user_agent: if strip {
                    String::new()
                } else {
                    meta.user_agent.clone()
                },
                decision: decision.into(),
                personalization_since_ms,
                device_class: if strip {
                    (*device_class.get_or_insert_with(|| strip::device_class(&meta.user_agent)))
                        .to_owned()
                } else {
                    String::new()
                },
                retention_months: if visitor_id.is_empty() {
                    0
                } else {
                    retention_months
                },
            },
        ));
    }
    contexts.hand_out(&mut accepted.events, &context_slots, consent);
    let has_consent_event = checked.iter().any(|c| c.kind == EventType::Consent);
    if !has_consent_event
        && let Some(record) = record::derived(&signals, resolution, policy, &origin)
    {
        let key = partition_key(&site, &subject, &sent_at.to_string());
        accepted.records.push((key, record));
    }
    // A minted id's history starts with the choice it was issued under.
    if issued && !accepted.records.iter().any(|(_, r)| r.subject == subject) {
        let record = record::for_issued_visitor(&signals, resolution, policy, &origin);
        let key = partition_key(&site, &subject, "");
        accepted.records.push((key, record));
    }
    if !accepted.records.is_empty() {
        let browser = browser_family(&meta.user_agent);
        for (_, record) in &mut accepted.records {
            record.browser_family.clone_from(&browser);
        }
    }
    accepted
}

fn keep_unless(removed: FieldSet, field: Field, value: &str) -> &str {
    if removed.contains(field) { "" } else { value }
}

fn tally(dropped: &mut Vec<(DropReason, usize)>, reason: DropReason) {
    match dropped.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, count)) => *count += 1,
        None => dropped.push((reason, 1)),
    }
}

/// The browser's name for consent records (never the user agent itself).
pub fn browser_family(user_agent: &str) -> String {
    woothee::parser::Parser::new()
        .parse(user_agent)
        .map(|r| r.name.to_owned())
        .filter(|name| name != "UNKNOWN")
        .unwrap_or_default()
}

/// The resolved state events carry downstream: what was actually allowed.
fn snapshot(resolution: &Resolution, signals: &Consent) -> ConsentSnapshot {
    let grants = &resolution.grants;
    let mut snapshot = ConsentSnapshot {
        source: match grants.get(Purpose::Measurement).source {
            Source::None => String::new(),
            source => source.as_str().to_owned(),
        },
        notice_version: signals.notice_version.clone(),
        gpc: resolution.gpc,
        dnt: resolution.dnt,
        updated_at_ms: resolution.choice_ts_ms,
        ..ConsentSnapshot::default()
    };
    for purpose in Purpose::CONSENTABLE {
        purpose.set_in(&mut snapshot, grants.get(purpose).is_granted());
    }
    snapshot
}

/// The page context per distinct set of removed fields (at most one kept
/// and one stripped variant per envelope in practice), built once and
/// handed to the events that use it.
#[derive(Default)]
struct ContextCache(Vec<(FieldSet, bool, PageContext)>);

impl ContextCache {
    /// The context for `removed` and `strip`, built on first use: its slot.
    fn slot(&mut self, page: &Context, removed: FieldSet, strip: bool) -> usize {
        if let Some(slot) = self
            .0
            .iter()
            .position(|(r, s, _)| *r == removed && *s == strip)
        {
            return slot;
        }
        self.0.push((removed, strip, context(page, removed, strip)));
        self.0.len() - 1
    }

    /// Gives each event its context (`slots`, in event order) and the
    /// consent snapshot, moving each into the last event that uses it and
    /// cloning it for the others: a single-event request copies nothing.
    fn hand_out(
        mut self,
        events: &mut [(String, RawEvent)],
        slots: &[usize],
        consent: ConsentSnapshot,
    ) {
        let mut uses = vec![0_usize; self.0.len()];
        for &slot in slots {
            uses[slot] += 1;
        }
        let mut consent = Some(consent);
        let last = events.len().saturating_sub(1);
        for (index, ((_, event), &slot)) in events.iter_mut().zip(slots).enumerate() {
            uses[slot] -= 1;
            event.context = Some(if uses[slot] == 0 {
                std::mem::take(&mut self.0[slot].2)
            } else {
                self.0[slot].2.clone()
            });
            event.consent = if index == last {
                consent.take()
            } else {
                consent.clone()
            };
        }
    }
}

fn context(c: &Context, removed: FieldSet, strip: bool) -> PageContext {
    let keep = |field: Field, value: &str| keep_unless(removed, field, value).to_owned();
    let [screen_width, screen_height] = if removed.contains(Field::Device) {
        [0, 0]
    } else {
        c.screen.unwrap_or_default()
    };
    let [viewport_width, viewport_height] = if removed.contains(Field::Device) {
        [0, 0]
    } else {
        c.viewport.unwrap_or_default()
    };
    let (url, referrer) = if strip {
        (
            strip::coarse_url(&c.url),
            strip::origin_only(&keep(Field::Referrer, &c.referrer)),
        )
    } else {
        (
            strip::without_fragment(&c.url).to_owned(),
            strip::without_fragment(&keep(Field::Referrer, &c.referrer)).to_owned(),
        )
    };
    PageContext {
        url,
        referrer,
        title: keep(Field::Title, &c.title),
        lang: keep(Field::Locale, &c.lang),
        tz: keep(Field::Locale, &c.tz),
        screen_width,
        screen_height,
        viewport_width,
        viewport_height,
    }
}
