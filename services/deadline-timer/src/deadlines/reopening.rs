//! After an answer: until when the citizen may reopen the message (working days on the
//! message's business calendar), and a fresh respond clock when they do.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, lock_key_shared, to_db_time};
use nazer_shared::events::{DeadlineMet, DeadlineScheduled, MessageReopened, MessageResponded, ReopenWindowSet, Stage};
use nazer_shared::outbox;
use nazer_shared::topology::DEADLINE_TIMER;

use crate::calendar::Calendar;
use crate::calendar::change::calendar_lock;
use crate::calendar::store as calendar_store;
use crate::deadlines::store::{self, NewClock, area_path_of, decode, fallback_stage};
use crate::policy::{self, StagePolicy};
use crate::schema::deadlines;

/// The end of the reopening period: `days` working days after the answer on `calendar`; plain
/// days when the message has no calendar or the calendar has no working time left.
pub fn reopen_until(
    calendar: Option<&Calendar>,
    responded_at: DateTime<Utc>,
    days: u32,
    area_path: &[String],
) -> DateTime<Utc> {
    calendar
        .and_then(|c| c.add_working_days(responded_at, days, area_path).ok())
        .unwrap_or_else(|| responded_at + Duration::days(i64::from(days)))
}

/// What the message's latest respond clock ran on, for the window and for a restart.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct LastClock {
    agency_id: String,
    stage_policy: String,
    #[diesel(column_name = id)]
    deadline_id: String,
    policy_id: Option<String>,
    calendar_id: Option<String>,
    province: Option<String>,
    area_path: String,
    escalation_agency_id: Option<String>,
    agency_ancestors: Option<String>,
}

impl LastClock {
    fn area_path(&self) -> Result<Vec<String>, DbError> {
        area_path_of(&self.deadline_id, &self.area_path, self.province.as_deref())
    }
}

fn last_respond_clock(conn: &mut DbConnection, message_id: &str) -> Result<Option<LastClock>, DbError> {
    Ok(deadlines::table
        .filter(deadlines::message_id.eq(message_id))
        .filter(deadlines::stage.eq(Stage::Respond.as_str()))
        .order((deadlines::started_at.desc(), deadlines::id.desc()))
        .select(LastClock::as_select())
        .first(conn)
        .optional()?)
}

/// The calendar a clock ran on, else the calendar Nazer ships (when stored).
fn calendar_of(conn: &mut DbConnection, clock: Option<&LastClock>) -> Result<Option<Calendar>, DbError> {
    let id = clock.and_then(|c| c.calendar_id.as_deref()).unwrap_or(crate::DEFAULT_CALENDAR_ID);
    calendar_store::find_calendar(conn, id)
}

