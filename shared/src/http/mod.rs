//! HTTP pieces every service shares: problem details, JSON bodies, API keys, operations, and
//! what a host answers outside its API (its page at `/`, unknown routes).

pub mod auth;
pub mod body;
pub mod csv;
pub mod home;
pub mod json;
pub mod jwt;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod problem;

pub use auth::{AuthStore, Caller, Scope};
pub use json::{JsonBody, OptionalJsonBody, QueryParams};
pub use problem::{ApiError, FieldIssue};

/// The largest page a list endpoint returns.
pub const MAX_PAGE_SIZE: i64 = 200;
pub const DEFAULT_PAGE_SIZE: i64 = 50;

/// The `limit` of a list request: the default when absent, refused outside 1..=MAX_PAGE_SIZE.
pub fn page_limit(requested: Option<i64>) -> Result<i64, ApiError> {
    let limit = requested.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid_field("limit", format!("must be between 1 and {MAX_PAGE_SIZE}")))
    }
}

/// Ids and codes chosen by people (agency ids, category codes): 1–64 lowercase ASCII letters,
/// digits, '.', '_' or '-', so they are safe in paths, logs and routing keys.
pub fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

pub const IDENTIFIER_RULE: &str = "use 1–64 lowercase letters, digits, '.', '_' or '-'";

/// An RFC 3339 instant in the offset it was written in; in a query string a `+` left unescaped
/// arrives as a space.
fn written_instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&text.replace(' ', "+")))
        .ok()
}

/// An instant written with an earlier year is a Solar Hijri date taken for a Gregorian one (a
/// day alone is read as Solar Hijri, see `iran::parse_either_date`); no record is that old.
const FIRST_GREGORIAN_YEAR: i32 = 1800;

/// What an instant in a request says to the Solar Hijri calendar's users when it is refused.
pub const SOLAR_HIJRI_IN_AN_INSTANT: &str = "a year before 1800 is a Solar Hijri date: an instant must be RFC 3339 in \
     the Gregorian calendar (e.g. 2026-12-08T10:00:00+03:30); where a day is taken, write a Solar Hijri date as \
     the day alone, e.g. 1405-09-17";

/// How a text reads as an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    /// An RFC 3339 instant in the Gregorian calendar.
    Gregorian(chrono::DateTime<chrono::Utc>),
    /// RFC 3339 with a year before 1800: a Solar Hijri date written as if Gregorian.
    SolarHijriYear,
    /// Not an RFC 3339 instant.
    Not,
}

/// The one reading of an instant in a request (query, body or command line).
pub fn read_instant(text: &str) -> Instant {
    match written_instant(text) {
        Some(instant) if chrono::Datelike::year(&instant) >= FIRST_GREGORIAN_YEAR => {
            Instant::Gregorian(instant.with_timezone(&chrono::Utc))
        }
        Some(_) => Instant::SolarHijriYear,
        None => Instant::Not,
    }
}

/// A period bound from a query string: a day (Solar Hijri or Gregorian, Tehran time) or an
/// RFC 3339 instant (Gregorian, from 1800). An `end` bound includes its whole day. A bad value is
/// added to `issues`.
pub fn period_bound(
    field: &str,
    text: &str,
    end: bool,
    issues: &mut Vec<FieldIssue>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Some(day) = crate::iran::parse_either_date(text) {
        let start = crate::iran::tehran_day_start(day);
        return Some(if end { start + chrono::Duration::days(1) } else { start });
    }
    match read_instant(text) {
        Instant::Gregorian(instant) => Some(instant),
        Instant::SolarHijriYear => {
            issues.push(FieldIssue::new(field, SOLAR_HIJRI_IN_AN_INSTANT));
            None
        }
        Instant::Not => {
            issues.push(FieldIssue::new(
                field,
                "a day such as 1405-09-08 (Solar Hijri) or 2026-11-29, or an RFC 3339 instant",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(field: &str, text: &str) -> (Option<chrono::DateTime<chrono::Utc>>, Vec<FieldIssue>) {
        let mut issues = Vec::new();
        (period_bound(field, text, false, &mut issues), issues)
    }

    #[test]
    fn a_solar_hijri_year_inside_an_instant_is_refused_pointing_at_the_day() {
        for (field, text) in [("from", "1405-09-17T00:00:00+03:30"), ("to", "0622-03-22T00:00:00Z")] {
            let (instant, issues) = bound(field, text);
            assert_eq!(instant, None, "{text}");
            assert_eq!(issues.len(), 1, "{text}");
            assert_eq!(issues[0].field, field);
            assert!(issues[0].problem.contains("e.g. 1405-09-17"), "{}", issues[0].problem);
        }
        // The same day alone is Solar Hijri; a Gregorian instant from 1800 on stays an instant,
        // its year read as written (not in UTC).
        assert_eq!(bound("from", "1405-09-17").0.map(|t| t.to_rfc3339()).as_deref(), Some("2026-12-07T20:30:00+00:00"));
        let (instant, issues) = bound("from", "1800-01-01T00:00:00+03:30");
        assert_eq!((instant.map(|t| t.to_rfc3339()), issues.len()), (Some("1799-12-31T20:30:00+00:00".into()), 0));
    }
}
