//! Pausing a stage while the agency waits for the citizen, and resuming it with the budget it
//! had left: every step still to come keeps the working time (round-the-clock time for plain
//! budgets) that separated it from the pause, counted again from the resumption.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{DeadlinePaused, DeadlineResumed};
use nazer_shared::outbox;
use nazer_shared::select_for_update;
use nazer_shared::topology::DEADLINE_TIMER;

use crate::calendar::{Budget, Calendar, CalendarError};
use crate::calendar_store;
use crate::policy::{StagePolicy, Step};
use crate::schema::deadlines;
use crate::store::{self, DeadlineView, state};

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no deadline of this agency has this id")]
    NotFound,
    #[error("the stage is `{0}`; {1}")]
    WrongState(String, &'static str),
}

impl From<diesel::result::Error> for PauseError {
    fn from(error: diesel::result::Error) -> Self {
        PauseError::Db(error.into())
    }
}

/// Moves `instant` (after `paused_at`) so that it lies as far after `resumed_at` as it lay
/// after the pause: in working time on the calendar, or plainly for round-the-clock budgets.
pub fn shift(
    instant: DateTime<Utc>,
    paused_at: DateTime<Utc>,
    resumed_at: DateTime<Utc>,
    calendar: Option<&Calendar>,
    province: Option<&str>,
) -> Result<DateTime<Utc>, CalendarError> {
    match calendar {
        Some(calendar) => {
            let left = calendar.working_time_between(paused_at, instant, province);
            calendar.add_working_time(resumed_at, left, province)
        }
        None => Ok(resumed_at + (instant - paused_at)),
    }
}

type Row = (
    (String, String, String, String, String),
    (Option<String>, Option<String>, String, String, String, i32, Option<NaiveDateTime>),
);

/// The deadline, locked; only the agency's own when `agency` is given.
fn locked(conn: &mut DbConnection, id: &str, agency: Option<&str>) -> Result<Row, PauseError> {
    let rows: Vec<Row> = select_for_update!(
        conn,
        deadlines::table.filter(deadlines::id.eq(id)).select((
            (deadlines::id, deadlines::message_id, deadlines::tracking_code, deadlines::agency_id, deadlines::stage),
            (
                deadlines::calendar_id,
                deadlines::province,
                deadlines::state,
                deadlines::stage_policy,
                deadlines::ladder,
                deadlines::next_step,
                deadlines::paused_at,
            ),
        ))
    )?;
    let found = rows.into_iter().next().filter(|((_, _, _, agency_id, _), _)| agency.is_none_or(|a| a == agency_id));
    found.ok_or(PauseError::NotFound)
}

/// The due instant of a ladder: its level-1 step.
fn level_one(id: &str, ladder: &str) -> Result<DateTime<Utc>, DbError> {
    let steps: Vec<Step> = serde_json::from_str(ladder)
        .map_err(|e| DbError::Refused(format!("deadline `{id}` has an unreadable ladder: {e}")))?;
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
    let ((id, message_id, tracking_code, agency_id, stage), (_, _, current, _, ladder, ..)) = locked(conn, id, agency)?;
    if current != state::PENDING {
        return Err(PauseError::WrongState(current, "only a pending stage can pause"));
    }
    diesel::update(deadlines::table.find(&id))
        .set((
            deadlines::state.eq(state::PAUSED),
            deadlines::paused_at.eq(Some(to_db_time(now))),
            deadlines::next_fire_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let event = DeadlinePaused {
        deadline_id: id.clone(),
        message_id: message_id.clone(),
        tracking_code,
        agency_id,
        stage,
        reason: reason.into(),
        due_at: level_one(&id, &ladder)?,
        paused_at: from_db_time(to_db_time(now)),
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    view(conn, &message_id, &id)
}

/// Starts a paused stage's clock again with the budget it had left.
pub fn resume(
    conn: &mut DbConnection,
    id: &str,
    agency: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DeadlineView, PauseError> {
    let ((id, message_id, tracking_code, agency_id, stage), rest) = locked(conn, id, agency)?;
    let (calendar_id, province, current, stage_policy, ladder, next_step, paused_at) = rest;
    let Some(paused_at) = paused_at.filter(|_| current == state::PAUSED).map(from_db_time) else {
        return Err(PauseError::WrongState(current, "only a paused stage can resume"));
    };
    let unreadable = |what: &str, e: serde_json::Error| DbError::Refused(format!("deadline `{id}` {what}: {e}"));
    let mut steps: Vec<Step> = serde_json::from_str(&ladder).map_err(|e| unreadable("ladder", e))?;
    let stage_policy: StagePolicy = serde_json::from_str(&stage_policy).map_err(|e| unreadable("policy", e))?;
    // Plain budgets run round the clock even on a policy with a calendar.
    let plain = matches!(Budget::parse(&stage_policy.budget), Ok(Budget::Plain(_)));
    let calendar = match (&calendar_id, plain) {
        (Some(calendar), false) => calendar_store::find_calendar(conn, calendar)?,
        _ => None,
    };
    let resumed_at = from_db_time(to_db_time(now));
    let moved = |at| {
        shift(at, paused_at, resumed_at, calendar.as_ref(), province.as_deref())
            .map_err(|e| DbError::Refused(format!("deadline `{id}`: {e}")))
    };
    let first = next_step.max(0) as usize;
    for step in steps.iter_mut().skip(first) {
        *step = match *step {
            Step::Reminder { fraction, at } => Step::Reminder { fraction, at: moved(at)? },
            Step::Warning { level, at } => Step::Warning { level, at: moved(at)? },
        };
    }
    let text = serde_json::to_string(&steps).map_err(|e| DbError::Encode(e.to_string()))?;
    let due = level_one(&id, &text)?;
    diesel::update(deadlines::table.find(&id))
        .set((
            deadlines::state.eq(state::PENDING),
            deadlines::paused_at.eq(None::<NaiveDateTime>),
            deadlines::due_at.eq(to_db_time(due)),
            deadlines::ladder.eq(text),
            deadlines::next_fire_at.eq(steps.get(first).map(|s| to_db_time(s.at()))),
        ))
        .execute(conn)?;
    let event = DeadlineResumed {
        deadline_id: id.clone(),
        message_id: message_id.clone(),
        tracking_code,
        agency_id,
        stage,
        due_at: due,
        resumed_at,
    };
    outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    view(conn, &message_id, &id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::tests::tehran;

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
        let moved = shift(due, paused, resumed, Some(&calendar), Some("tehran")).unwrap();
        assert_eq!(calendar.local_rfc3339(moved), "2026-12-02T12:00:00+03:30");
        let moved = shift(due, paused, resumed, Some(&calendar), Some("fars")).unwrap();
        assert_eq!(calendar.local_rfc3339(moved), "2026-12-01T12:00:00+03:30");
    }

    #[test]
    fn a_plain_clock_keeps_its_round_the_clock_time() {
        let moved =
            shift(at("2026-11-28T12:00:00Z"), at("2026-11-28T10:00:00Z"), at("2026-11-29T00:00:00Z"), None, None);
        assert_eq!(moved.unwrap(), at("2026-11-29T02:00:00Z"));
    }
}
