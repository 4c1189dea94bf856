//! Calendar changes move deadlines. Every clock still running on a changed calendar, and that
//! the change can touch (started before the changed day, its message located in the closed
//! area or under it), gets its ladder recomputed; a pending stage whose due instant moved is
//! announced (`deadline.moved`) so the agency hears the new due time. A stage already warned
//! about keeps its due instant (the warning was registered on it); only its later levels move.
//! Past pauses count again; a stage paused now is recomputed when it resumes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{DeadlineMoved, DeadlineState};
use nazer_shared::iran::{persian_date_time, persian_digits};
use nazer_shared::outbox;
use nazer_shared::select_for_update;
use nazer_shared::topology::DEADLINE_TIMER;

use crate::calendar::{Calendar, closure_applies};
use crate::deadlines::pausing::{Pause, recompute};
use crate::deadlines::store::{announced_as, area_path_of, decode, encode, stage_label, state_of};
use crate::policy::{self, StagePolicy, Step};
use crate::schema::deadlines;

/// Which running clocks a change can touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// The changed day; None when the whole calendar changed.
    pub day: Option<NaiveDate>,
    /// The closed area (a province, a district, …); None when the change applies everywhere.
    pub area: Option<String>,
}

impl Touched {
    /// Whether the change can touch a clock whose message is located in `area_path`.
    pub fn covers(&self, area_path: &[String]) -> bool {
        closure_applies(self.area.as_deref(), area_path)
    }
}

/// How many steps of `new` have already happened: those `old[..done]` had, matched by kind
/// (a reminder by its fraction, a warning by its level).
pub fn steps_done(old: &[Step], done: usize, new: &[Step]) -> usize {
    let happened = &old[..done.min(old.len())];
    let same = |a: &Step, b: &Step| match (a, b) {
        (Step::Reminder { fraction: x, .. }, Step::Reminder { fraction: y, .. }) => x == y,
        (Step::Warning { level: x, .. }, Step::Warning { level: y, .. }) => x == y,
        _ => false,
    };
    new.iter().take_while(|step| happened.iter().any(|h| same(h, step))).count()
}

/// «مهلت رسیدگی به پیام … به ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ تغییر کرد».
pub fn moved_text(stage_fa: &str, tracking_code: &str, due_at: DateTime<Utc>) -> String {
    format!("{} {} به {} تغییر کرد", stage_fa, persian_digits(tracking_code), persian_date_time(due_at))
}

/// A running clock, as much of it as moving needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct Row {
    id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    stage: String,
    province: Option<String>,
    area_path: String,
    started_at: NaiveDateTime,
    due_at: NaiveDateTime,
    state: String,
    stage_policy: String,
    ladder: String,
    next_step: i32,
    pauses: String,
    subject_kind: String,
    subject_message_id: Option<String>,
    stage_fa: Option<String>,
}

/// Where a running clock's message is located, to tell whether a change touches it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct Located {
    id: String,
    province: Option<String>,
    area_path: String,
}

const BATCH: i64 = 500;

/// Recomputes the running clocks of `calendar` that `touched` covers, in the caller's
/// transaction; the rows are locked while they move, so a firing replica waits or skips them.
/// Returns how many due instants moved.
pub fn move_deadlines(
    conn: &mut DbConnection,
    calendar: &Calendar,
    touched: &Touched,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let started_before = touched.day.and_then(|day| day.succ_opt()).map(|next| to_db_time(calendar.day_start(next)));
    let mut after = String::new();
    let mut moved = 0;
    loop {
        let mut query = deadlines::table
            .filter(deadlines::calendar_id.eq(calendar.id.clone()))
            .filter(deadlines::next_fire_at.is_not_null())
            .filter(deadlines::id.gt(after.clone()))
            .order(deadlines::id)
            .limit(BATCH)
            .into_boxed();
        if let Some(bound) = started_before {
            query = query.filter(deadlines::started_at.lt(bound));
        }
        if let Some(area) = &touched.area {
            // The area's code among the path's (exactly, below); or, for a clock stored
            // without its path, its province.
            let pattern = nazer_shared::db::area_path_pattern(area);
            query =
                query.filter(deadlines::area_path.like(pattern).escape('\\').or(deadlines::province.eq(area.clone())));
        }
        let candidates: Vec<Located> = query.select(Located::as_select()).load(conn)?;
        let full = candidates.len() as i64 == BATCH;
        if let Some(last) = candidates.last() {
            after = last.id.clone();
        }
        let mut ids = Vec::new();
        for Located { id, province, area_path } in candidates {
            if touched.covers(&area_path_of(&id, &area_path, province.as_deref())?) {
                ids.push(id);
            }
        }
        let rows: Vec<Row> = select_for_update!(
            conn,
            // Under the lock, a clock that stopped meanwhile (met, or its last step fired) drops out.
            deadlines::table
                .filter(deadlines::id.eq_any(&ids))
                .filter(deadlines::next_fire_at.is_not_null())
                .order(deadlines::id)
                .select(Row::as_select())
        )?;
        let mut events = Vec::new();
        for row in rows {
            events.extend(move_one(conn, calendar, row, reason, now)?);
        }
        outbox::enqueue_all(conn, DEADLINE_TIMER, &events, now)?;
        moved += events.len();
        if !full {
            return Ok(moved);
        }
    }
}

