//! The assigned agency confirms it has a message: recorded once, announced once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, from_db_time, to_db_time};
use nazer_shared::events::MessageAcknowledged;
use nazer_shared::outbox;
use nazer_shared::topology::INTAKE;

use crate::schema::messages;
use crate::store::{RespondError, status};
use crate::tracking_code::TrackingCode;

/// Records the acknowledgement and `message.acknowledged`; a repeat answers the first instant
/// and announces nothing. Only the assigned agency may acknowledge; anyone else is told the
/// message does not exist.
pub fn acknowledge(
    conn: &mut DbConnection,
    code: &TrackingCode,
    agency_id: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, RespondError> {
    type Row = (String, String, Option<String>, Option<NaiveDateTime>);
    let row: Option<Row> = messages::table
        .filter(messages::tracking_code.eq(code.as_str()))
        .select((messages::id, messages::status, messages::assigned_agency_id, messages::acknowledged_at))
        .first(conn)
        .optional()?;
    let Some((message_id, current, assigned, acknowledged)) = row else {
        return Err(RespondError::NotFound);
    };
    if assigned.as_deref() != Some(agency_id) {
        return Err(RespondError::NotFound);
    }
    if let Some(at) = acknowledged {
        return Ok(from_db_time(at));
    }
    if current != status::ASSIGNED {
        return Err(RespondError::NotAnswerable(current));
    }
    let at = to_db_time(now);
    // Conditional, so of two acknowledgements at once only one is announced.
    let claimed = diesel::update(messages::table.find(&message_id).filter(messages::acknowledged_at.is_null()))
        .set((messages::acknowledged_at.eq(Some(at)), messages::updated_at.eq(at)))
        .execute(conn)?;
    if claimed == 0 {
        let first: Option<NaiveDateTime> =
            messages::table.find(&message_id).select(messages::acknowledged_at).first(conn)?;
        return Ok(from_db_time(first.unwrap_or(at)));
    }
    let event = MessageAcknowledged {
        message_id,
        tracking_code: code.to_string(),
        agency_id: agency_id.to_string(),
        acknowledged_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    Ok(from_db_time(at))
}
