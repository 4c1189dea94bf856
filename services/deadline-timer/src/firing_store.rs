//! Firing: the due steps of deadlines' ladders become reminders and warnings, each exactly once.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{DeadlineReminderSent, WarningIssued};
use nazer_shared::iran::{persian_date_time, persian_digits};
use nazer_shared::outbox;
use nazer_shared::select_skip_locked;
use nazer_shared::topology::DEADLINE_TIMER;
use uuid::Uuid;

use crate::policy::{ACKNOWLEDGE, Step};
use crate::schema::{deadlines, warnings};
use crate::store::state;

/// Who takes a message over after the last warning (پیگیری ویژه); webhook subscriptions
/// for this id receive level-3 warnings.
pub const SPECIAL_FOLLOW_UP: &str = "special-follow-up";

pub mod reason {
    pub const OVERDUE: &str = "deadline_passed";
    pub const ESCALATED: &str = "escalated_to_parent";
    pub const SPECIAL_FOLLOW_UP: &str = "referred_to_special_follow_up";
}

/// What the stage asks of the agency, as the warning texts name it.
fn stage_fa(stage: &str) -> &'static str {
    if stage == ACKNOWLEDGE { "مهلت اعلام وصول پیام" } else { "مهلت رسیدگی به پیام" }
}

/// The warning text agencies read, e.g. level 1:
/// «مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید».
pub fn warning_text(stage: &str, level: i32, tracking_code: &str, due_at: DateTime<Utc>) -> String {
    let base = format!(
        "{} {} در تاریخ {} به پایان رسید",
        stage_fa(stage),
        persian_digits(tracking_code),
        persian_date_time(due_at)
    );
    match level {
        1 => base,
        2 => format!("{base}؛ تذکر مرحله دوم به مقام مافوق دستگاه"),
        _ => format!("{base}؛ پیام برای پیگیری ویژه ارجاع شد"),
    }
}

