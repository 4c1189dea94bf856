//! "When is this due?" as people ask it — by REST or from the command line: a start instant, a
//! budget and perhaps a province, each checked and, when wrong, named with what is accepted.

use chrono::{DateTime, Utc};
use nazer_shared::http::{FieldIssue, Instant, SOLAR_HIJRI_IN_AN_INSTANT, read_instant};
use nazer_shared::iran;

use crate::calendar::Budget;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQuestion {
    pub start: DateTime<Utc>,
    pub budget: Budget,
    pub province: Option<String>,
}

impl DueQuestion {
    /// Every problem at once, named `start`, `budget` and `province`.
    pub fn parse(start: Option<&str>, budget: Option<&str>, province: Option<&str>) -> Result<Self, Vec<FieldIssue>> {
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
        if let Some(code) = province
            && !iran::is_province(code)
        {
            issues.push(FieldIssue::new(
                "province",
                format!("`{code}` is not a province code; use one of: {}", iran::province_codes()),
            ));
        }
        match (start, budget) {
            (Some(start), Some(budget)) if issues.is_empty() => {
                Ok(Self { start, budget, province: province.map(str::to_string) })
            }
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_part_is_named() {
        let fields = |issues: Vec<FieldIssue>| issues.into_iter().map(|i| i.field).collect::<Vec<_>>();
        assert_eq!(
            fields(DueQuestion::parse(Some("yesterday"), Some("3x"), Some("mars")).unwrap_err()),
            ["start", "budget", "province"]
        );
        assert_eq!(fields(DueQuestion::parse(None, None, None).unwrap_err()), ["start", "budget"]);
        let question = DueQuestion::parse(Some("2026-11-30T09:00:00 03:30"), Some("1d"), Some("tehran")).unwrap();
        assert_eq!(question.start.to_rfc3339(), "2026-11-30T05:30:00+00:00", "an unescaped + is read back");
        assert_eq!((question.budget, question.province.as_deref()), (Budget::BusinessDays(1), Some("tehran")));
    }

    #[test]
    fn a_solar_hijri_year_in_an_instant_is_refused_not_read_as_gregorian() {
        let issues = DueQuestion::parse(Some("1405-09-17T10:00:00+03:30"), Some("1d"), None).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].field, "start");
        assert!(issues[0].problem.contains("Gregorian"), "{}", issues[0].problem);
        assert!(DueQuestion::parse(Some("1800-01-01T00:00:00+03:30"), Some("1d"), None).is_ok());
    }
}
