//! Firing: the due steps of deadlines' ladders become reminders and warnings, each exactly once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{DeadlineReminderSent, DeadlineState, Stage, WarningIssued};
use nazer_shared::iran::{persian_date_time, persian_digits};
use nazer_shared::outbox;
use nazer_shared::topology::DEADLINE_TIMER;
use nazer_shared::{insert_rows, select_skip_locked};
use uuid::Uuid;

use crate::deadlines::store::{announced_as, decode, stage_label, state_of};
use crate::policy::Step;
use crate::schema::{deadlines, warnings};
use crate::warnings::WarningReason;

pub use nazer_shared::topology::SPECIAL_FOLLOW_UP;

/// What the stage asks of the agency, as the warning texts name it.
pub fn stage_fa(stage: Stage) -> &'static str {
    match stage {
        Stage::Acknowledge => "مهلت اعلام وصول پیام",
        Stage::Respond | Stage::Quality => "مهلت رسیدگی به پیام",
    }
}

/// The warning text agencies read, e.g. level 1:
/// «مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید».
pub fn warning_text(stage_fa: &str, level: i32, tracking_code: &str, due_at: DateTime<Utc>) -> String {
    let base =
        format!("{} {} در تاریخ {} به پایان رسید", stage_fa, persian_digits(tracking_code), persian_date_time(due_at));
    match level {
        1 => base,
        2 => format!("{base}؛ تذکر مرحله دوم به مقام مافوق دستگاه"),
        _ => format!("{base}؛ پیام برای پیگیری ویژه ارجاع شد"),
    }
}

/// «یادآوری: مهلت رسیدگی به پیام … در تاریخ … به پایان می‌رسد».
pub fn reminder_text(stage_fa: &str, tracking_code: &str, due_at: DateTime<Utc>) -> String {
    format!(
        "یادآوری: {} {} در تاریخ {} به پایان می‌رسد",
        stage_fa,
        persian_digits(tracking_code),
        persian_date_time(due_at)
    )
}

/// What one claim turned into.
#[derive(Debug, Default)]
pub struct Fired {
    pub warnings: Vec<WarningIssued>,
    pub reminders: Vec<DeadlineReminderSent>,
    /// Deadlines claimed (each may have fired several steps, or only skipped stale reminders).
    pub deadlines: usize,
    /// How late each fired step was registered: (`reminder` or `warning`, seconds).
    pub lags: Vec<(&'static str, f64)>,
}

/// A claimed deadline, as much of it as firing needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct DueRow {
    id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    escalation_agency_id: Option<String>,
    stage: String,
    due_at: NaiveDateTime,
    ladder: String,
    next_step: i32,
    state: String,
    subject_kind: String,
    subject_message_id: Option<String>,
    stage_fa: Option<String>,
}

/// Where one claimed deadline's ladder stands after firing.
struct Advance {
    id: String,
    next_step: i32,
    next_fire_at: Option<NaiveDateTime>,
    state: String,
    /// Set when the stage was breached just now.
    closed_at: Option<NaiveDateTime>,
}

/// Claims up to `limit` deadlines with a step due at `now` and fires their due steps. Call it in
/// a write transaction: the claim, the warnings and their events commit together or not at all.
/// A reminder already overtaken by a later due step is skipped, not sent late; every warning
/// level is registered, however late. A burst (the morning after a long holiday) is written
/// with a few statements per batch, not a few per deadline.
pub fn fire_due(conn: &mut DbConnection, now: DateTime<Utc>, limit: i64) -> Result<Fired, DbError> {
    let cutoff = to_db_time(now);
    let rows: Vec<DueRow> = select_skip_locked!(
        conn,
        deadlines::table
            .filter(deadlines::next_fire_at.le(cutoff))
            .order(deadlines::next_fire_at)
            .limit(limit)
            .select(DueRow::as_select())
    )?;
    let mut fired = Fired { deadlines: rows.len(), ..Fired::default() };
    let mut advances = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, next_step, current) = (row.id.clone(), row.next_step, row.state.clone());
        match fire_one(row, now, &mut fired) {
            Ok(advance) => advances.push(advance),
            // One broken row must not stop every other deadline: it is parked, loudly.
            Err(error) => {
                tracing::error!(deadline_id = %id, %error, "deadline parked: its ladder cannot be read");
                advances.push(Advance { id, next_step, next_fire_at: None, state: current, closed_at: None });
            }
        }
    }
    insert_warnings(conn, &fired.warnings)?;
    outbox::enqueue_all(conn, DEADLINE_TIMER, &fired.reminders, now)?;
    outbox::enqueue_all(conn, DEADLINE_TIMER, &fired.warnings, now)?;
    advance(conn, advances)?;
    Ok(fired)
}

