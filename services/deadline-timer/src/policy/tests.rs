use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::calendar::tests::tehran;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn stage(budget: &str, level_2: Option<&str>, level_3: Option<&str>) -> StagePolicy {
    StagePolicy {
        stage: Stage::Respond.as_str().into(),
        budget: budget.into(),
        reminders: None,
        level_2_after: level_2.map(Into::into),
        level_3_after: level_3.map(Into::into),
    }
}

fn policy(value: serde_json::Value) -> Result<SlaPolicy, Vec<String>> {
    let document: PolicyDocument = serde_json::from_value(value).unwrap();
    SlaPolicy::from_document(document).map_err(|issues| issues.into_iter().map(|i| i.field).collect())
}

fn local(calendar: &Calendar, steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|step| match step {
            Step::Reminder { fraction, at } => format!("reminder {fraction} {}", calendar.local_rfc3339(*at)),
            Step::Warning { level, at } => format!("level {level} {}", calendar.local_rfc3339(*at)),
        })
        .collect()
}

#[test]
fn a_plain_ladder_runs_round_the_clock() {
    let start = at("2026-11-27T23:00:00Z");
    let (due, steps) = ladder(&stage("PT100S", Some("PT60S"), Some("PT60S")), None, start, &[]).unwrap();
    assert_eq!(due, at("2026-11-27T23:01:40Z"));
    assert_eq!(
        steps,
        vec![
            Step::Reminder { fraction: 0.5, at: at("2026-11-27T23:00:50Z") },
            Step::Reminder { fraction: 0.8, at: at("2026-11-27T23:01:20Z") },
            Step::Warning { level: 1, at: due },
            Step::Warning { level: 2, at: at("2026-11-27T23:02:40Z") },
            Step::Warning { level: 3, at: at("2026-11-27T23:03:40Z") },
        ]
    );
}

/// Worked by hand: Saturday 1405-09-08 (2026-11-28) from 07:30, windows 07:30–14:30 (7 h a day),
/// Thursday and Friday off; Tuesday 1405-09-10 closed in Tehran for air pollution.
#[test]
fn a_business_ladder_counts_working_time_and_skips_a_provincial_closure() {
    let calendar = tehran();
    let start = at("2026-11-28T07:30:00+03:30");
    let stage = stage("8h", Some("1d"), Some("1d"));
    let (due, steps) = ladder(&stage, Some(&calendar), start, &["tehran".to_string()]).unwrap();
    assert_eq!(calendar.local_rfc3339(due), "2026-11-29T08:30:00+03:30", "7 h on Saturday, 1 h on Sunday");
    assert_eq!(
        local(&calendar, &steps),
        [
            "reminder 0.5 2026-11-28T11:30:00+03:30",
            "reminder 0.8 2026-11-28T13:54:00+03:30",
            "level 1 2026-11-29T08:30:00+03:30",
            "level 2 2026-11-30T14:30:00+03:30",
            "level 3 2026-12-02T14:30:00+03:30",
        ]
    );
    // Elsewhere Tuesday is a working day, so level 3 comes a day earlier.
    let (_, steps) = ladder(&stage, Some(&calendar), start, &["fars".to_string()]).unwrap();
    assert_eq!(local(&calendar, &steps)[4], "level 3 2026-12-01T14:30:00+03:30");
}

#[test]
fn reminders_of_a_day_budget_skip_the_night() {
    let calendar = tehran();
    // 3d from Saturday 10:00 is due Tuesday 14:30: 4.5 h + 3 × 7 h = 25.5 h of working time;
    // half of it (12.75 h) is Saturday 4.5 h + Sunday 7 h + Monday 1.25 h.
    let stage = StagePolicy { reminders: Some(vec![0.5]), ..stage("3d", None, None) };
    let (due, steps) = ladder(&stage, Some(&calendar), at("2026-11-28T10:00:00+03:30"), &["fars".to_string()]).unwrap();
    assert_eq!(calendar.local_rfc3339(due), "2026-12-01T14:30:00+03:30");
    assert_eq!(
        local(&calendar, &steps),
        ["reminder 0.5 2026-11-30T08:45:00+03:30", "level 1 2026-12-01T14:30:00+03:30"]
    );
}

