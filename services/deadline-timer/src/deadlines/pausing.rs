//! Pausing a stage while the agency waits for the citizen, and resuming it with the budget it
//! had left: every step still to come keeps the working time (round-the-clock time for plain
//! budgets) that separated it from the pause, counted again from the resumption.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key_shared, to_db_time};
use nazer_shared::events::{DeadlinePaused, DeadlineResumed, DeadlineState};
use nazer_shared::http::ApiError;
use nazer_shared::outbox;
use nazer_shared::select_for_update;
use nazer_shared::topology::DEADLINE_TIMER;
use serde::{Deserialize, Serialize};

use crate::calendar::change::calendar_lock;
use crate::calendar::store as calendar_store;
use crate::calendar::{Calendar, CalendarError};
use crate::deadlines::moving::steps_done;
use crate::deadlines::store::{self, DeadlineView, announced_as, area_path_of, decode, encode, stage_label, state_of};
use crate::policy::{self, LadderError, StagePolicy, Step};
use crate::schema::deadlines;

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no deadline of this agency has this id")]
    NotFound,
    #[error("the stage is `{0}`; {1}")]
    WrongState(DeadlineState, &'static str),
}

nazer_shared::from_diesel_error!(PauseError);

impl From<PauseError> for ApiError {
    fn from(error: PauseError) -> Self {
        match error {
            PauseError::Db(error) => error.into(),
            error @ PauseError::NotFound => ApiError::NotFound(error.to_string()),
            error @ PauseError::WrongState(..) => ApiError::Conflict(error.to_string()),
        }
    }
}

/// Moves `instant` (after `paused_at`) so that it lies as far after `resumed_at` as it lay
/// after the pause: in working time on the calendar, or plainly for round-the-clock budgets.
pub fn shift(
    instant: DateTime<Utc>,
    paused_at: DateTime<Utc>,
    resumed_at: DateTime<Utc>,
    calendar: Option<&Calendar>,
    area_path: &[String],
) -> Result<DateTime<Utc>, CalendarError> {
    match calendar {
        Some(calendar) => {
            let left = calendar.working_time_between(paused_at, instant, area_path);
            calendar.add_working_time(resumed_at, left, area_path)
        }
        None => Ok(resumed_at + (instant - paused_at)),
    }
}

/// A deadline, as much of it as pausing and resuming need.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct Row {
    id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    stage: String,
    started_at: NaiveDateTime,
    calendar_id: Option<String>,
    province: Option<String>,
    area_path: String,
    state: String,
    stage_policy: String,
    ladder: String,
    next_step: i32,
    paused_at: Option<NaiveDateTime>,
    pauses: String,
    subject_kind: String,
    subject_message_id: Option<String>,
    stage_fa: Option<String>,
}

/// A message's clock, locked; only the agency's own when `agency` is given. Another subject's
/// clocks pause and resume by their owner's events only.
fn locked(conn: &mut DbConnection, id: &str, agency: Option<&str>) -> Result<Row, PauseError> {
    let rows: Vec<Row> = select_for_update!(
        conn,
        deadlines::table
            .filter(deadlines::id.eq(id))
            .filter(deadlines::subject_kind.eq(store::MESSAGE_SUBJECT))
            .select(Row::as_select())
    )?;
    let found = rows.into_iter().next().filter(|row| agency.is_none_or(|a| a == row.agency_id));
    found.ok_or(PauseError::NotFound)
}

/// The clocks of a subject's stage in `state`, locked, oldest first.
fn locked_stage(conn: &mut DbConnection, key: &str, stage: &str, state: DeadlineState) -> Result<Vec<Row>, DbError> {
    let rows = select_for_update!(
        conn,
        deadlines::table
            .filter(deadlines::message_id.eq(key))
            .filter(deadlines::subject_kind.ne(store::MESSAGE_SUBJECT))
            .filter(deadlines::stage.eq(stage))
            .filter(deadlines::state.eq(state.as_str()))
            .order(deadlines::id)
            .select(Row::as_select())
    )?;
    Ok(rows)
}

