//! Clocks for the stages of other subjects than a message's own handling — a violation case's
//! track stages today, meeting instructions later. Their owners publish `stage.opened`,
//! `stage.closed`, `stage.paused` and `stage.resumed`; the clocks run exactly as a message's do
//! (business budget on the default calendar, reminders, the warning ladder, pause and resume,
//! every level once), and their events name the subject. This service knows nothing else of
//! the subject.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, lock_key_shared, to_db_time};
use nazer_shared::events::{DeadlineScheduled, StageClosed, StageOpened, StagePaused, StageResumed};
use nazer_shared::outbox;
use nazer_shared::topology::DEADLINE_TIMER;

use crate::calendar::change::calendar_lock;
use crate::calendar::store as calendar_store;
use crate::deadlines::pausing::{self, PauseError};
use crate::deadlines::store::{CloseScope, MESSAGE_SUBJECT, NewClock, SubjectClock, close_stages, insert_clock};
use crate::policy::{self, StagePolicy};
use crate::schema::{deadlines, subject_stage_closures};

impl From<PauseError> for DbError {
    fn from(error: PauseError) -> Self {
        match error {
            PauseError::Db(error) => error,
            other => DbError::Refused(other.to_string()),
        }
    }
}

/// Starts the clock of a subject's stage, once per (subject, stage, start) however often the
/// event arrives. A close that overtook it leaves it met from the start. Refused (the event
/// parked) when the owner named the message kind or gave an unreadable budget.
pub fn open(conn: &mut DbConnection, opened: &StageOpened, now: DateTime<Utc>) -> Result<bool, DbError> {
    let subject = &opened.subject;
    if subject.kind == MESSAGE_SUBJECT || subject.kind.is_empty() || subject.id.is_empty() {
        return Err(DbError::Refused(format!("stage.opened names no subject of its own: `{}`", subject.kind)));
    }
    lock_key(conn, &subject.id)?;
    let started_at = to_db_time(opened.opened_at);
    let existing: i64 = deadlines::table
        .filter(deadlines::message_id.eq(&subject.id))
        .filter(deadlines::stage.eq(&opened.stage))
        .filter(deadlines::started_at.eq(started_at))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(false);
    }
    let stage = StagePolicy {
        stage: opened.stage.clone(),
        budget: opened.budget.clone(),
        reminders: opened.reminders.clone(),
        level_2_after: opened.level_2_after.clone(),
        level_3_after: opened.level_3_after.clone(),
    };
    // Business budgets count on the default calendar, with the closures of the subject's area.
    lock_key_shared(conn, &calendar_lock(crate::DEFAULT_CALENDAR_ID))?;
    let calendar = calendar_store::find_calendar(conn, crate::DEFAULT_CALENDAR_ID)?;
    let start = from_db_time(started_at);
    let area_path = crate::areas::message_area_path(&opened.province, &opened.area_path);
    let (due, steps) = policy::ladder(&stage, calendar.as_ref(), start, &area_path)
        .map_err(|e| DbError::Refused(format!("stage `{}` of {} `{}`: {e}", opened.stage, subject.kind, subject.id)))?;
    let closed: Option<NaiveDateTime> = subject_stage_closures::table
        .find((&subject.id, &opened.stage))
        .select(subject_stage_closures::closed_at)
        .first(conn)
        .optional()?
        // A close at the very instant of an opening belongs to an earlier opening.
        .filter(|at| *at > started_at);
    let clock = NewClock {
        message_id: &subject.id,
        tracking_code: &opened.tracking_code,
        agency_id: &opened.agency_id,
        stage: &stage,
        steps: &steps,
        started_at,
        due_at: to_db_time(due),
        met_at: closed,
        policy_id: None,
        calendar_id: calendar.as_ref().map(|_| crate::DEFAULT_CALENDAR_ID),
        province: Some(&opened.province),
        area_path: &area_path,
        escalation_agency_id: opened.escalation_agency_id.as_deref(),
        agency_ancestors: None,
        subject: Some(SubjectClock { kind: &subject.kind, message_id: &opened.message_id, stage_fa: &opened.stage_fa }),
    };
    let id = insert_clock(conn, &clock)?;
    if closed.is_none() {
        let event = DeadlineScheduled {
            subject: Some(subject.clone()),
            deadline_id: id,
            message_id: opened.message_id.clone(),
            tracking_code: opened.tracking_code.clone(),
            agency_id: opened.agency_id.clone(),
            stage: opened.stage.clone(),
            started_at: start,
            due_at: due,
        };
        outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    }
    Ok(true)
}

/// Stops the clocks of a subject's stage started before the close: met, or closed late if
/// warned about; the close is remembered in case it overtook the opening.
pub fn close(conn: &mut DbConnection, closed: &StageClosed, now: DateTime<Utc>) -> Result<usize, DbError> {
    let (subject, at) = (&closed.subject, to_db_time(closed.closed_at));
    lock_key(conn, &subject.id)?;
    let known: Option<NaiveDateTime> = subject_stage_closures::table
        .find((&subject.id, &closed.stage))
        .select(subject_stage_closures::closed_at)
        .first(conn)
        .optional()?;
    match known {
        None => {
            diesel::insert_into(subject_stage_closures::table)
                .values((
                    subject_stage_closures::subject_id.eq(&subject.id),
                    subject_stage_closures::stage.eq(&closed.stage),
                    subject_stage_closures::closed_at.eq(at),
                ))
                .execute(conn)?;
        }
        Some(earlier) if earlier < at => {
            diesel::update(subject_stage_closures::table.find((&subject.id, &closed.stage)))
                .set(subject_stage_closures::closed_at.eq(at))
                .execute(conn)?;
        }
        Some(_) => {}
    }
    let scope = CloseScope { key: &subject.id, agency_id: None, stages: &[closed.stage.as_str()] };
    close_stages(conn, &scope, closed.closed_at, now)
}

/// Pauses the running clock of a subject's stage; nothing when none runs. The clock stops when
/// the event is applied (as a message's pause does when asked), so the events announcing its
/// state stay in the order they happened here.
pub fn pause(conn: &mut DbConnection, paused: &StagePaused, now: DateTime<Utc>) -> Result<bool, DbError> {
    lock_key(conn, &paused.subject.id)?;
    Ok(pausing::pause_subject_stage(conn, &paused.subject.id, &paused.stage, &paused.reason, now)?)
}

/// Resumes the paused clock of a subject's stage; nothing when none is paused.
pub fn resume(conn: &mut DbConnection, resumed: &StageResumed, now: DateTime<Utc>) -> Result<bool, DbError> {
    lock_key(conn, &resumed.subject.id)?;
    Ok(pausing::resume_subject_stage(conn, &resumed.subject.id, &resumed.stage, now)?)
}
