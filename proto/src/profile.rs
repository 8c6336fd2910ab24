//! Visitor profiles (SPEC section 8): how one event moves a profile
//! ([`apply`]) and how a profile reads at a given moment ([`interests_at`],
//! [`recency_days`]). The enricher applies, the collector reads; both give
//! the numbers of the analysts' `profiles` view in ClickHouse, which sums
//! `weight × 2^(−age / 30 days)` per category at query time, with ages in
//! whole seconds (its `DateTime` columns) and the sum rounded to three
//! decimals.
//!
//! A profile keeps one decayed sum per category, all decayed to the same
//! moment (`scores_at_ms`, the latest event time applied): decaying that sum
//! to any later moment gives exactly the view's sum of decayed weights, so
//! the store needs one number per category, never the events.

use crate::time::DAY_MS;
use crate::v1::{Interest, Profile};

/// A signal loses half its weight every 30 days.
pub const HALF_LIFE_SECONDS: f64 = (30 * DAY_MS / 1000) as f64;
/// Categories kept per profile: past it, the weakest is dropped (only
/// visitors with more categories than this differ from the analysts' view,
/// in their weakest interests).
pub const MAX_INTERESTS: usize = 32;
/// Items remembered per profile, most recent first.
pub const MAX_RECENT_ITEMS: usize = 20;

/// The strength of an event of `event_type` as a signal of interest: a form
/// sent says most, a click or download more than a view.
#[must_use]
pub fn weight(event_type: &str) -> f64 {
    match event_type {
        "form_submit" => 3.0,
        "click" | "download" => 2.0,
        _ => 1.0,
    }
}

/// The factor a signal of `from_ms` is worth at `to_ms`: halved per 30 days
/// between the two, counted in whole seconds as ClickHouse does.
#[must_use]
pub fn decay(from_ms: i64, to_ms: i64) -> f64 {
    let seconds = to_ms.div_euclid(1000) - from_ms.div_euclid(1000);
    #[allow(clippy::cast_precision_loss)]
    (-(seconds as f64) / HALF_LIFE_SECONDS).exp2()
}

/// One event as it moves a profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signal<'a> {
    /// The event's type (its [`weight`]).
    pub event_type: &'a str,
    /// Skew-corrected event time, Unix ms.
    pub event_time_ms: i64,
    /// Collector receive time, Unix ms.
    pub received_at_ms: i64,
    /// The page's categories (none: counted in frequency and recency only).
    pub categories: &'a [String],
    /// The item the event is about, if any.
    pub item: &'a str,
    /// The event's `utm_campaign`.
    pub campaign: &'a str,
    /// The event's device class.
    pub device: &'a str,
    /// The event started a session.
    pub session_started: bool,
    /// Where the event was read from (raw topic).
    pub raw_partition: i32,
    /// Its offset there.
    pub raw_offset: i64,
}

/// Applies `signal` to `profile` (an empty profile for a visitor's first).
pub fn apply(profile: &mut Profile, signal: &Signal<'_>) {
    let t = signal.event_time_ms;
    if profile.events == 0 {
        profile.first_seen_ms = t;
        profile.last_seen_ms = t;
        profile.scores_at_ms = t;
        profile.begun_at_ms = signal.received_at_ms;
    }
    // Every score is kept decayed to the latest event time.
    if t > profile.scores_at_ms {
        let factor = decay(profile.scores_at_ms, t);
        for interest in &mut profile.interests {
            interest.score *= factor;
        }
        profile.scores_at_ms = t;
    }
    let added = weight(signal.event_type) * decay(t, profile.scores_at_ms);
    for category in signal.categories.iter().filter(|c| !c.is_empty()) {
        match profile
            .interests
            .iter_mut()
            .find(|i| &i.category == category)
        {
            Some(interest) => {
                interest.score += added;
                interest.last_seen_ms = interest.last_seen_ms.max(t);
            }
            None => profile.interests.push(Interest {
                category: category.clone(),
                score: added,
                last_seen_ms: t,
            }),
        }
    }
    if profile.interests.len() > MAX_INTERESTS {
        let weakest = profile
            .interests
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
            .map(|(i, _)| i);
        if let Some(i) = weakest {
            profile.interests.swap_remove(i);
        }
    }
    if !signal.item.is_empty() {
        profile.recent_items.retain(|i| i != signal.item);
        profile.recent_items.insert(0, signal.item.to_owned());
        profile.recent_items.truncate(MAX_RECENT_ITEMS);
    }
    profile.first_seen_ms = profile.first_seen_ms.min(t);
    profile.last_seen_ms = profile.last_seen_ms.max(t);
    profile.events = profile.events.saturating_add(1);
    profile.sessions = profile
        .sessions
        .saturating_add(u32::from(signal.session_started));
    if !signal.campaign.is_empty() {
        signal.campaign.clone_into(&mut profile.last_campaign);
    }
    if !signal.device.is_empty() {
        signal.device.clone_into(&mut profile.device);
    }
    profile.raw_partition = signal.raw_partition;
    profile.raw_offset = signal.raw_offset;
    profile.updated_at_ms = profile.updated_at_ms.max(signal.received_at_ms);
}

