//! Deadline-timer's reads and writes. Deadlines start on assignment, are met by a response, and
//! turn into exactly one warning per level when they run out, whatever the number of replicas:
//! due rows are claimed with `FOR UPDATE SKIP LOCKED` and a unique key on (deadline, level)
//! refuses a second warning.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, to_db_time};
use nazer_shared::events::{DeadlineMet, DeadlineScheduled, MessageAssigned, MessageResponded, WarningIssued};
use nazer_shared::iran::{persian_date_time, persian_digits};
use nazer_shared::outbox;
use nazer_shared::select_skip_locked;
use nazer_shared::topology::DEADLINE_TIMER;
use serde::Serialize;
use uuid::Uuid;

use crate::calendar::Budget;
use crate::schema::{deadlines, responded_messages, stage_budgets, warnings};

pub const RESPOND: &str = "respond";
/// Budgets of this category apply to every category without its own.
pub const ANY_CATEGORY: &str = "*";

pub mod state {
    pub const PENDING: &str = "pending";
    pub const MET: &str = "met";
    pub const BREACHED: &str = "breached";
}

pub const REASON_OVERDUE: &str = "deadline_passed";

/// The budget of `stage` for `category`: its own, else the `*` one, else `fallback`.
pub fn budget_for(
    conn: &mut DbConnection,
    category: &str,
    stage: &str,
    fallback: &str,
) -> Result<(String, Budget), DbError> {
    let rows: Vec<(String, String)> = stage_budgets::table
        .filter(stage_budgets::stage.eq(stage))
        .filter(stage_budgets::category.eq_any([category, ANY_CATEGORY]))
        .select((stage_budgets::category, stage_budgets::budget))
        .load(conn)?;
    let chosen = rows
        .iter()
        .find(|(c, _)| c == category)
        .or_else(|| rows.iter().find(|(c, _)| c == ANY_CATEGORY))
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| fallback.to_string());
    let budget = Budget::parse(&chosen).map_err(|e| DbError::Refused(e.to_string()))?;
    Ok((chosen, budget))
}

/// What the deadline of `budget` started at `start` is. Business-hour and business-day budgets
/// need the stored business calendars of the deadline engine; until a stage has one, only
/// plain durations can be scheduled (the API refuses the others).
pub fn due_of(budget: Budget, start: DateTime<Utc>) -> Result<DateTime<Utc>, DbError> {
    match budget {
        Budget::Plain(duration) => Ok(start + duration),
        other => Err(DbError::Refused(format!("budget {other:?} needs a business calendar"))),
    }
}