#[test]
fn a_business_budget_without_a_calendar_cannot_be_laddered() {
    let error = ladder(&stage("8h", None, None), None, at("2026-11-28T10:00:00Z"), &[]).unwrap_err();
    assert_eq!(error, LadderError::NoCalendar("8h".into()));
}

#[test]
fn no_reminders_when_the_policy_says_so() {
    let stage = StagePolicy { reminders: Some(vec![]), ..stage("PT10S", None, None) };
    let (_, steps) = ladder(&stage, None, at("2026-11-28T10:00:00Z"), &[]).unwrap();
    assert_eq!(steps, vec![Step::Warning { level: 1, at: at("2026-11-28T10:00:10Z") }]);
}

#[test]
fn invalid_policies_name_every_bad_field() {
    let fields = policy(json!({
        "id": "Bad Id", "category": "no spaces allowed", "priority": "asap", "channel": "fax",
        "stages": [
            {"stage": "triage", "budget": "3 days"},
            {"stage": "respond", "budget": "8h", "reminders": [0.8, 0.5], "level_3_after": "P1D"},
            {"stage": "respond", "budget": "PT1H", "reminders": [1.5]}
        ]
    }))
    .unwrap_err();
    assert_eq!(
        fields,
        [
            "id",
            "category",
            "priority",
            "channel",
            "stages[0].stage",
            "stages[0].budget",
            "stages[1].budget",
            "stages[1].level_3_after",
            "stages[1].reminders",
            "stages[2].stage",
            "stages[2].reminders",
        ]
    );
    assert_eq!(policy(json!({"id": "empty", "stages": []})).unwrap_err(), ["stages"]);
}

#[test]
fn the_most_specific_policy_wins() {
    let make = |id: &str, category: &str, priority: &str, channel: &str| {
        policy(json!({"id": id, "category": category, "priority": priority, "channel": channel,
                      "stages": [{"stage": "respond", "budget": "P3D"}]}))
        .unwrap()
    };
    let policies = [
        make("default", "*", "*", "*"),
        make("urgent", "*", "urgent", "*"),
        make("pharmacy", "health.pharmacy", "*", "*"),
        make("pharmacy-by-phone", "health.pharmacy", "*", "call_center"),
    ];
    let chosen = |category, priority, channel| choose(&policies, category, priority, channel).map(SlaPolicy::id);
    assert_eq!(chosen("roads", "normal", Some("web")), Some("default"));
    assert_eq!(chosen("roads", "urgent", Some("web")), Some("urgent"));
    assert_eq!(chosen("health.pharmacy", "urgent", Some("web")), Some("pharmacy"), "category weighs most");
    assert_eq!(chosen("health.pharmacy", "normal", Some("call_center")), Some("pharmacy-by-phone"));
    assert_eq!(chosen("health.pharmacy", "normal", None), Some("pharmacy"), "no channel: only `*` fits");
    assert_eq!(choose(&policies[1..2], "roads", "normal", None).map(SlaPolicy::id), None);
}

proptest! {
    #[test]
    fn steps_are_in_time_order_and_reminders_fall_in_working_time(
        start in 1_764_000_000i64..1_800_000_000, hours in 1u32..60, level_2 in 1u32..10
    ) {
        let calendar = tehran();
        let start = DateTime::from_timestamp(start, 0).unwrap();
        let level_2 = format!("{level_2}h");
        let stage = stage(&format!("{hours}h"), Some(&level_2), None);
        let (due, steps) = ladder(&stage, Some(&calendar), start, &["tehran".to_string()]).unwrap();
        prop_assert!(steps.windows(2).all(|pair| pair[0].at() < pair[1].at()), "{steps:?}");
        prop_assert_eq!(steps.iter().filter(|s| matches!(s, Step::Warning { .. })).count(), 2);
        for step in &steps {
            if let Step::Reminder { at, .. } = step {
                prop_assert!(*at > start && *at < due);
                let inside = calendar
                    .windows_of(calendar.local_date(*at), &["tehran".to_string()])
                    .iter()
                    .any(|(open, close)| open <= at && at <= close);
                prop_assert!(inside, "reminder at {at} is outside working time");
            }
        }
    }
}