/// The interests as the analysts' view ranks them at `now_ms`: each score
/// decayed to then and rounded to three decimals, strongest first (ties by
/// name).
#[must_use]
pub fn interests_at(profile: &Profile, now_ms: i64) -> Vec<(&str, f64)> {
    let factor = decay(profile.scores_at_ms, now_ms);
    let mut ranked: Vec<(&str, f64)> = profile
        .interests
        .iter()
        .map(|i| (i.category.as_str(), round3(i.score * factor)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
}

/// Whole UTC days from the latest event to `now_ms` (the view's
/// `recency_days`: day boundaries crossed, 0 on the same day).
#[must_use]
pub fn recency_days(profile: &Profile, now_ms: i64) -> u32 {
    let days = now_ms.div_euclid(DAY_MS) - profile.last_seen_ms.div_euclid(DAY_MS);
    u32::try_from(days.max(0)).unwrap_or(u32::MAX)
}

/// ClickHouse's `round(x, 3)` for the magnitudes of scores.
#[must_use]
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_000_000_000;

    fn signal<'a>(event_type: &'a str, at: i64, categories: &'a [String]) -> Signal<'a> {
        Signal {
            event_type,
            event_time_ms: at,
            received_at_ms: at + 5,
            categories,
            ..Signal::default()
        }
    }

    /// The view's formula, written out per event: the oracle.
    fn view_score(events: &[(&str, i64)], now_ms: i64) -> f64 {
        let sum: f64 = events
            .iter()
            .map(|(kind, at)| {
                let age = (now_ms / 1000 - at / 1000) as f64;
                weight(kind) * (-age / 86_400.0 / 30.0 * std::f64::consts::LN_2).exp()
            })
            .sum();
        round3(sum)
    }

    #[test]
    fn scores_are_the_views_sum_of_decayed_weights_in_any_arrival_order() {
        let shoes = vec!["shoes".to_owned()];
        let events = [
            ("page_view", T0),
            ("click", T0 + 3 * DAY_MS + 1_234),
            ("form_submit", T0 + 40 * DAY_MS),
            // Late: an event older than the latest applied.
            ("page_view", T0 - 10 * DAY_MS + 999),
        ];
        let mut profile = Profile::default();
        for (kind, at) in events {
            apply(&mut profile, &signal(kind, at, &shoes));
        }
        for now in [
            T0 + 40 * DAY_MS,
            T0 + 100 * DAY_MS + 17_500,
            T0 + 400 * DAY_MS,
        ] {
            let served = interests_at(&profile, now);
            assert_eq!(served.len(), 1);
            assert!(
                (served[0].1 - view_score(&events, now)).abs() < 1e-9,
                "{served:?} at {now}"
            );
        }
        assert_eq!(
            (profile.first_seen_ms, profile.last_seen_ms),
            (T0 - 10 * DAY_MS + 999, T0 + 40 * DAY_MS)
        );
        assert_eq!(profile.events, 4);
    }

    #[test]
    fn a_score_halves_every_thirty_days() {
        let c = vec!["c".to_owned()];
        let mut profile = Profile::default();
        apply(&mut profile, &signal("page_view", T0, &c));
        assert_eq!(interests_at(&profile, T0)[0].1, 1.0);
        assert_eq!(interests_at(&profile, T0 + 30 * DAY_MS)[0].1, 0.5);
        assert_eq!(interests_at(&profile, T0 + 60 * DAY_MS)[0].1, 0.25);
    }

    #[test]
    fn interests_rank_strongest_first_and_uncategorised_pages_count_only_as_activity() {
        let (a, b) = (vec!["a".to_owned()], vec!["b".to_owned(), "a".to_owned()]);
        let mut profile = Profile::default();
        apply(&mut profile, &signal("page_view", T0, &a));
        apply(&mut profile, &signal("click", T0 + 1000, &b));
        apply(&mut profile, &signal("page_view", T0 + 2000, &[]));
        let names: Vec<&str> = interests_at(&profile, T0 + 2000)
            .iter()
            .map(|i| i.0)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(profile.events, 3);
        assert_eq!(profile.last_seen_ms, T0 + 2000);
    }

    #[test]
    fn recent_items_are_distinct_newest_first_and_bounded() {
        let mut profile = Profile::default();
        for (n, item) in (0..).zip(["x", "y", "x"]) {
            let s = Signal {
                item,
                ..signal("page_view", T0 + n, &[])
            };
            apply(&mut profile, &s);
        }
        assert_eq!(profile.recent_items, ["x", "y"]);
        for n in 0..50 {
            let item = format!("i{n}");
            apply(
                &mut profile,
                &Signal {
                    item: &item,
                    ..signal("page_view", T0 + 100 + n, &[])
                },
            );
        }
        assert_eq!(profile.recent_items.len(), MAX_RECENT_ITEMS);
        assert_eq!(profile.recent_items[0], "i49");
    }

    #[test]
    fn past_the_limit_the_weakest_interest_goes() {
        let mut profile = Profile::default();
        for n in 0..=i64::try_from(MAX_INTERESTS).unwrap() {
            let c = vec![format!("c{n}")];
            // Later categories are fresher, so stronger.
            apply(&mut profile, &signal("page_view", T0 + n * DAY_MS, &c));
        }
        assert_eq!(profile.interests.len(), MAX_INTERESTS);
        assert!(profile.interests.iter().all(|i| i.category != "c0"));
    }

    #[test]
    fn recency_counts_utc_day_boundaries() {
        let profile = Profile {
            last_seen_ms: T0 - T0.rem_euclid(DAY_MS) + DAY_MS - 1,
            ..Profile::default()
        };
        let midnight = profile.last_seen_ms + 1;
        assert_eq!(recency_days(&profile, midnight - 1), 0);
        assert_eq!(recency_days(&profile, midnight), 1);
        assert_eq!(recency_days(&profile, midnight + 9 * DAY_MS), 10);
    }
}
