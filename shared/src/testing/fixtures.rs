//! Events as tests build them: valid, with fresh ids, changed by struct update where a test
//! cares about a field.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::TestApp;
use crate::db::{DbConnection, DbError, from_db_time, to_db_time, write_transaction};
use crate::events::{Envelope, Event, MessageAssigned, MessageReceived, MessageResponded};
use crate::http::Scope;
use crate::http::auth::{KeyBinding, create_key};

/// A complaint received now, by the call centre, in Tehran, under `municipal.building`.
pub fn message_received() -> MessageReceived {
    MessageReceived {
        message_id: uuid::Uuid::now_v7().to_string(),
        tracking_code: "1234567890".into(),
        kind: "complaint".into(),
        channel: "call_center".into(),
        category: "municipal.building".into(),
        province: "tehran".into(),
        city: None,
        area: Some("tehran".into()),
        area_path: vec!["tehran".into()],
        priority: "normal".into(),
        received_at: Utc::now(),
    }
}

/// `event` in the envelope `producer` would publish it in, now.
pub fn envelope<E: Event>(producer: &str, event: &E) -> Envelope {
    Envelope::new(producer, event, Utc::now()).unwrap_or_else(|e| panic!("envelope of a test event: {e}"))
}

/// `message.assigned` of `message_id` to `agency_id` now: a complaint in Tehran under
/// `municipal.building`, by the call centre, chosen by `rule-1`.
pub fn message_assigned(message_id: &str, agency_id: &str) -> MessageAssigned {
    MessageAssigned {
        message_id: message_id.into(),
        tracking_code: "1234567890".into(),
        kind: "complaint".into(),
        category: "municipal.building".into(),
        province: "tehran".into(),
        city: None,
        area_path: vec!["tehran".into()],
        agency_id: agency_id.into(),
        agency_name: "شهرداری تهران".into(),
        rule_id: "rule-1".into(),
        parent_agency_id: None,
        agency_ancestors: vec![],
        priority: "normal".into(),
        channel: Some("call_center".into()),
        assigned_at: Utc::now(),
        assigned_by: None,
    }
}

/// `message.responded` of `message_id` by `agency_id` at `at`, resolved.
pub fn message_responded(message_id: &str, agency_id: &str, at: DateTime<Utc>) -> MessageResponded {
    MessageResponded {
        message_id: message_id.into(),
        tracking_code: "1234567890".into(),
        agency_id: agency_id.into(),
        response_id: format!("response-{message_id}"),
        outcome: "resolved".into(),
        responded_at: at,
    }
}

/// `instant` as the database keeps it (microseconds), to compare with what is read back.
pub fn stored(instant: DateTime<Utc>) -> DateTime<Utc> {
    from_db_time(to_db_time(instant))
}

/// `instant` as a query string carries it: RFC 3339 with microseconds, in UTC.
pub fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Runs `work` in one write transaction on the test host's database; panics on failure.
pub fn write<T, E: std::fmt::Display + From<DbError>>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> T {
    let mut conn = app.db().get().unwrap_or_else(|e| panic!("test database: {e}"));
    write_transaction(&mut conn, work).unwrap_or_else(|e| panic!("test write failed: {e}"))
}

/// Stores an API key with `scopes` (for `agency`, if given) straight in the database; its secret.
pub fn api_key(app: &TestApp, scopes: &[Scope], agency: Option<&str>) -> String {
    write(app, |conn| create_key(conn, "test key", scopes, KeyBinding::agency(agency), Utc::now())).1
}

/// Stores an API key with `scopes` bound to counterpart unit `unit`; its secret.
pub fn unit_key(app: &TestApp, scopes: &[Scope], unit: &str) -> String {
    let bound = KeyBinding { agency_id: None, unit_id: Some(unit) };
    write(app, |conn| create_key(conn, "test unit key", scopes, bound, Utc::now())).1
}

/// Checks a problem document: its status, media type, slug, a detail, and the fields it names
/// in order (each with what is wrong).
#[track_caller]
pub fn assert_problem(status: u16, content_type: Option<&str>, body: &Value, expected: (u16, &str, &[&str])) {
    let (want_status, slug, fields) = expected;
    assert_eq!(status, want_status, "{body}");
    assert_eq!(content_type, Some("application/problem+json"), "{body}");
    assert_eq!(body["type"], format!("urn:nazer:problem:{slug}"), "{body}");
    assert_eq!(body["status"], want_status, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    let issues = body["errors"].as_array().cloned().unwrap_or_default();
    let named: Vec<&str> = issues.iter().map(|i| i["field"].as_str().unwrap_or("?")).collect();
    assert_eq!(named, fields, "{body}");
    assert!(issues.iter().all(|i| i["problem"].as_str().is_some_and(|p| !p.is_empty())), "{body}");
}
