//! HTTP pieces every service shares: problem details, JSON bodies, API keys, operations, and
//! what a host answers outside its API (its page at `/`, unknown routes).

pub mod auth;
pub mod home;
pub mod json;
pub mod jwt;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod problem;

pub use auth::{AuthStore, Caller, Scope};
pub use json::{JsonBody, QueryParams};
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

/// An RFC 3339 instant from a query string, where a `+` left unescaped arrives as a space.
pub fn query_instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&text.replace(' ', "+")))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A period bound from a query string: a day (Solar Hijri or Gregorian, Tehran time) or an
/// RFC 3339 instant. An `end` bound includes its whole day. A bad value is added to `issues`.
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
    let instant = query_instant(text);
    if instant.is_none() {
        issues.push(FieldIssue::new(
            field,
            "a day such as 1405-09-08 (Solar Hijri) or 2026-11-29, or an RFC 3339 instant",
        ));
    }
    instant
}