/// Fires the due steps of one claimed deadline into `fired`; where its ladder stands after.
fn fire_one(row: DueRow, now: DateTime<Utc>, fired: &mut Fired) -> Result<Advance, DbError> {
    let DueRow {
        id,
        message_id,
        tracking_code,
        agency_id,
        escalation_agency_id,
        stage,
        due_at,
        ladder,
        next_step,
        state: current,
        subject_kind,
        subject_message_id,
        stage_fa,
    } = row;
    // Everything that can refuse the row is read before any step is fired into `fired`: a row
    // parked by the caller must not leave warnings behind.
    let stage = stage_label(&id, &stage, stage_fa.as_deref())?;
    let (message_id, subject) = announced_as(&message_id, &subject_kind, subject_message_id.as_deref());
    let was_pending = state_of(&id, &current)? == DeadlineState::Pending;
    let steps: Vec<Step> = decode(&id, "ladder", &ladder)?;
    let due_at = from_db_time(due_at);
    let mut step_index = next_step.max(0) as usize;
    let mut breached = false;
    while let Some(step) = steps.get(step_index).filter(|s| s.at() <= now) {
        step_index += 1;
        let overtaken = steps.get(step_index).is_some_and(|next| next.at() <= now);
        let lag = (now - step.at()).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        match *step {
            Step::Reminder { .. } if overtaken => {}
            Step::Reminder { fraction, .. } => {
                fired.lags.push(("reminder", lag));
                fired.reminders.push(DeadlineReminderSent {
                    subject: subject.clone(),
                    deadline_id: id.clone(),
                    message_id: message_id.clone(),
                    tracking_code: tracking_code.clone(),
                    agency_id: agency_id.clone(),
                    stage: stage.name.clone(),
                    fraction,
                    text_fa: reminder_text(&stage.fa, &tracking_code, due_at),
                    due_at,
                    sent_at: now,
                });
            }
            Step::Warning { level, .. } => {
                fired.lags.push(("warning", lag));
                breached = true;
                let (reason, escalated_to) = match level {
                    1 => (WarningReason::Overdue, None),
                    2 => (WarningReason::Escalated, escalation_agency_id.clone()),
                    _ => (WarningReason::SpecialFollowUp, Some(SPECIAL_FOLLOW_UP.to_string())),
                };
                fired.warnings.push(WarningIssued {
                    subject: subject.clone(),
                    warning_id: Uuid::now_v7().to_string(),
                    deadline_id: id.clone(),
                    message_id: message_id.clone(),
                    tracking_code: tracking_code.clone(),
                    agency_id: agency_id.clone(),
                    stage: stage.name.clone(),
                    level,
                    reason: reason.as_str().into(),
                    text_fa: warning_text(&stage.fa, level, &tracking_code, due_at),
                    due_at,
                    issued_at: now,
                    escalated_to,
                });
            }
        }
    }
    let newly_breached = breached && was_pending;
    Ok(Advance {
        id,
        next_step: step_index as i32,
        next_fire_at: steps.get(step_index).map(|s| to_db_time(s.at())),
        state: if newly_breached { DeadlineState::Breached.as_str().to_string() } else { current },
        closed_at: newly_breached.then(|| to_db_time(now)),
    })
}

/// Rows per multi-row warning insert (14 parameters each; PostgreSQL takes up to 65,535).
const WARNING_CHUNK: usize = 2_000;

