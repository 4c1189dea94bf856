//! Stored SLA policies: the validated JSON document, by id, unique per category × priority ×
//! channel.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, to_db_time};
use nazer_shared::http::ApiError;

use crate::calendar::store as calendar_store;
use crate::policy::{ANY, PolicyDocument, SlaPolicy};
use crate::schema::sla_policies;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("calendar `{0}` is not stored; import it with PUT /api/v1/calendars/{0} first")]
    UnknownCalendar(String),
    #[error("policy `{0}` already covers this category, priority and channel")]
    Overlaps(String),
}

nazer_shared::from_diesel_error!(PolicyError);

impl From<PolicyError> for ApiError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Db(error) => error.into(),
            error @ PolicyError::UnknownCalendar(_) => ApiError::invalid_field("calendar", error.to_string()),
            error @ PolicyError::Overlaps(_) => ApiError::Conflict(error.to_string()),
        }
    }
}

/// Stores `policy`, replacing one with the same id; true when it is new.
pub fn put_policy(conn: &mut DbConnection, policy: &SlaPolicy, now: DateTime<Utc>) -> Result<bool, PolicyError> {
    let document = policy.document();
    if let Some(calendar) = &document.calendar
        && calendar_store::find_calendar(conn, calendar)?.is_none()
    {
        return Err(PolicyError::UnknownCalendar(calendar.clone()));
    }
    let holder: Option<String> = sla_policies::table
        .filter(sla_policies::category.eq(&document.category))
        .filter(sla_policies::priority.eq(&document.priority))
        .filter(sla_policies::channel.eq(&document.channel))
        .select(sla_policies::id)
        .first(conn)
        .optional()?;
    if let Some(other) = holder.filter(|other| other != &document.id) {
        return Err(PolicyError::Overlaps(other));
    }
    let text = serde_json::to_string(document).map_err(|e| DbError::Encode(e.to_string()))?;
    let at = to_db_time(now);
    let exists: i64 = sla_policies::table.find(&document.id).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(sla_policies::table.find(&document.id))
            .set((
                sla_policies::category.eq(&document.category),
                sla_policies::priority.eq(&document.priority),
                sla_policies::channel.eq(&document.channel),
                sla_policies::document.eq(&text),
                sla_policies::updated_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(sla_policies::table)
            .values((
                sla_policies::id.eq(&document.id),
                sla_policies::category.eq(&document.category),
                sla_policies::priority.eq(&document.priority),
                sla_policies::channel.eq(&document.channel),
                sla_policies::document.eq(&text),
                sla_policies::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(exists == 0)
}

fn decode(id: &str, text: &str) -> Result<SlaPolicy, DbError> {
    let document: PolicyDocument =
        serde_json::from_str(text).map_err(|e| DbError::Refused(format!("stored policy `{id}` is unreadable: {e}")))?;
    SlaPolicy::from_document(document)
        .map_err(|issues| DbError::Refused(format!("stored policy `{id}` is invalid: {issues:?}")))
}

pub fn find_policy(conn: &mut DbConnection, id: &str) -> Result<Option<SlaPolicy>, DbError> {
    let stored: Option<String> = sla_policies::table.find(id).select(sla_policies::document).first(conn).optional()?;
    stored.map(|text| decode(id, &text)).transpose()
}

/// A stored policy: its id and its document.
#[derive(Queryable, Selectable)]
#[diesel(table_name = sla_policies)]
struct StoredPolicy {
    id: String,
    document: String,
}

pub fn list_policies(conn: &mut DbConnection) -> Result<Vec<SlaPolicy>, DbError> {
    let rows: Vec<StoredPolicy> =
        sla_policies::table.order(sla_policies::id).select(StoredPolicy::as_select()).load(conn)?;
    rows.iter().map(|row| decode(&row.id, &row.document)).collect()
}

/// The policies that could apply to a message of `category` and `priority`.
pub fn candidates(conn: &mut DbConnection, category: &str, priority: &str) -> Result<Vec<SlaPolicy>, DbError> {
    let rows: Vec<StoredPolicy> = sla_policies::table
        .filter(sla_policies::category.eq_any([category, ANY]))
        .filter(sla_policies::priority.eq_any([priority, ANY]))
        .select(StoredPolicy::as_select())
        .load(conn)?;
    rows.iter().map(|row| decode(&row.id, &row.document)).collect()
}

/// Removes a policy; clocks it already started keep running on their own copy.
pub fn delete_policy(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(sla_policies::table.find(id)).execute(conn)? > 0)
}
