//! The clocks of the cases' stages, as deadline-timer reports them (its events naming a
//! `violation_case` subject): kept beside the cases so a case's view shows each stage's due
//! instant, state and highest warning without asking another service. Events may overtake each
//! other: a fact older than the one shown changes nothing, and a final state is never undone.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{
    DeadlineMet, DeadlineMoved, DeadlinePaused, DeadlineResumed, DeadlineScheduled, DeadlineState, Envelope,
    StageSubject, WarningIssued,
};
use nazer_shared::inbox::{HandlerError, Handlers};
use serde::Serialize;

use super::clock::SUBJECT_KIND;
use crate::schema::violation_case_deadlines;

/// One stage clock of a case, as its track shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ViolationCaseDeadline)]
pub struct CaseDeadline {
    pub deadline_id: String,
    /// The stage it runs to, e.g. `remedial.referred`.
    pub stage: String,
    /// Who answers for it: the agency, `special-follow-up` for 1888's verdict, or the
    /// counterpart unit (`unit:<id>`) for a culpability stage.
    pub agency_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
    /// `pending`, `paused`, `met`, `breached` or `answered_late` (reached after its warning).
    pub state: DeadlineState,
    /// The highest warning level registered on it; 0 for none.
    pub warning_level: i32,
}

/// What one event reports of a case's clock.
struct Reported {
    deadline_id: String,
    case_id: String,
    stage: String,
    agency_id: Option<String>,
    started_at: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
    state: DeadlineState,
    warning_level: i32,
}

/// The case a clock event is about, if it is about a case.
fn case_of(subject: &Option<StageSubject>) -> Option<String> {
    subject.as_ref().filter(|s| s.kind == SUBJECT_KIND).map(|s| s.id.clone())
}

/// Adds the handlers that keep the cases' clocks to violation-referral's.
pub fn handlers(handlers: Handlers<()>) -> Handlers<()> {
    handlers
        .on_subject::<DeadlineScheduled>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let state = DeadlineState::Pending;
            let reported = Reported {
                deadline_id: e.deadline_id,
                case_id,
                stage: e.stage,
                agency_id: Some(e.agency_id),
                started_at: Some(e.started_at),
                due_at: e.due_at,
                state,
                warning_level: 0,
            };
            record(conn, reported, envelope)
        })
        .on_subject::<DeadlineMoved>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let (agency_id, due_at) = (Some(e.agency_id), e.due_at);
            record(conn, about(e.deadline_id, case_id, e.stage, agency_id, due_at, DeadlineState::Pending), envelope)
        })
        .on_subject::<DeadlinePaused>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let (agency_id, due_at) = (Some(e.agency_id), e.due_at);
            record(conn, about(e.deadline_id, case_id, e.stage, agency_id, due_at, DeadlineState::Paused), envelope)
        })
        .on_subject::<DeadlineResumed>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let (agency_id, due_at) = (Some(e.agency_id), e.due_at);
            record(conn, about(e.deadline_id, case_id, e.stage, agency_id, due_at, DeadlineState::Pending), envelope)
        })
        .on_subject::<DeadlineMet>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let state = if e.answered_late { DeadlineState::AnsweredLate } else { DeadlineState::Met };
            record(conn, about(e.deadline_id, case_id, e.stage, None, e.due_at, state), envelope)
        })
        .on_subject::<WarningIssued>(SUBJECT_KIND, |_, conn, e, envelope, _| {
            let Some(case_id) = case_of(&e.subject) else { return Ok(()) };
            let mut reported =
                about(e.deadline_id, case_id, e.stage, Some(e.agency_id), e.due_at, DeadlineState::Breached);
            reported.warning_level = e.level;
            record(conn, reported, envelope)
        })
}

fn about(
    deadline_id: String,
    case_id: String,
    stage: String,
    agency_id: Option<String>,
    due_at: DateTime<Utc>,
    state: DeadlineState,
) -> Reported {
    Reported { deadline_id, case_id, stage, agency_id, started_at: None, due_at, state, warning_level: 0 }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = violation_case_deadlines)]