/// Pauses the running clock of a subject's stage as of `at`, the owner's instant (its owner
/// waits on someone outside); false when none runs (closed, paused already, or not heard of
/// yet). `now` is when this happens here.
pub fn pause_subject_stage(
    conn: &mut DbConnection,
    key: &str,
    stage: &str,
    reason: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, PauseError> {
    let mut paused = false;
    for row in locked_stage(conn, key, stage, DeadlineState::Pending)? {
        let id = row.id.clone();
        // Never before the clock started, nor after now.
        let at = at.max(from_db_time(row.started_at)).min(now);
        match pause_row(conn, row, reason, at, now) {
            Ok(()) => paused = true,
            // Its warning fell due before the owner's pause arrived: the warning stands.
            Err(PauseError::WrongState(state, why)) => {
                tracing::info!(deadline_id = %id, %state, why, "a subject's stage not paused");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(paused)
}

/// Resumes the paused clock of a subject's stage as of `at`, the owner's instant; false when
/// none is paused.
pub fn resume_subject_stage(
    conn: &mut DbConnection,
    key: &str,
    stage: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, PauseError> {
    let rows = locked_stage(conn, key, stage, DeadlineState::Paused)?;
    let resumed = !rows.is_empty();
    for row in rows {
        resume_row(conn, row, at.min(now), now)?;
    }
    Ok(resumed)
}

/// The due instant of a ladder: its level-1 step.
fn level_one(id: &str, steps: &[Step]) -> Result<DateTime<Utc>, DbError> {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Warning { level: 1, at } => Some(*at),
            _ => None,
        })
        .ok_or_else(|| DbError::Refused(format!("deadline `{id}` has no level-1 step")))
}

fn view(conn: &mut DbConnection, message_id: &str, id: &str) -> Result<DeadlineView, PauseError> {
    store::deadlines_of(conn, message_id)?.into_iter().find(|d| d.id == id).ok_or(PauseError::NotFound)
}

/// Stops a pending stage's clock; its ladder stands still until it is resumed.
pub fn pause(
    conn: &mut DbConnection,
    id: &str,
    agency: Option<&str>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<DeadlineView, PauseError> {
    let row = locked(conn, id, agency)?;
    let (message_id, id) = (row.message_id.clone(), row.id.clone());
    pause_row(conn, row, reason, now, now)?;
    view(conn, &message_id, &id)
}

/// Pauses a locked clock as of `at` (its ladder stops there); `now` is when it is recorded.
fn pause_row(
    conn: &mut DbConnection,
    row: Row,
    reason: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), PauseError> {
    let Row {
        id,
        message_id,
        tracking_code,
        agency_id,
        stage,
        state,
        ladder,
        next_step,
        subject_kind,
        subject_message_id,
        stage_fa,
        ..
    } = row;
    let stage = stage_label(&id, &stage, stage_fa.as_deref())?;
    let current = state_of(&id, &state)?;
    if current != DeadlineState::Pending {
        return Err(PauseError::WrongState(current, "only a pending stage can pause"));
    }
    // A warning already due (not yet registered by a busy firing loop) cannot be paused away.
    let steps: Vec<Step> = decode(&id, "ladder", &ladder)?;
    if steps.get(next_step.max(0) as usize).is_some_and(|s| matches!(s, Step::Warning { .. }) && s.at() <= at) {
        return Err(PauseError::WrongState(current, "its warning is already due"));
    }
    diesel::update(deadlines::table.find(&id))
        .set((
            deadlines::state.eq(DeadlineState::Paused.as_str()),
            deadlines::paused_at.eq(Some(to_db_time(at))),
            deadlines::next_fire_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let due_at = level_one(&id, &steps)?;
    let (message_id, subject) = announced_as(&message_id, &subject_kind, subject_message_id.as_deref());
    let event = DeadlinePaused {
        subject,
        deadline_id: id,
        message_id,
        tracking_code,
        agency_id,
        stage: stage.name,
        reason: reason.into(),
        due_at,
        paused_at: from_db_time(to_db_time(at)),
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    Ok(())
}

/// Starts a paused stage's clock again with the budget it had left.
pub fn resume(
    conn: &mut DbConnection,
    id: &str,
    agency: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DeadlineView, PauseError> {
    let row = locked(conn, id, agency)?;
    let (message_id, id) = (row.message_id.clone(), row.id.clone());
    resume_row(conn, row, now, now)?;
    view(conn, &message_id, &id)
}

/// Resumes a locked clock as of `at` (never before its pause); `now` is when it is recorded.
fn resume_row(conn: &mut DbConnection, row: Row, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), PauseError> {
    let Row {
        id,
        message_id,
        tracking_code,
        agency_id,
        stage,
        started_at,
        calendar_id,
        province,
        area_path,
        state,
        stage_policy,
        ladder,
        next_step,
        paused_at,
        pauses,
        subject_kind,
        subject_message_id,
        stage_fa,
    } = row;
    let current = state_of(&id, &state)?;
    let stage = stage_label(&id, &stage, stage_fa.as_deref())?;
    let Some(paused_at) = paused_at.filter(|_| current == DeadlineState::Paused).map(from_db_time) else {
        return Err(PauseError::WrongState(current, "only a paused stage can resume"));
    };
    let old: Vec<Step> = decode(&id, "ladder", &ladder)?;
    let stage_policy: StagePolicy = decode(&id, "policy", &stage_policy)?;
    let area_path = area_path_of(&id, &area_path, province.as_deref())?;
    let mut pauses: Vec<Pause> = decode(&id, "pauses", &pauses)?;
    let calendar = match &calendar_id {
        Some(calendar) => {
            // A change of the calendar either sees this clock running again or waits for it.
            lock_key_shared(conn, &calendar_lock(calendar))?;
            calendar_store::find_calendar(conn, calendar)?
        }
        None => None,
    };
    let at = at.max(paused_at);
    pauses.push(Pause { paused_at, resumed_at: from_db_time(to_db_time(at)) });
    // Recomputed from the start on today's calendar, every pause put back in: a calendar edited
    // during the pause counts, and nothing of the budget is lost.
    let (due, steps) = recompute(&stage_policy, calendar.as_ref(), from_db_time(started_at), &area_path, &pauses)
        .map_err(|e| DbError::Refused(format!("deadline `{id}`: {e}")))?;
    let done = steps_done(&old, next_step.max(0) as usize, &steps);
    diesel::update(deadlines::table.find(&id))
        .set((
            deadlines::state.eq(DeadlineState::Pending.as_str()),
            deadlines::paused_at.eq(None::<NaiveDateTime>),
            deadlines::pauses.eq(encode(&pauses)?),
            deadlines::due_at.eq(to_db_time(due)),
            deadlines::ladder.eq(encode(&steps)?),
            deadlines::next_step.eq(done as i32),
            deadlines::next_fire_at.eq(steps.get(done).map(|s| to_db_time(s.at()))),
        ))
        .execute(conn)?;
    let (message_id, subject) = announced_as(&message_id, &subject_kind, subject_message_id.as_deref());
    let event = DeadlineResumed {
        subject,
        deadline_id: id,
        message_id,
        tracking_code,
        agency_id,
        stage: stage.name,
        due_at: due,
        resumed_at: from_db_time(to_db_time(at)),
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    Ok(())
}

/// One past pause of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub paused_at: DateTime<Utc>,
    pub resumed_at: DateTime<Utc>,
}

/// A stage's due instant and ladder counted from its start on `calendar`, with each past pause
/// put back in: every step not yet reached when the clock stopped moves on by the pause.
pub fn recompute(
    stage: &StagePolicy,
    calendar: Option<&Calendar>,
    start: DateTime<Utc>,
    area_path: &[String],
    pauses: &[Pause],
) -> Result<(DateTime<Utc>, Vec<Step>), LadderError> {
    let (mut due, mut steps) = policy::ladder(stage, calendar, start, area_path)?;
    let shift_on = stage.clock(calendar);
    for pause in pauses {
        let moved = |at: DateTime<Utc>| -> Result<DateTime<Utc>, CalendarError> {
            if at < pause.paused_at {
                Ok(at)
            } else {
                shift(at, pause.paused_at, pause.resumed_at, shift_on, area_path)
            }
        };
        for step in &mut steps {
            *step = match *step {
                Step::Reminder { fraction, at } => Step::Reminder { fraction, at: moved(at)? },
                Step::Warning { level, at } => Step::Warning { level, at: moved(at)? },
            };
        }
        due = moved(due)?;
    }
    Ok((due, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::tests::{path, tehran};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_resumed_clock_keeps_the_working_time_it_had_left() {
        let calendar = tehran();
        // Paused Saturday 10:00 with the due instant Sunday 09:00: 4.5 h + 1.5 h left.
        let paused = at("2026-11-28T10:00:00+03:30");
        let due = at("2026-11-29T09:00:00+03:30");
        // Resumed Monday 13:00: 1.5 h on Monday, then 4.5 h on Wednesday (Tuesday is closed
        // in Tehran).
        let resumed = at("2026-11-30T13:00:00+03:30");
        let moved = shift(due, paused, resumed, Some(&calendar), &path(&["tehran"])).unwrap();
        assert_eq!(calendar.local_rfc3339(moved), "2026-12-02T12:00:00+03:30");
        let moved = shift(due, paused, resumed, Some(&calendar), &path(&["fars"])).unwrap();
        assert_eq!(calendar.local_rfc3339(moved), "2026-12-01T12:00:00+03:30");
    }

    #[test]
    fn a_plain_clock_keeps_its_round_the_clock_time() {
        let moved =
            shift(at("2026-11-28T12:00:00Z"), at("2026-11-28T10:00:00Z"), at("2026-11-29T00:00:00Z"), None, &[]);
        assert_eq!(moved.unwrap(), at("2026-11-29T02:00:00Z"));
    }
}