fn move_one(
    conn: &mut DbConnection,
    calendar: &Calendar,
    row: Row,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeadlineMoved>, DbError> {
    let Row {
        id,
        message_id,
        tracking_code,
        agency_id,
        stage,
        province,
        area_path,
        started_at,
        due_at,
        state,
        stage_policy,
        ladder,
        next_step,
        pauses,
        subject_kind,
        subject_message_id,
        stage_fa,
    } = row;
    let area_path = area_path_of(&id, &area_path, province.as_deref())?;
    let stage = stage_label(&id, &stage, stage_fa.as_deref())?;
    let policy: StagePolicy = decode(&id, "policy", &stage_policy)?;
    let old: Vec<Step> = decode(&id, "ladder", &ladder)?;
    let (start, old_due) = (from_db_time(started_at), from_db_time(due_at));
    let pauses: Vec<Pause> = decode(&id, "pauses", &pauses)?;
    let recomputed = if state_of(&id, &state)? == DeadlineState::Pending {
        recompute(&policy, Some(calendar), start, &area_path, &pauses)
    } else {
        policy::ladder_from(&policy, Some(calendar), start, old_due, &area_path).map(|steps| (old_due, steps))
    };
    let (due, steps) = recomputed.map_err(|e| DbError::Refused(format!("deadline `{id}`: {e}")))?;
    if steps == old {
        return Ok(None);
    }
    let done = steps_done(&old, next_step.max(0) as usize, &steps);
    let text = encode(&steps)?;
    diesel::update(deadlines::table.find(&id))
        .set((
            deadlines::due_at.eq(to_db_time(due)),
            deadlines::ladder.eq(text),
            deadlines::next_step.eq(done as i32),
            deadlines::next_fire_at.eq(steps.get(done).map(|s| to_db_time(s.at()))),
        ))
        .execute(conn)?;
    if due == old_due {
        return Ok(None);
    }
    tracing::info!(deadline_id = %id, message_id = %message_id, "deadline moved by a calendar change");
    let (message_id, subject) = announced_as(&message_id, &subject_kind, subject_message_id.as_deref());
    Ok(Some(DeadlineMoved {
        subject,
        deadline_id: id,
        message_id,
        text_fa: moved_text(&stage.fa, &tracking_code, due),
        tracking_code,
        agency_id,
        stage: stage.name,
        previous_due_at: old_due,
        due_at: due,
        reason: reason.to_string(),
        moved_at: now,
    }))
}

#[cfg(test)]
mod tests {
    use nazer_shared::events::Stage;

    use super::*;
    use crate::firing::store::stage_fa;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn fired_steps_stay_fired_when_the_ladder_moves() {
        let old = [
            Step::Reminder { fraction: 0.5, at: at(50) },
            Step::Reminder { fraction: 0.8, at: at(80) },
            Step::Warning { level: 1, at: at(100) },
        ];
        let later = [
            Step::Reminder { fraction: 0.5, at: at(60) },
            Step::Reminder { fraction: 0.8, at: at(96) },
            Step::Warning { level: 1, at: at(120) },
        ];
        assert_eq!(steps_done(&old, 0, &later), 0);
        assert_eq!(steps_done(&old, 1, &later), 1, "the 50 % reminder was sent: not again");
        assert_eq!(steps_done(&old, 3, &later), 3);
        // A reminder that no longer fits (the budget shrank to nothing before it) is not counted.
        let shorter = [Step::Reminder { fraction: 0.5, at: at(55) }, Step::Warning { level: 1, at: at(70) }];
        assert_eq!(steps_done(&old, 2, &shorter), 1);
    }

    #[test]
    fn the_moved_text_names_the_new_due_instant() {
        let due = DateTime::parse_from_rfc3339("2026-12-02T14:30:00+03:30").unwrap().with_timezone(&Utc);
        assert_eq!(
            moved_text(stage_fa(Stage::Respond), "1234567890", due),
            "مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ به ۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰ تغییر کرد"
        );
    }
}
