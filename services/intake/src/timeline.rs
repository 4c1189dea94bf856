//! Every transition of a message, in order, as the call centre, the agency and the citizen see
//! it. Written in the same transaction as the transition itself.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::message_timeline;

nazer_shared::closed_set! {
    /// The transitions a timeline shows.
    pub enum Transition {
        Received = "received",
        Assigned = "assigned",
        Triage = "triage",
        Acknowledged = "acknowledged",
        Declined = "declined",
        Responded = "responded",
        Closed = "closed",
        Warning = "warning",
        Reopened = "reopened",
        Rated = "rated",
        Reviewed = "reviewed",
    }
}

/// A transition of a message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `received`, `assigned`, `triage`, `acknowledged`, `declined`, `responded`, `closed`,
    /// `warning`, `reopened`, `rated` or `reviewed`.
    pub transition: Transition,
    /// The agency concerned, if any.
    pub agency_id: Option<String>,
    /// What the transition carried (a reason, an outcome, a warning level…), by transition.
    #[schema(value_type = Object)]
    pub detail: Value,
}

pub fn append(
    conn: &mut DbConnection,
    message_id: &str,
    at: DateTime<Utc>,
    transition: Transition,
    agency_id: Option<&str>,
    detail: Value,
) -> Result<(), DbError> {
    diesel::insert_into(message_timeline::table)
        .values((
            message_timeline::id.eq(Uuid::now_v7().to_string()),
            message_timeline::message_id.eq(message_id),
            message_timeline::happened_at.eq(to_db_time(at)),
            message_timeline::transition.eq(transition.as_str()),
            message_timeline::agency_id.eq(agency_id),
            message_timeline::detail.eq(detail.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = message_timeline)]
struct EntryRow {
    happened_at: NaiveDateTime,
    transition: String,
    agency_id: Option<String>,
    detail: String,
}

pub fn of_message(conn: &mut DbConnection, message_id: &str) -> Result<Vec<TimelineEntry>, DbError> {
    let rows: Vec<EntryRow> = message_timeline::table
        .filter(message_timeline::message_id.eq(message_id))
        .order((message_timeline::happened_at, message_timeline::id))
        .select(EntryRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let transition = Transition::parse(&row.transition).ok_or_else(|| {
                DbError::Refused(format!("unknown timeline transition `{}` in the database", row.transition))
            })?;
            Ok(TimelineEntry {
                at: from_db_time(row.happened_at),
                transition,
                agency_id: row.agency_id,
                detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
            })
        })
        .collect()
}