/// «یادآوری: مهلت رسیدگی به پیام … در تاریخ … به پایان می‌رسد».
pub fn reminder_text(stage: &str, tracking_code: &str, due_at: DateTime<Utc>) -> String {
    format!(
        "یادآوری: {} {} در تاریخ {} به پایان می‌رسد",
        stage_fa(stage),
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
}

type DueRow = (String, String, String, String, Option<String>, String, NaiveDateTime, String, i32, String);

/// Claims up to `limit` deadlines with a step due at `now` and fires their due steps. Call it in
/// a write transaction: the claim, the warnings and their events commit together or not at all.
/// A reminder already overtaken by a later due step is skipped, not sent late; every warning
/// level is registered, however late.
pub fn fire_due(conn: &mut DbConnection, now: DateTime<Utc>, limit: i64) -> Result<Fired, DbError> {
    let cutoff = to_db_time(now);
    let ids: Vec<String> = select_skip_locked!(
        conn,
        deadlines::table
            .filter(deadlines::next_fire_at.le(cutoff))
            .order(deadlines::next_fire_at)
            .limit(limit)
            .select(deadlines::id)
    )?;
    let mut fired = Fired::default();
    if ids.is_empty() {
        return Ok(fired);
    }
    let rows: Vec<DueRow> = deadlines::table
        .filter(deadlines::id.eq_any(&ids))
        .filter(deadlines::next_fire_at.le(cutoff))
        .select((
            deadlines::id,
            deadlines::message_id,
            deadlines::tracking_code,
            deadlines::agency_id,
            deadlines::escalation_agency_id,
            deadlines::stage,
            deadlines::due_at,
            deadlines::ladder,
            deadlines::next_step,
            deadlines::state,
        ))
        .load(conn)?;
    fired.deadlines = rows.len();
    for (id, message_id, tracking_code, agency_id, escalation_agency_id, stage, due_at, ladder, next_step, current) in
        rows
    {
        let steps: Vec<Step> = serde_json::from_str(&ladder)
            .map_err(|e| DbError::Refused(format!("deadline `{id}` has an unreadable ladder: {e}")))?;
        let due_at = from_db_time(due_at);
        let mut step_index = next_step.max(0) as usize;
        let mut breached = current == state::BREACHED;
        while let Some(step) = steps.get(step_index).filter(|s| s.at() <= now) {
            step_index += 1;
            let overtaken = steps.get(step_index).is_some_and(|next| next.at() <= now);
            match *step {
                Step::Reminder { .. } if overtaken => {}
                Step::Reminder { fraction, .. } => {
                    let reminder = DeadlineReminderSent {
                        deadline_id: id.clone(),
                        message_id: message_id.clone(),
                        tracking_code: tracking_code.clone(),
                        agency_id: agency_id.clone(),
                        stage: stage.clone(),
                        fraction,
                        text_fa: reminder_text(&stage, &tracking_code, due_at),
                        due_at,
                        sent_at: now,
                    };
                    outbox::enqueue(conn, DEADLINE_TIMER, &reminder, now)?;
                    fired.reminders.push(reminder);
                }
                Step::Warning { level, .. } => {
                    breached = true;
                    let (reason, escalated_to) = match level {
                        1 => (reason::OVERDUE, None),
                        2 => (reason::ESCALATED, escalation_agency_id.clone()),
                        _ => (reason::SPECIAL_FOLLOW_UP, Some(SPECIAL_FOLLOW_UP.to_string())),
                    };
                    let warning = WarningIssued {
                        warning_id: Uuid::now_v7().to_string(),
                        deadline_id: id.clone(),
                        message_id: message_id.clone(),
                        tracking_code: tracking_code.clone(),
                        agency_id: agency_id.clone(),
                        stage: stage.clone(),
                        level,
                        reason: reason.into(),
                        text_fa: warning_text(&stage, level, &tracking_code, due_at),
                        due_at,
                        issued_at: now,
                        escalated_to,
                    };
                    insert_warning(conn, &warning)?;
                    outbox::enqueue(conn, DEADLINE_TIMER, &warning, now)?;
                    fired.warnings.push(warning);
                }
            }
        }
        let next_fire_at = steps.get(step_index).map(|s| to_db_time(s.at()));
        let (new_state, closed_at) = if breached && current == state::PENDING {
            (state::BREACHED, Some(cutoff))
        } else {
            (current.as_str(), None)
        };
        let target = deadlines::table.find(&id).filter(deadlines::next_step.eq(next_step));
        let changes = (
            deadlines::next_step.eq(step_index as i32),
            deadlines::next_fire_at.eq(next_fire_at),
            deadlines::state.eq(new_state),
        );
        match closed_at {
            Some(at) => diesel::update(target).set((changes, deadlines::closed_at.eq(Some(at)))).execute(conn)?,
            None => diesel::update(target).set(changes).execute(conn)?,
        };
    }
    Ok(fired)
}

fn insert_warning(conn: &mut DbConnection, warning: &WarningIssued) -> Result<(), DbError> {
    diesel::insert_into(warnings::table)
        .values((
            warnings::id.eq(&warning.warning_id),
            warnings::deadline_id.eq(&warning.deadline_id),
            warnings::message_id.eq(&warning.message_id),
            warnings::tracking_code.eq(&warning.tracking_code),
            warnings::agency_id.eq(&warning.agency_id),
            warnings::stage.eq(&warning.stage),
            warnings::level.eq(warning.level),
            warnings::reason.eq(&warning.reason),
            warnings::text_fa.eq(&warning.text_fa),
            warnings::due_at.eq(to_db_time(warning.due_at)),
            warnings::issued_at.eq(to_db_time(warning.issued_at)),
            warnings::escalated_to.eq(&warning.escalated_to),
        ))
        .execute(conn)?;
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
            warning_text("respond", 1, "1234567890", due),
            "مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان رسید"
        );
        assert!(warning_text("respond", 3, "1234567890", due).ends_with("پیام برای پیگیری ویژه ارجاع شد"));
        assert_eq!(
            reminder_text("acknowledge", "1234567890", due),
            "یادآوری: مهلت اعلام وصول پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ به پایان می‌رسد"
        );
    }
}