pub fn put_budget(conn: &mut DbConnection, category: &str, stage: &str, budget: &str) -> Result<(), DbError> {
    let exists: i64 = stage_budgets::table.find((category, stage)).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(stage_budgets::table.find((category, stage)))
            .set(stage_budgets::budget.eq(budget))
            .execute(conn)?;
    } else {
        diesel::insert_into(stage_budgets::table)
            .values((
                stage_budgets::category.eq(category),
                stage_budgets::stage.eq(stage),
                stage_budgets::budget.eq(budget),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetView {
    pub category: String,
    pub stage: String,
    pub budget: String,
}

pub fn list_budgets(conn: &mut DbConnection) -> Result<Vec<BudgetView>, DbError> {
    let rows: Vec<(String, String, String)> = stage_budgets::table
        .order((stage_budgets::category, stage_budgets::stage))
        .select((stage_budgets::category, stage_budgets::stage, stage_budgets::budget))
        .load(conn)?;
    Ok(rows.into_iter().map(|(category, stage, budget)| BudgetView { category, stage, budget }).collect())
}

/// Starts the respond clock of an assigned message (once, however often the event arrives).
/// A response that overtook the assignment leaves the deadline met from the start.
pub fn schedule(
    conn: &mut DbConnection,
    assigned: &MessageAssigned,
    fallback_budget: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    // A response handled at the same moment must see this deadline, or this must see it.
    lock_key(conn, &assigned.message_id)?;
    let existing: i64 = deadlines::table
        .filter(deadlines::message_id.eq(&assigned.message_id))
        .filter(deadlines::stage.eq(RESPOND))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(None);
    }
    let (budget_text, budget) = budget_for(conn, &assigned.category, RESPOND, fallback_budget)?;
    // The clock starts at the assignment, not when this service got round to it.
    let started_at = to_db_time(assigned.assigned_at);
    let due_at = to_db_time(due_of(budget, from_db_time(started_at))?);
    let responded: Option<NaiveDateTime> = responded_messages::table
        .find(&assigned.message_id)
        .select(responded_messages::responded_at)
        .first(conn)
        .optional()?;
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(deadlines::table)
        .values((
            deadlines::id.eq(&id),
            deadlines::message_id.eq(&assigned.message_id),
            deadlines::tracking_code.eq(&assigned.tracking_code),
            deadlines::agency_id.eq(&assigned.agency_id),
            deadlines::stage.eq(RESPOND),
            deadlines::budget.eq(&budget_text),
            deadlines::started_at.eq(started_at),
            deadlines::due_at.eq(due_at),
            deadlines::state.eq(if responded.is_some() { state::MET } else { state::PENDING }),
            deadlines::closed_at.eq(responded),
        ))
        .execute(conn)?;
    match responded {
        Some(met_at) => {
            let event = DeadlineMet {
                deadline_id: id,
                message_id: assigned.message_id.clone(),
                stage: RESPOND.into(),
                due_at: from_db_time(due_at),
                met_at: from_db_time(met_at),
            };
            outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
            Ok(None)
        }
        None => {
            let event = DeadlineScheduled {
                deadline_id: id,
                message_id: assigned.message_id.clone(),
                tracking_code: assigned.tracking_code.clone(),
                agency_id: assigned.agency_id.clone(),
                stage: RESPOND.into(),
                started_at: from_db_time(started_at),
                due_at: from_db_time(due_at),
            };
            outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
            Ok(Some(from_db_time(due_at)))
        }
    }
}

/// A response meets the message's pending deadlines and stops their clocks.
pub fn meet(conn: &mut DbConnection, responded: &MessageResponded, now: DateTime<Utc>) -> Result<usize, DbError> {
    lock_key(conn, &responded.message_id)?;
    let seen: i64 = responded_messages::table.find(&responded.message_id).count().get_result(conn)?;
    if seen == 0 {
        diesel::insert_into(responded_messages::table)
            .values((
                responded_messages::message_id.eq(&responded.message_id),
                responded_messages::responded_at.eq(to_db_time(responded.responded_at)),
            ))
            .execute(conn)?;
    }
    let met_at = to_db_time(responded.responded_at);
    let closed: Vec<(String, String, NaiveDateTime)> = diesel::update(
        deadlines::table
            .filter(deadlines::message_id.eq(&responded.message_id))
            .filter(deadlines::state.eq(state::PENDING)),
    )
    .set((deadlines::state.eq(state::MET), deadlines::closed_at.eq(Some(met_at))))
    .returning((deadlines::id, deadlines::stage, deadlines::due_at))
    .get_results(conn)?;
    for (deadline_id, stage, due_at) in &closed {
        let event = DeadlineMet {
            deadline_id: deadline_id.clone(),
            message_id: responded.message_id.clone(),
            stage: stage.clone(),
            due_at: from_db_time(*due_at),
            met_at: from_db_time(met_at),
        };
        outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    }
    Ok(closed.len())
}

/// The warning text agencies read: «مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید».
pub fn overdue_text(tracking_code: &str, due_at: DateTime<Utc>) -> String {
    format!(
        "مهلت رسیدگی به پیام {} در تاریخ {} به پایان رسید",
        persian_digits(tracking_code),
        persian_date_time(due_at)
    )
}

type DueRow = (String, String, String, String, String, NaiveDateTime);

/// Claims up to `limit` deadlines due at `now` and registers their level-1 warnings. Call it in
/// a write transaction: the claim, the warnings and their events commit together or not at all.
pub fn fire_due(conn: &mut DbConnection, now: DateTime<Utc>, limit: i64) -> Result<Vec<WarningIssued>, DbError> {
    let cutoff = to_db_time(now);
    let ids: Vec<String> = select_skip_locked!(
        conn,
        deadlines::table
            .filter(deadlines::state.eq(state::PENDING))
            .filter(deadlines::due_at.le(cutoff))
            .order(deadlines::due_at)
            .limit(limit)
            .select(deadlines::id)
    )?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let due: Vec<DueRow> =
        diesel::update(deadlines::table.filter(deadlines::id.eq_any(&ids)).filter(deadlines::state.eq(state::PENDING)))
            .set((deadlines::state.eq(state::BREACHED), deadlines::closed_at.eq(Some(cutoff))))
            .returning((
                deadlines::id,
                deadlines::message_id,
                deadlines::tracking_code,
                deadlines::agency_id,
                deadlines::stage,
                deadlines::due_at,
            ))
            .get_results(conn)?;
    let mut issued = Vec::with_capacity(due.len());
    for (deadline_id, message_id, tracking_code, agency_id, stage, due_at) in due {
        let due_at = from_db_time(due_at);
        let warning = WarningIssued {
            warning_id: Uuid::now_v7().to_string(),
            deadline_id,
            message_id,
            text_fa: overdue_text(&tracking_code, due_at),
            tracking_code,
            agency_id,
            stage,
            level: 1,
            reason: REASON_OVERDUE.into(),
            due_at,
            issued_at: from_db_time(cutoff),
        };
        diesel::insert_into(warnings::table)
            .values((
                warnings::id.eq(&warning.warning_id),
                warnings::deadline_id.eq(&warning.deadline_id),
                warnings::message_id.eq(&warning.message_id),
                warnings::tracking_code.eq(&warning.tracking_code),
                warnings::agency_id.eq(&warning.agency_id),
                warnings::level.eq(warning.level),
                warnings::reason.eq(&warning.reason),
                warnings::text_fa.eq(&warning.text_fa),
                warnings::due_at.eq(to_db_time(due_at)),
                warnings::issued_at.eq(cutoff),
            ))
            .execute(conn)?;
        outbox::enqueue(conn, DEADLINE_TIMER, &warning, now)?;
        issued.push(warning);
    }
    Ok(issued)
}

/// The earliest pending due instant, to sleep exactly until it.
pub fn next_due(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, DbError> {
    let next: Option<NaiveDateTime> = deadlines::table
        .filter(deadlines::state.eq(state::PENDING))
        .select(diesel::dsl::min(deadlines::due_at))
        .first(conn)?;
    Ok(next.map(from_db_time))
}

pub fn pending_count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(deadlines::table.filter(deadlines::state.eq(state::PENDING)).count().get_result(conn)?)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarningView {
    pub id: String,
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub level: i32,
    pub reason: String,
    pub text_fa: String,
    pub due_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone)]
pub struct WarningFilter {
    pub agency_id: Option<String>,
    pub message_id: Option<String>,
    pub level: Option<i32>,
    pub limit: i64,
}

pub fn list_warnings(conn: &mut DbConnection, filter: &WarningFilter) -> Result<Vec<WarningView>, DbError> {
    let mut query = warnings::table.into_boxed();
    if let Some(agency) = &filter.agency_id {
        query = query.filter(warnings::agency_id.eq(agency.clone()));
    }
    if let Some(message) = &filter.message_id {
        query = query.filter(warnings::message_id.eq(message.clone()));
    }
    if let Some(level) = filter.level {
        query = query.filter(warnings::level.eq(level));
    }
    type Row = (String, String, String, String, String, i32, String, String, NaiveDateTime, NaiveDateTime);
    let rows: Vec<Row> = query
        .order((warnings::issued_at.desc(), warnings::id.desc()))
        .limit(filter.limit)
        .select((
            warnings::id,
            warnings::deadline_id,
            warnings::message_id,
            warnings::tracking_code,
            warnings::agency_id,
            warnings::level,
            warnings::reason,
            warnings::text_fa,
            warnings::due_at,
            warnings::issued_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, deadline_id, message_id, tracking_code, agency_id, level, reason, text_fa, due_at, issued_at)| {
            WarningView {
                id,
                deadline_id,
                message_id,
                tracking_code,
                agency_id,
                level,
                reason,
                text_fa,
                due_at: from_db_time(due_at),
                issued_at: from_db_time(issued_at),
            }
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineView {
    pub id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: String,
    pub budget: String,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub state: String,
}

pub fn deadlines_of(conn: &mut DbConnection, message_id: &str) -> Result<Vec<DeadlineView>, DbError> {
    type Row = (String, String, String, String, String, String, NaiveDateTime, NaiveDateTime, String);
    let rows: Vec<Row> = deadlines::table
        .filter(deadlines::message_id.eq(message_id))
        .order(deadlines::due_at)
        .select((
            deadlines::id,
            deadlines::message_id,
            deadlines::tracking_code,
            deadlines::agency_id,
            deadlines::stage,
            deadlines::budget,
            deadlines::started_at,
            deadlines::due_at,
            deadlines::state,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, message_id, tracking_code, agency_id, stage, budget, started_at, due_at, state)| DeadlineView {
            id,
            message_id,
            tracking_code,
            agency_id,
            stage,
            budget,
            started_at: from_db_time(started_at),
            due_at: from_db_time(due_at),
            state,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn warning_text_carries_the_code_and_the_jalali_due_date() {
        let due = Utc.with_ymd_and_hms(2026, 12, 2, 11, 0, 0).unwrap();
        assert_eq!(
            overdue_text("1234567890", due),
            "مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید"
        );
    }
}