/// Announces until when the citizen may reopen the answered message.
pub fn announce_window(
    conn: &mut DbConnection,
    responded: &MessageResponded,
    working_days: u32,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbError> {
    let clock = last_respond_clock(conn, &responded.message_id)?;
    let calendar = calendar_of(conn, clock.as_ref())?;
    let area_path = clock.as_ref().map(LastClock::area_path).transpose()?.unwrap_or_default();
    let until = reopen_until(calendar.as_ref(), responded.responded_at, working_days, &area_path);
    let event = ReopenWindowSet {
        message_id: responded.message_id.clone(),
        response_id: responded.response_id.clone(),
        reopen_until: until,
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    Ok(until)
}

/// A reopened message gets a fresh respond clock for the same agency, on the policy and
/// calendar of its last one (once, however often the event arrives). Only an answer given
/// after the reopening meets it — already met, when that answer overtook the reopening.
pub fn restart(
    conn: &mut DbConnection,
    reopened: &MessageReopened,
    fallback_budget: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    lock_key(conn, &reopened.message_id)?;
    let started_at = to_db_time(reopened.reopened_at);
    let existing: i64 = deadlines::table
        .filter(deadlines::message_id.eq(&reopened.message_id))
        .filter(deadlines::stage.eq(Stage::Respond.as_str()))
        .filter(deadlines::started_at.eq(started_at))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(None);
    }
    let last = last_respond_clock(conn, &reopened.message_id)?.filter(|c| c.agency_id == reopened.agency_id);
    let stage: StagePolicy = match &last {
        Some(clock) => decode(&clock.deadline_id, "policy", &clock.stage_policy)?,
        None => fallback_stage(fallback_budget),
    };
    let calendar_id = last.as_ref().and_then(|c| c.calendar_id.as_deref());
    let calendar = match calendar_id {
        Some(id) => Some({
            // A change of this calendar either sees this clock or waits for it (as `schedule`).
            lock_key_shared(conn, &calendar_lock(id))?;
            calendar_store::find_calendar(conn, id)?
                .ok_or_else(|| DbError::Refused(format!("the clock's calendar `{id}` is not stored")))?
        }),
        None => None,
    };
    let province = last.as_ref().and_then(|c| c.province.as_deref());
    let area_path = last.as_ref().map(LastClock::area_path).transpose()?.unwrap_or_default();
    let start = from_db_time(started_at);
    let (due, steps) = policy::ladder(&stage, calendar.as_ref(), start, &area_path)
        .map_err(|e| DbError::Refused(format!("stage `{}`: {e}", stage.stage)))?;
    let met_at = store::answered_since(conn, &reopened.message_id, started_at)?;
    let clock = NewClock {
        message_id: &reopened.message_id,
        tracking_code: &reopened.tracking_code,
        agency_id: &reopened.agency_id,
        stage: &stage,
        steps: &steps,
        started_at,
        due_at: to_db_time(due),
        met_at,
        policy_id: last.as_ref().and_then(|c| c.policy_id.as_deref()),
        calendar_id,
        province,
        area_path: &area_path,
        escalation_agency_id: last.as_ref().and_then(|c| c.escalation_agency_id.as_deref()),
        agency_ancestors: last.as_ref().and_then(|c| c.agency_ancestors.clone()),
        subject: None,
    };
    let deadline_id = store::insert_clock(conn, &clock)?;
    if let Some(met_at) = met_at {
        let event = DeadlineMet {
            subject: None,
            deadline_id,
            message_id: reopened.message_id.clone(),
            stage: stage.stage.clone(),
            due_at: due,
            met_at: from_db_time(met_at),
            answered_late: false,
        };
        outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
        return Ok(None);
    }
    let event = DeadlineScheduled {
        subject: None,
        deadline_id,
        message_id: reopened.message_id.clone(),
        tracking_code: reopened.tracking_code.clone(),
        agency_id: reopened.agency_id.clone(),
        stage: stage.stage.clone(),
        started_at: start,
        due_at: due,
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    Ok(steps.first().map(|s| s.at()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn calendar() -> Calendar {
        let document = serde_json::from_str(crate::DEFAULT_CALENDAR).unwrap();
        Calendar::from_document(document).unwrap()
    }

    #[test]
    fn the_window_counts_working_days_on_the_calendar() {
        // Saturday 1405-09-08 (2026-11-29), 10:00 Tehran; Thursdays and Fridays are off.
        let answered = Utc.with_ymd_and_hms(2026, 11, 29, 6, 30, 0).unwrap();
        let until = reopen_until(Some(&calendar()), answered, 10, &["isfahan".to_string()]);
        // Ten working days after Saturday: Sun–Wed, Sat–Wed, Sat → the second Saturday after,
        // at the close of its working hours (14:30 Tehran, 11:00 UTC).
        assert_eq!(until, Utc.with_ymd_and_hms(2026, 12, 13, 11, 0, 0).unwrap());
        assert!(until - answered > Duration::days(10), "working days are longer than calendar days");
    }

    #[test]
    fn without_a_calendar_the_window_is_plain_days() {
        let answered = Utc.with_ymd_and_hms(2026, 11, 29, 6, 30, 0).unwrap();
        assert_eq!(reopen_until(None, answered, 10, &[]), answered + Duration::days(10));
    }
}
