//! Clocks for the stages of other subjects than a message's own handling — a violation case's
//! track stages today, meeting instructions later. Their owners publish `stage.opened`,
//! `stage.closed`, `stage.paused` and `stage.resumed`; the clocks run exactly as a message's do
//! (business budget on the default calendar, reminders, the warning ladder, pause and resume,
//! every level once), and their events name the subject. This service knows nothing else of
//! the subject.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::encode_ancestors;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, lock_key_shared, to_db_time};
use nazer_shared::events::{DeadlineMet, DeadlineScheduled, StageClosed, StageOpened, StagePaused, StageResumed};
use nazer_shared::outbox;
use nazer_shared::topology::DEADLINE_TIMER;

use crate::calendar::change::calendar_lock;
use crate::calendar::store as calendar_store;
use crate::deadlines::pausing::{self, PauseError};
use crate::deadlines::store::{CloseScope, MESSAGE_SUBJECT, NewClock, SubjectClock, close_stages, insert_clock};
use crate::policy::{self, StagePolicy};
use crate::schema::{deadlines, subject_stage_marks};

impl From<PauseError> for DbError {
    fn from(error: PauseError) -> Self {
        match error {
            PauseError::Db(error) => error,
            other => DbError::Refused(other.to_string()),
        }
    }
}

/// What a subject's stage last heard from its owner.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = subject_stage_marks)]
struct Marks {
    closed_at: Option<NaiveDateTime>,
    paused_at: Option<NaiveDateTime>,
    pause_reason: Option<String>,
    resumed_at: Option<NaiveDateTime>,
}

impl Marks {
    /// Paused at the returned instant and not resumed since: the stage waits.
    fn waiting_since(&self) -> Option<NaiveDateTime> {
        self.paused_at.filter(|paused| self.resumed_at.is_none_or(|resumed| resumed < *paused))
    }
}

fn marks(conn: &mut DbConnection, subject_id: &str, stage: &str) -> Result<Option<Marks>, DbError> {
    Ok(subject_stage_marks::table.find((subject_id, stage)).select(Marks::as_select()).first(conn).optional()?)
}

/// Remembers what `change` makes of the stage's marks.
fn remember(
    conn: &mut DbConnection,
    subject_id: &str,
    stage: &str,
    change: impl FnOnce(&mut Marks),
) -> Result<Marks, DbError> {
    let known = marks(conn, subject_id, stage)?;
    let mut next = known.clone().unwrap_or_default();
    change(&mut next);
    let values = (
        subject_stage_marks::closed_at.eq(next.closed_at),
        subject_stage_marks::paused_at.eq(next.paused_at),
        subject_stage_marks::pause_reason.eq(next.pause_reason.clone()),
        subject_stage_marks::resumed_at.eq(next.resumed_at),
    );
    match known {
        None => {
            diesel::insert_into(subject_stage_marks::table)
                .values((subject_stage_marks::subject_id.eq(subject_id), subject_stage_marks::stage.eq(stage), values))
                .execute(conn)?;
        }
        Some(_) => {
            diesel::update(subject_stage_marks::table.find((subject_id, stage))).set(values).execute(conn)?;
        }
    }
    Ok(next)
}

/// The later of two instants, either possibly unknown.
fn latest(known: Option<NaiveDateTime>, at: NaiveDateTime) -> Option<NaiveDateTime> {
    Some(known.map_or(at, |known| known.max(at)))
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
    let marks = marks(conn, &subject.id, &opened.stage)?.unwrap_or_default();
    // A close at the very instant of an opening belongs to an earlier opening.
    let closed = marks.closed_at.filter(|at| *at > started_at);
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
        agency_ancestors: encode_ancestors(&opened.agency_ancestors),
        subject: Some(SubjectClock { kind: &subject.kind, message_id: &opened.message_id, stage_fa: &opened.stage_fa }),
    };
    let id = insert_clock(conn, &clock)?;
    match closed {
        // The owner reads how the stage ended, as it reads a stage closed after it opened.
        Some(met_at) => {
            let event = DeadlineMet {
                subject: Some(subject.clone()),
                deadline_id: id,
                message_id: opened.message_id.clone(),
                stage: opened.stage.clone(),
                due_at: due,
                met_at: from_db_time(met_at),
                answered_late: false,
            };
            outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
        }
        None => {
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
            // A pause that overtook the opening holds from its instant.
            if let Some(paused_at) = marks.waiting_since().filter(|at| *at >= started_at) {
                let reason = marks.pause_reason.as_deref().unwrap_or_default();
                let (key, stage) = (&subject.id, &opened.stage);
                pausing::pause_subject_stage(conn, key, stage, reason, from_db_time(paused_at), now)?;
            }
        }
    }
    Ok(true)
}

/// Stops the clocks of a subject's stage started before the close: met, or closed late if
/// warned about; the close is remembered in case it overtook the opening.
pub fn close(conn: &mut DbConnection, closed: &StageClosed, now: DateTime<Utc>) -> Result<usize, DbError> {
    let (subject, at) = (&closed.subject, to_db_time(closed.closed_at));
    lock_key(conn, &subject.id)?;
    remember(conn, &subject.id, &closed.stage, |marks| marks.closed_at = latest(marks.closed_at, at))?;
    let scope = CloseScope { key: &subject.id, agency_id: None, stages: &[closed.stage.as_str()] };
    close_stages(conn, &scope, closed.closed_at, now)
}

/// Pauses the running clock of a subject's stage as of the owner's instant; nothing when none
/// runs, or when a later resumption was heard already (the events came out of order).
pub fn pause(conn: &mut DbConnection, paused: &StagePaused, now: DateTime<Utc>) -> Result<bool, DbError> {
    let (key, at) = (&paused.subject.id, to_db_time(paused.paused_at));
    lock_key(conn, key)?;
    let marks = remember(conn, key, &paused.stage, |marks| {
        if marks.paused_at.is_none_or(|known| known < at) {
            marks.paused_at = Some(at);
            marks.pause_reason = Some(paused.reason.clone());
        }
    })?;
    if marks.waiting_since() != Some(at) {
        return Ok(false);
    }
    Ok(pausing::pause_subject_stage(conn, key, &paused.stage, &paused.reason, from_db_time(at), now)?)
}

/// Resumes the paused clock of a subject's stage as of the owner's instant; nothing when none
/// is paused (a pause arriving later is then known to be over).
pub fn resume(conn: &mut DbConnection, resumed: &StageResumed, now: DateTime<Utc>) -> Result<bool, DbError> {
    let (key, at) = (&resumed.subject.id, to_db_time(resumed.resumed_at));
    lock_key(conn, key)?;
    remember(conn, key, &resumed.stage, |marks| marks.resumed_at = latest(marks.resumed_at, at))?;
    Ok(pausing::resume_subject_stage(conn, key, &resumed.stage, from_db_time(at), now)?)
}
