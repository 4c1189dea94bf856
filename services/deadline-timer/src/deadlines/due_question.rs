//! "When is this due?" as people ask it — by REST or from the command line: a start instant, a
//! budget and perhaps where the message is (a province, or an area at any level), each checked
//! and, when wrong, named with what is accepted.

use chrono::{DateTime, Utc};
use nazer_shared::http::{FieldIssue, Instant, SOLAR_HIJRI_IN_AN_INSTANT, read_instant};
use nazer_shared::iran;

use crate::areas::{self, AreaPaths};
use crate::calendar::Budget;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQuestion {
    pub start: DateTime<Utc>,
    pub budget: Budget,
    /// Where the message is located, for the closures that apply: the area's path (province
    /// first), else the province alone; empty when neither is given.
    pub area_path: Vec<String>,
}

impl DueQuestion {
    /// Every problem at once, named `start`, `budget`, `province` and `area`: the area must be
    /// one of the `known` ones (looked up beforehand, with their paths) and, when both are
    /// given, lie in the province.
    pub fn parse(
        start: Option<&str>,
        budget: Option<&str>,
        province: Option<&str>,
        area: Option<&str>,
        known: &AreaPaths,
    ) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        let start = match start.map(read_instant) {
            Some(Instant::Gregorian(start)) => Some(start),
            Some(Instant::SolarHijriYear) => {
                issues.push(FieldIssue::new("start", SOLAR_HIJRI_IN_AN_INSTANT));
                None
            }
            _ => {
                issues.push(FieldIssue::new(
                    "start",
                    "an RFC 3339 instant such as 2026-11-29T10:00:00+03:30 (in a URL, escape + as %2B)",
                ));
                None
            }
        };
        let budget = match budget.map(Budget::parse) {
            None => {
                issues.push(FieldIssue::new("budget", "is required: 8h, 3d or an ISO 8601 duration such as PT30S"));
                None
            }
            Some(Err(error)) => {
                issues.push(FieldIssue::new("budget", error.to_string()));
                None
            }
            Some(Ok(budget)) => Some(budget),
        };
        let province = match province {
            Some(code) if !iran::is_province(code) => {
                issues.push(FieldIssue::new(
                    "province",
                    format!("`{code}` is not a province code; use one of: {}", iran::province_codes()),
                ));
                None
            }
            province => province,
        };
        let area_path = match area.map(|area| areas::locate(area, province, known)) {
            Some(Ok(path)) => path.to_vec(),
            Some(Err(problem)) => {
                issues.push(FieldIssue::new("area", problem));
                Vec::new()
            }
            None => province.iter().map(|p| p.to_string()).collect(),
        };
        match (start, budget) {
            (Some(start), Some(budget)) if issues.is_empty() => Ok(Self { start, budget, area_path }),
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> AreaPaths {
        let district = ["tehran", "tehran-city", "tehran-district-06"].map(String::from).to_vec();
        AreaPaths::from([("tehran-district-06".to_string(), district), ("fars".into(), vec!["fars".into()])])
    }

    fn fields(issues: Vec<FieldIssue>) -> Vec<String> {
        issues.into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn every_bad_part_is_named() {
        assert_eq!(
            fields(
                DueQuestion::parse(Some("yesterday"), Some("3x"), Some("mars"), Some("atlantis"), &known())
                    .unwrap_err()
            ),
            ["start", "budget", "province", "area"]
        );
        assert_eq!(fields(DueQuestion::parse(None, None, None, None, &known()).unwrap_err()), ["start", "budget"]);
        let question =
            DueQuestion::parse(Some("2026-11-30T09:00:00 03:30"), Some("1d"), Some("tehran"), None, &known()).unwrap();
        assert_eq!(question.start.to_rfc3339(), "2026-11-30T05:30:00+00:00", "an unescaped + is read back");
        assert_eq!((question.budget, question.area_path), (Budget::BusinessDays(1), vec!["tehran".to_string()]));
    }

    #[test]
    fn an_area_locates_the_message_down_to_it() {
        let start = Some("2026-11-30T09:00:00+03:30");
        let in_district = DueQuestion::parse(start, Some("1d"), None, Some("tehran-district-06"), &known()).unwrap();
        assert_eq!(in_district.area_path, ["tehran", "tehran-city", "tehran-district-06"]);
        let both = DueQuestion::parse(start, Some("1d"), Some("tehran"), Some("tehran-district-06"), &known());
        assert_eq!(both.unwrap().area_path, in_district.area_path);
        let elsewhere = DueQuestion::parse(start, Some("1d"), Some("fars"), Some("tehran-district-06"), &known());
        assert_eq!(fields(elsewhere.unwrap_err()), ["area"]);
        let unknown = DueQuestion::parse(start, Some("1d"), None, Some("tehran-district-99"), &known()).unwrap_err();
        assert!(unknown[0].problem.contains("GET /api/v1/areas"), "{}", unknown[0].problem);
        assert!(DueQuestion::parse(start, Some("1d"), None, None, &known()).unwrap().area_path.is_empty());
    }

    #[test]
    fn a_solar_hijri_year_in_an_instant_is_refused_not_read_as_gregorian() {
        let issues =
            DueQuestion::parse(Some("1405-09-17T10:00:00+03:30"), Some("1d"), None, None, &known()).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].field, "start");
        assert!(issues[0].problem.contains("Gregorian"), "{}", issues[0].problem);
        assert!(DueQuestion::parse(Some("1800-01-01T00:00:00+03:30"), Some("1d"), None, None, &known()).is_ok());
    }
}