struct Shown {
    state: String,
    warning_level: i32,
    updated_at: NaiveDateTime,
}

fn stored_state(text: &str) -> Result<DeadlineState, DbError> {
    DeadlineState::parse(text).ok_or_else(|| DbError::Refused(format!("unknown deadline state `{text}` stored")))
}

fn record(conn: &mut DbConnection, reported: Reported, envelope: &Envelope) -> Result<(), HandlerError> {
    let as_of = to_db_time(envelope.occurred_at);
    let table = violation_case_deadlines::table;
    let shown: Option<Shown> = table.find(&reported.deadline_id).select(Shown::as_select()).first(conn).optional()?;
    match shown {
        None => {
            diesel::insert_into(table)
                .values((
                    violation_case_deadlines::deadline_id.eq(&reported.deadline_id),
                    violation_case_deadlines::case_id.eq(&reported.case_id),
                    violation_case_deadlines::stage.eq(&reported.stage),
                    violation_case_deadlines::agency_id.eq(reported.agency_id.as_deref().unwrap_or_default()),
                    violation_case_deadlines::started_at.eq(reported.started_at.map(to_db_time)),
                    violation_case_deadlines::due_at.eq(to_db_time(reported.due_at)),
                    violation_case_deadlines::state.eq(reported.state.as_str()),
                    violation_case_deadlines::warning_level.eq(reported.warning_level),
                    violation_case_deadlines::updated_at.eq(as_of),
                ))
                .execute(conn)?;
        }
        Some(shown) => {
            let target = table.find(&reported.deadline_id);
            // Whatever the order, the highest level stays, and facts only ever fill in.
            let level = shown.warning_level.max(reported.warning_level);
            diesel::update(target).set(violation_case_deadlines::warning_level.eq(level)).execute(conn)?;
            if let Some(agency_id) = &reported.agency_id {
                diesel::update(target).set(violation_case_deadlines::agency_id.eq(agency_id)).execute(conn)?;
            }
            if let Some(started_at) = reported.started_at {
                diesel::update(target)
                    .set(violation_case_deadlines::started_at.eq(Some(to_db_time(started_at))))
                    .execute(conn)?;
            }
            if shown.updated_at <= as_of {
                let next = stored_state(&shown.state)?.shown_after(reported.state);
                diesel::update(target)
                    .set((
                        violation_case_deadlines::state.eq(next.as_str()),
                        violation_case_deadlines::due_at.eq(to_db_time(reported.due_at)),
                        violation_case_deadlines::updated_at.eq(as_of),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = violation_case_deadlines)]
struct Row {
    deadline_id: String,
    stage: String,
    agency_id: String,
    started_at: Option<NaiveDateTime>,
    due_at: NaiveDateTime,
    state: String,
    warning_level: i32,
}

/// The clocks of a case, in the order they started.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> Result<Vec<CaseDeadline>, DbError> {
    let rows: Vec<Row> = violation_case_deadlines::table
        .filter(violation_case_deadlines::case_id.eq(case_id))
        .order((violation_case_deadlines::started_at, violation_case_deadlines::deadline_id))
        .select(Row::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(CaseDeadline {
                state: stored_state(&row.state)?,
                deadline_id: row.deadline_id,
                stage: row.stage,
                agency_id: row.agency_id,
                started_at: row.started_at.map(from_db_time),
                due_at: from_db_time(row.due_at),
                warning_level: row.warning_level,
            })
        })
        .collect()
}

/// Whether the clock of the case's `stage` ran out (as last reported).
pub fn breached(conn: &mut DbConnection, case_id: &str, stage: &str) -> Result<bool, DbError> {
    let count: i64 = violation_case_deadlines::table
        .filter(violation_case_deadlines::case_id.eq(case_id))
        .filter(violation_case_deadlines::stage.eq(stage))
        .filter(violation_case_deadlines::state.eq(DeadlineState::Breached.as_str()))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}
