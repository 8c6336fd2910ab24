//! Retention the visitor chose (the privacy center offers a shorter period
//! for their identified data than the site's, `RETENTION_CHOICES_MONTHS`).
//! The choice travels on consent records (`consent_log.retention_months`,
//! 0 = the site's default) and the subject's latest record is the choice
//! that holds, applied to everything kept about them, older events too:
//! each run deletes the visitor's identified `events` and their
//! `profile_events` older than
//! `fiducia_proto::privacy::effective_retention_months(chosen, site)`.
//!
//! Only by this job, on every server, not by TTL: a row TTL would have to
//! use the choice each event carried (`events.retention_months`), not the
//! latest one, so it would neither apply a new choice to older events nor
//! stop applying one the visitor has since taken back.

use std::collections::BTreeMap;

use fiducia_proto::privacy::effective_retention_months;

use super::{DataType, RetentionConfig};
use crate::jobs::quote;

/// The subjects' latest retention choices, `(site, visitor, months)`, for
/// those whose latest consent record chose one (pseudonymised subjects
/// are left out: their rows are gone).
pub const LATEST_CHOICES: &str = "\
SELECT site_id, subject, chosen FROM (
    SELECT site_id, subject,
           argMax(retention_months, toUInt64(server_time) * 1000 + server_ms) AS chosen
    FROM {db}.consent_log
    WHERE subject != '' AND NOT startsWith(subject, 'erased:')
    GROUP BY site_id, subject
) WHERE chosen > 0";

/// One deletion of chosen retention: the visitors of a site whose choice
/// makes their identified data expire after `months`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoicePlan {
    /// What is deleted: identified events, or profile signals.
    pub data_type: DataType,
    /// The site.
    pub site: String,
    /// The period that applies to these visitors.
    pub months: u32,
    /// The visitors, sorted.
    pub visitors: Vec<String>,
}

/// What a run deletes for `choices` (as [`LATEST_CHOICES`] returns them):
/// visitors grouped by site and effective period, only where the choice is
/// shorter than what the site's own plan already deletes.
#[must_use]
pub fn choice_plans(config: &RetentionConfig, choices: &[(String, String, u8)]) -> Vec<ChoicePlan> {
    let mut groups: BTreeMap<(DataType, String, u32), Vec<String>> = BTreeMap::new();
    for (site, visitor, chosen) in choices {
        let periods = config.sites.get(site).unwrap_or(&config.defaults);
        let identified = effective_retention_months(
            u32::from(*chosen),
            periods.length(DataType::IdentifiedEvents),
        );
        for data_type in [DataType::IdentifiedEvents, DataType::Profiles] {
            let site_months = periods.length(data_type);
            let months = identified.min(site_months);
            if months < site_months {
                groups
                    .entry((data_type, site.clone(), months))
                    .or_default()
                    .push(visitor.clone());
            }
        }
    }
    groups
        .into_iter()
        .map(|((data_type, site, months), mut visitors)| {
            visitors.sort();
            ChoicePlan {
                data_type,
                site,
                months,
                visitors,
            }
        })
        .collect()
}

impl ChoicePlan {
    /// The rows of the plan that expired by `now` (Unix seconds).
    #[must_use]
    pub fn predicate(&self, now: u32) -> String {
        let visitors: Vec<String> = self.visitors.iter().map(|v| quote(v)).collect();
        format!(
            "site_id = {} AND {} AND has([{}], visitor_id) AND event_time < subtractMonths(toDateTime({now}, 'UTC'), {})",
            quote(&self.site),
            self.data_type.predicate(),
            visitors.join(", "),
            self.months
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::retention::Periods;

    /// The rule, from its statement: a visitor's identified data is kept
    /// for the months they chose, never longer than the site keeps it; no
    /// choice (0) keeps the site's period. Profile signals never outlive
    /// identified data. Returns whether data of `age` months is gone.
    fn oracle(
        age: u32,
        chosen: u8,
        site_identified: u32,
        site_profiles: u32,
        profiles: bool,
    ) -> bool {
        let mut kept = site_identified;
        if chosen != 0 && u32::from(chosen) < kept {
            kept = u32::from(chosen);
        }
        if profiles && site_profiles < kept {
            kept = site_profiles;
        }
        age > kept
    }

    /// Whether data of `age` months is gone under the site's own plan plus `plans`.
    fn deleted(
        plans: &[ChoicePlan],
        visitor: &str,
        site: &str,
        age: u32,
        site_months: u32,
        data_type: DataType,
    ) -> bool {
        age > site_months
            || plans.iter().any(|p| {
                p.data_type == data_type
                    && p.site == site
                    && p.visitors.iter().any(|v| v == visitor)
                    && age > p.months
            })
    }

    #[test]
    fn a_choice_shortens_retention_of_that_visitor_only_and_never_lengthens_it() {
        let config = RetentionConfig {
            sites: BTreeMap::from([(
                "short".to_owned(),
                Periods {
                    identified_events_months: 4,
                    profiles_months: 2,
                    ..Periods::default()
                },
            )]),
            ..RetentionConfig::default()
        };
        let mut choices = Vec::new();
        for site in ["shop", "short"] {
            for chosen in [0u8, 1, 3, 6, 13, 25] {
                choices.push((site.to_owned(), format!("v{chosen}"), chosen));
            }
        }
        // LATEST_CHOICES leaves out 0, which must not matter.
        let given: Vec<_> = choices.iter().filter(|c| c.2 > 0).cloned().collect();
        let plans = choice_plans(&config, &given);
        for (site, visitor, chosen) in &choices {
            let periods = config.sites.get(site).unwrap_or(&config.defaults);
            for age in 0..30 {
                for (data_type, profiles) in [
                    (DataType::IdentifiedEvents, false),
                    (DataType::Profiles, true),
                ] {
                    let site_months = periods.length(data_type);
                    assert_eq!(
                        deleted(&plans, visitor, site, age, site_months, data_type),
                        oracle(
                            age,
                            *chosen,
                            periods.identified_events_months,
                            periods.profiles_months,
                            profiles
                        ),
                        "{site} {visitor} chose {chosen}, {data_type:?} {age} months old"
                    );
                }
            }
        }
        assert!(
            plans.iter().all(|p| p.visitors.iter().all(|v| v != "v0")),
            "no choice, no plan"
        );
    }

    #[test]
    fn the_cut_off_counts_months_back_from_now_for_identified_rows_of_the_visitors() {
        let plan = ChoicePlan {
            data_type: DataType::IdentifiedEvents,
            site: "shop".into(),
            months: 1,
            visitors: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            plan.predicate(1_000),
            "site_id = 'shop' AND (visitor_id != '' OR user_id != '') AND has(['a', 'b'], visitor_id) \
             AND event_time < subtractMonths(toDateTime(1000, 'UTC'), 1)"
        );
    }
}
