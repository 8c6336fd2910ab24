//! Retention: periods, their statements and the job's schedule.

use super::*;

#[test]
fn every_site_is_covered_once_per_data_type() {
    let config = RetentionConfig {
        sites: BTreeMap::from([(
            "shop".to_owned(),
            Periods {
                profiles_months: 3,
                ..Periods::default()
            },
        )]),
        ..RetentionConfig::default()
    };
    let plans = plans(&config);
    assert_eq!(plans.len(), 8);
    let profiles: Vec<_> = plans
        .iter()
        .filter(|p| p.data_type == DataType::Profiles)
        .map(|p| (p.scope.clone(), p.length))
        .collect();
    assert_eq!(
        profiles,
        [
            (Err(vec!["shop".to_owned()]), 13),
            (Ok("shop".to_owned()), 3)
        ]
    );
}

#[test]
fn ttls_encode_the_defaults_and_the_site_overrides() {
    let plain = ttl_statements(&RetentionConfig::default());
    assert_eq!(
        plain,
        [
            "ALTER TABLE {db}.events MODIFY TTL addMonths(event_time, 13) WHERE (visitor_id != '' OR user_id != ''), addMonths(event_time, 25) WHERE visitor_id = '' AND user_id = ''",
            "ALTER TABLE {db}.profile_events MODIFY TTL addMonths(event_time, 13) WHERE 1",
            "ALTER TABLE {db}.dead_letters MODIFY TTL addDays(failed_at, 30) WHERE 1",
        ]
    );
    let config = RetentionConfig {
        sites: BTreeMap::from([(
            "o'brien".to_owned(),
            Periods {
                identified_events_months: 6,
                ..Periods::default()
            },
        )]),
        ..RetentionConfig::default()
    };
    let events = &ttl_statements(&config)[0];
    assert!(
        events.contains(r"addMonths(event_time, multiIf(site_id = 'o\'brien', 6, 13))"),
        "{events}"
    );
    assert!(events.contains("addMonths(event_time, 25) WHERE visitor_id = ''"));
}