pub(crate) fn insert_warnings(conn: &mut DbConnection, issued: &[WarningIssued]) -> Result<(), DbError> {
    for chunk in issued.chunks(WARNING_CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|w| {
                (
                    warnings::id.eq(w.warning_id.clone()),
                    warnings::deadline_id.eq(w.deadline_id.clone()),
                    warnings::message_id.eq(w.message_id.clone()),
                    warnings::tracking_code.eq(w.tracking_code.clone()),
                    warnings::agency_id.eq(w.agency_id.clone()),
                    warnings::stage.eq(w.stage.clone()),
                    warnings::level.eq(w.level),
                    warnings::reason.eq(w.reason.clone()),
                    warnings::text_fa.eq(w.text_fa.clone()),
                    warnings::due_at.eq(to_db_time(w.due_at)),
                    warnings::issued_at.eq(to_db_time(w.issued_at)),
                    warnings::escalated_to.eq(w.escalated_to.clone()),
                    warnings::subject_kind.eq(w.subject.as_ref().map(|s| s.kind.clone())),
                    warnings::subject_id.eq(w.subject.as_ref().map(|s| s.id.clone())),
                )
            })
            .collect();
        insert_rows!(conn, warnings::table, rows)?;
    }
    Ok(())
}

/// Writes where each claimed ladder stands: one statement on PostgreSQL, one per row on SQLite.
fn advance(conn: &mut DbConnection, advances: Vec<Advance>) -> Result<(), DbError> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamp};
    match conn {
        DbConnection::Pg(c) => {
            if advances.is_empty() {
                return Ok(());
            }
            let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for a in advances {
                columns.0.push(a.id);
                columns.1.push(a.next_step);
                columns.2.push(a.next_fire_at);
                columns.3.push(a.state);
                columns.4.push(a.closed_at);
            }
            diesel::sql_query(
                "UPDATE deadlines AS d SET next_step = v.next_step, next_fire_at = v.next_fire_at, \
                 state = v.state, closed_at = COALESCE(v.closed_at, d.closed_at) \
                 FROM unnest($1::text[], $2::int4[], $3::timestamp[], $4::text[], $5::timestamp[]) \
                 AS v(id, next_step, next_fire_at, state, closed_at) WHERE d.id = v.id",
            )
            .bind::<Array<Text>, _>(columns.0)
            .bind::<Array<Integer>, _>(columns.1)
            .bind::<Array<Nullable<Timestamp>>, _>(columns.2)
            .bind::<Array<Text>, _>(columns.3)
            .bind::<Array<Nullable<Timestamp>>, _>(columns.4)
            .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            for a in advances {
                let target = deadlines::table.find(&a.id);
                let changes = (
                    deadlines::next_step.eq(a.next_step),
                    deadlines::next_fire_at.eq(a.next_fire_at),
                    deadlines::state.eq(&a.state),
                );
                match a.closed_at {
                    Some(at) => diesel::update(target).set((changes, deadlines::closed_at.eq(Some(at)))).execute(c)?,
                    None => diesel::update(target).set(changes).execute(c)?,
                };
            }
        }
    }
    Ok(())
}

/// The earliest instant a step is due, to sleep exactly until it.
pub fn next_due(conn: &mut DbConnection) -> Result<Option<DateTime<Utc>>, DbError> {
    let next: Option<NaiveDateTime> = deadlines::table
        .filter(deadlines::next_fire_at.is_not_null())
        .select(diesel::dsl::min(deadlines::next_fire_at))
        .first(conn)?;
    Ok(next.map(from_db_time))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn texts_carry_the_code_and_the_jalali_due_date() {
        let due = Utc.with_ymd_and_hms(2026, 12, 2, 11, 0, 0).unwrap();
        assert_eq!(
            warning_text(stage_fa(Stage::Respond), 1, "1234567890", due),
            "مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید"
        );
        assert!(
            warning_text(stage_fa(Stage::Respond), 3, "1234567890", due).ends_with("پیام برای پیگیری ویژه ارجاع شد")
        );
        assert_eq!(
            reminder_text(stage_fa(Stage::Acknowledge), "1234567890", due),
            "یادآوری: مهلت اعلام وصول پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان می‌رسد"
        );
    }
}
