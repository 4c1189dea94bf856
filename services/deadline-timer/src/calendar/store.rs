//! Stored business calendars: the validated JSON document, by id.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use serde::Serialize;

use crate::calendar::{Calendar, CalendarDocument};
use crate::schema::business_calendars;

/// Stores `calendar`, replacing one with the same id; true when it is new.
pub fn put_calendar(conn: &mut DbConnection, calendar: &Calendar, now: DateTime<Utc>) -> Result<bool, DbError> {
    let document = serde_json::to_string(calendar.document()).map_err(|e| DbError::Encode(e.to_string()))?;
    let at = to_db_time(now);
    let exists: i64 = business_calendars::table.find(&calendar.id).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(business_calendars::table.find(&calendar.id))
            .set((business_calendars::document.eq(&document), business_calendars::updated_at.eq(at)))
            .execute(conn)?;
    } else {
        diesel::insert_into(business_calendars::table)
            .values((
                business_calendars::id.eq(&calendar.id),
                business_calendars::document.eq(&document),
                business_calendars::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(exists == 0)
}

pub fn find_calendar(conn: &mut DbConnection, id: &str) -> Result<Option<Calendar>, DbError> {
    let stored: Option<String> =
        business_calendars::table.find(id).select(business_calendars::document).first(conn).optional()?;
    let Some(text) = stored else { return Ok(None) };
    let document: CalendarDocument = serde_json::from_str(&text)
        .map_err(|e| DbError::Refused(format!("stored calendar `{id}` is unreadable: {e}")))?;
    Calendar::from_document(document)
        .map(Some)
        .map_err(|issues| DbError::Refused(format!("stored calendar `{id}` is invalid: {issues:?}")))
}

/// A stored calendar, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CalendarSummary {
    pub id: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = business_calendars)]
struct SummaryRow {
    id: String,
    updated_at: NaiveDateTime,
}

pub fn list_calendars(conn: &mut DbConnection) -> Result<Vec<CalendarSummary>, DbError> {
    let rows: Vec<SummaryRow> =
        business_calendars::table.order(business_calendars::id).select(SummaryRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(|row| CalendarSummary { id: row.id, updated_at: from_db_time(row.updated_at) }).collect())
}
