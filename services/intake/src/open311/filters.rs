//! The filters of `GET requests`: a list of ids overrides the rest; otherwise services, a
//! period of at most 90 days (the last 90 by default) and open or closed.

use chrono::{DateTime, Duration, Utc};
use nazer_shared::http::{FieldIssue, Instant, is_identifier, period_bound, read_instant};

use super::form::{Fields, issue, shown};
use super::model::RequestStatus;
use super::reply::Open311Error;
use super::store::{MAX_REQUESTS, Search, Selection};
use crate::tracking_code::TrackingCode;

pub const SEARCH_FIELDS: [&str; 7] =
    ["api_key", "jurisdiction_id", "service_request_id", "service_code", "start_date", "end_date", "status"];
/// The longest period one search spans, and the default one.
pub const MAX_PERIOD_DAYS: i64 = 90;

/// A service request id: a tracking code, in any digits people type.
pub fn tracking_code(text: &str) -> Result<String, String> {
    TrackingCode::parse(text)
        .map(|code| code.to_string())
        .map_err(|e| issue("service_request_id", format!("`{}` is not a tracking code: {e}", shown(text))))
}

/// What a search asks for, or every problem with it.
pub fn selection(fields: &Fields, now: DateTime<Utc>) -> Result<Selection, Open311Error> {
    let mut issues = Vec::new();
    if let Some(list) = fields.get("service_request_id") {
        let texts: Vec<&str> = list.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        if texts.len() as i64 > MAX_REQUESTS {
            issues.push(issue("service_request_id", format!("names more than {MAX_REQUESTS} requests")));
        }
        let codes = texts.iter().filter_map(|t| tracking_code(t).map_err(|e| issues.push(e)).ok()).collect();
        return if issues.is_empty() { Ok(Selection::Codes(codes)) } else { Err(Open311Error::bad_requests(issues)) };
    }
    let service_codes = list_of(fields, "service_code");
    if let Some(bad) = service_codes.iter().find(|c| !is_identifier(c)) {
        issues.push(issue(
            "service_code",
            format!("`{}` is not a service code; list codes separated by commas", shown(bad)),
        ));
    }
    let statuses = list_of(fields, "status");
    if let Some(bad) = statuses.iter().find(|s| RequestStatus::parse(s).is_none()) {
        issues.push(issue("status", format!("`{}` is not a status; use open, closed or both", shown(bad))));
    }
    let asked = |wanted: RequestStatus| statuses.iter().any(|s| RequestStatus::parse(s) == Some(wanted));
    let closed = match (asked(RequestStatus::Open), asked(RequestStatus::Closed)) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    };
    let start = bound(fields, "start_date", false, &mut issues);
    let end = bound(fields, "end_date", true, &mut issues);
    let span = Duration::days(MAX_PERIOD_DAYS);
    let (from, until) = match (start, end) {
        (Some(start), Some(end)) => (start, Some(end)),
        (Some(start), None) => (start, Some(start + span)),
        (None, Some(end)) => (end - span, Some(end)),
        (None, None) => (now - span, None),
    };
    if let Some(until) = until {
        if until < from {
            issues.push(issue("end_date", "is before start_date"));
        } else if until - from > span {
            issues.push(issue("start_date, end_date", format!("may span at most {MAX_PERIOD_DAYS} days")));
        }
    }
    if issues.is_empty() {
        Ok(Selection::Search(Search { service_codes, from, until, closed }))
    } else {
        Err(Open311Error::bad_requests(issues))
    }
}

fn list_of(fields: &Fields, name: &str) -> Vec<String> {
    let text = fields.get(name).unwrap_or_default();
    text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// A W3C datetime (RFC 3339), or a day (Gregorian or Solar Hijri, in Tehran time) from its
/// first instant (`start_date`) or to its last (`end_date`, which includes the instant named).
fn bound(fields: &Fields, name: &str, end: bool, issues: &mut Vec<String>) -> Option<DateTime<Utc>> {
    let text = fields.get(name)?;
    // An instant with a Solar Hijri year falls through to `period_bound`, which refuses it,
    // saying to write it as a day.
    if let Instant::Gregorian(instant) = read_instant(&text) {
        return Some(instant);
    }
    let mut found = Vec::<FieldIssue>::new();
    let day = period_bound(name, &text, end, &mut found);
    issues.extend(
        found
            .iter()
            .map(|f| issue(&f.field, format!("is not a W3C datetime such as 2026-11-29T08:00:00Z: {}", f.problem))),
    );
    // The end of a day is the instant before the next day starts.
    day.map(|instant| if end { instant - Duration::microseconds(1) } else { instant })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(query: &str) -> Result<Selection, Open311Error> {
        let fields = Fields::parse(&[query], |n| SEARCH_FIELDS.contains(&n), "…").unwrap();
        selection(&fields, "2026-11-29T12:00:00Z".parse().unwrap())
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_last_90_days_by_default() {
        let Selection::Search(search) = search("").unwrap() else { panic!("a search") };
        assert_eq!((search.from, search.until, search.closed), (at("2026-08-31T12:00:00Z"), None, None));
    }

    #[test]
    fn days_are_read_whole_in_tehran_time_and_periods_are_bounded() {
        let Selection::Search(found) = search("start_date=2026-11-01&end_date=2026-11-29&status=closed").unwrap()
        else {
            panic!("a search")
        };
        assert_eq!(found.from, at("2026-10-31T20:30:00Z"));
        assert_eq!(found.until, Some(at("2026-11-29T20:29:59.999999Z")));
        assert_eq!(found.closed, Some(true));
        let Selection::Search(found) = search("start_date=2026-01-01T00:00:00%2B03:30&status=open,closed").unwrap()
        else {
            panic!("a search")
        };
        assert_eq!((found.from, found.until), (at("2025-12-31T20:30:00Z"), Some(at("2026-03-31T20:30:00Z"))));
        assert_eq!(found.closed, None);
        assert_eq!(search("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z").unwrap_err().status, 400);
        assert_eq!(search("start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z").unwrap_err().status, 400);
        assert_eq!(search("start_date=yesterday").unwrap_err().status, 400);
    }

    #[test]
    fn a_solar_hijri_year_inside_an_instant_is_refused_not_read_as_gregorian() {
        for query in ["start_date=1405-09-17T00:00:00%2B03:30", "end_date=1405-09-17T00:00:00Z"] {
            let refused = search(query).unwrap_err();
            assert_eq!(refused.status, 400, "{query}");
            let said = refused.descriptions.join(" ");
            assert!(said.contains("1405-09-17"), "{query}: {said}");
        }
    }

    #[test]
    fn ids_override_the_rest() {
        let code = TrackingCode::generate().to_string();
        let selection = search(&format!("service_request_id={code},+{code}&status=nonsense")).unwrap();
        assert_eq!(selection, Selection::Codes(vec![code.clone(), code]));
        assert!(search("service_request_id=123").unwrap_err().descriptions[0].starts_with("service_request_id:"));
    }
}
