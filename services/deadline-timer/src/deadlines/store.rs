//! Deadline-timer's clocks. An assignment starts one deadline per stage of the message's SLA
//! policy; each carries its ladder of timed steps (reminders, then warning levels 1–3) and the
//! instant of the next one. A response meets the stages and stops what is left of their
//! ladders. Due steps are claimed with `FOR UPDATE SKIP LOCKED` and a unique key on
//! (deadline, level) refuses a second warning, whatever the number of replicas.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::{decode_ancestors, encode_ancestors};
use nazer_shared::db::{DbConnection, DbError, from_db_time, lock_key, lock_key_shared, to_db_time};
use nazer_shared::events::{
    DeadlineMet, DeadlineScheduled, DeadlineState, MessageAcknowledged, MessageAssigned, MessageDeclined,
    MessageResponded, Stage, StageSubject,
};
use nazer_shared::outbox;
use nazer_shared::select_for_update;
use nazer_shared::topology::DEADLINE_TIMER;
use serde::Serialize;
use uuid::Uuid;

use crate::areas::message_area_path;
use crate::calendar::Calendar;
use crate::calendar::change::calendar_lock;
use crate::calendar::store as calendar_store;
use crate::policy::store as policy_store;
use crate::policy::{self, CLOCK_STAGES, StagePolicy, Step};
use crate::schema::{acknowledged_messages, deadlines, responded_messages};

pub use crate::firing::store::{Fired, fire_due, next_due};

/// The stage a stored clock is on; an unknown text is refused, never guessed.
pub(crate) fn stage_of(id: &str, text: &str) -> Result<Stage, DbError> {
    Stage::parse(text).ok_or_else(|| DbError::Refused(format!("deadline `{id}` has an unknown stage `{text}`")))
}

/// The states in which a clock still runs or may run again, as stored.
const OPEN_STATES: [&str; 2] = [DeadlineState::Pending.as_str(), DeadlineState::Paused.as_str()];

/// The state a stored clock is in; an unknown text is refused, never guessed.
pub(crate) fn state_of(id: &str, text: &str) -> Result<DeadlineState, DbError> {
    DeadlineState::parse(text).ok_or_else(|| DbError::Refused(format!("deadline `{id}` has an unknown state `{text}`")))
}

/// The stage every message gets when no policy applies: the configured budget, a level-1
/// warning at due, no reminders and no further levels.
pub fn fallback_stage(budget: &str) -> StagePolicy {
    StagePolicy {
        stage: Stage::Respond.as_str().into(),
        budget: budget.into(),
        reminders: Some(Vec::new()),
        level_2_after: None,
        level_3_after: None,
    }
}

/// Starts the clocks of an assigned message (once, however often the event arrives), one per
/// stage of the most specific policy. A response that overtook the assignment leaves them met
/// from the start. Returns the earliest step scheduled (the firing loop is woken by the commit).
pub fn schedule(
    conn: &mut DbConnection,
    assigned: &MessageAssigned,
    fallback_budget: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    // A response handled at the same moment must see these deadlines, or they must see it.
    lock_key(conn, &assigned.message_id)?;
    // Once per assignment (its instant is its clocks' start, as the unique index says): a
    // message declined and assigned again — to another agency or, by a supervisor, back to the
    // same one — gets fresh clocks, whatever became of the earlier ones.
    let started_at = to_db_time(assigned.assigned_at);
    let existing: i64 = deadlines::table
        .filter(deadlines::message_id.eq(&assigned.message_id))
        .filter(deadlines::started_at.eq(started_at))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(None);
    }
    let policies = policy_store::candidates(conn, &assigned.category, &assigned.priority)?;
    let chosen = policy::choose(&policies, &assigned.category, &assigned.priority, assigned.channel.as_deref());
    let (policy_id, calendar_id, stages) = match chosen {
        Some(p) => (Some(p.id().to_string()), p.document().calendar.clone(), p.document().stages.clone()),
        None => (None, None, vec![fallback_stage(fallback_budget)]),
    };
    let calendar: Option<Calendar> = match &calendar_id {
        Some(id) => Some({
            // A change of this calendar either sees this clock or waits for it.
            lock_key_shared(conn, &calendar_lock(id))?;
            calendar_store::find_calendar(conn, id)?
                .ok_or_else(|| DbError::Refused(format!("policy's calendar `{id}` is not stored")))?
        }),
        None => None,
    };
    // An answer or acknowledgement overtook the assignment on the bus only if it came after it;
    // an older one answered an earlier assignment (or an answer since reopened).
    let responded = answered_since(conn, &assigned.message_id, started_at)?;
    let acknowledged: Option<NaiveDateTime> = acknowledged_messages::table
        .find(&assigned.message_id)
        .select(acknowledged_messages::acknowledged_at)
        .first(conn)
        .optional()?
        .filter(|at| *at >= started_at);
    // The clock starts at the assignment, not when this service got round to it.
    let start = from_db_time(started_at);
    let area_path = message_area_path(&assigned.province, &assigned.area_path);
    let mut earliest: Option<DateTime<Utc>> = None;
    for stage in &stages {
        let (due, steps) = policy::ladder(stage, calendar.as_ref(), start, &area_path)
            .map_err(|e| DbError::Refused(format!("stage `{}`: {e}", stage.stage)))?;
        let due_at = to_db_time(due);
        // An answer or acknowledgement that overtook the assignment has met the stage already.
        let met = responded.or(acknowledged.filter(|_| stage.stage == Stage::Acknowledge.as_str()));
        let clock = NewClock {
            message_id: &assigned.message_id,
            tracking_code: &assigned.tracking_code,
            agency_id: &assigned.agency_id,
            stage,
            steps: &steps,
            started_at,
            due_at,
            met_at: met,
            policy_id: policy_id.as_deref(),
            calendar_id: calendar_id.as_deref(),
            province: Some(&assigned.province),
            area_path: &area_path,
            escalation_agency_id: assigned.parent_agency_id.as_deref(),
            agency_ancestors: encode_ancestors(&assigned.agency_ancestors),
            subject: None,
        };
        let id = insert_clock(conn, &clock)?;
        let next_fire_at = clock.next_fire_at();
        match met {
            Some(met_at) => {
                let event = DeadlineMet {
                    subject: None,
                    deadline_id: id,
                    message_id: assigned.message_id.clone(),
                    stage: stage.stage.clone(),
                    due_at: due,
                    met_at: from_db_time(met_at),
                    answered_late: false,
                };
                outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
            }
            None => {
                let event = DeadlineScheduled {
                    subject: None,
                    deadline_id: id,
                    message_id: assigned.message_id.clone(),
                    tracking_code: assigned.tracking_code.clone(),
                    agency_id: assigned.agency_id.clone(),
                    stage: stage.stage.clone(),
                    started_at: start,
                    due_at: due,
                };
                outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
                let first = next_fire_at.map(from_db_time);
                earliest = match (earliest, first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    Ok(earliest)
}

/// One stage's clock as it starts: for an assignment, or again for a reopened message.
pub(crate) struct NewClock<'a> {
    pub message_id: &'a str,
    pub tracking_code: &'a str,
    pub agency_id: &'a str,
    pub stage: &'a StagePolicy,
    pub steps: &'a [Step],
    pub started_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    /// Set when an answer overtook the assignment: the clock starts met.
    pub met_at: Option<NaiveDateTime>,
    pub policy_id: Option<&'a str>,
    pub calendar_id: Option<&'a str>,
    pub province: Option<&'a str>,
    /// Where the message is located: its area codes, province first.
    pub area_path: &'a [String],
    pub escalation_agency_id: Option<&'a str>,
    pub agency_ancestors: Option<String>,
    /// For another subject's stage: its kind, the message it is about and what the stage asks
    /// in Persian (`message_id` then holds the subject's id). None for a message's own clock.
    pub subject: Option<SubjectClock<'a>>,
}

/// What a clock for another subject's stage keeps beside a message's clock.
pub(crate) struct SubjectClock<'a> {
    pub kind: &'a str,
    pub message_id: &'a str,
    pub stage_fa: &'a str,
}

impl NewClock<'_> {
    fn next_fire_at(&self) -> Option<NaiveDateTime> {
        match self.met_at {
            Some(_) => None,
            None => self.steps.first().map(|s| to_db_time(s.at())),
        }
    }
}

/// Stores a clock; its id.
pub(crate) fn insert_clock(conn: &mut DbConnection, clock: &NewClock) -> Result<String, DbError> {
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(deadlines::table)
        .values((
            deadlines::id.eq(&id),
            deadlines::message_id.eq(clock.message_id),
            deadlines::tracking_code.eq(clock.tracking_code),
            deadlines::agency_id.eq(clock.agency_id),
            deadlines::stage.eq(&clock.stage.stage),
            deadlines::budget.eq(&clock.stage.budget),
            deadlines::started_at.eq(clock.started_at),
            deadlines::due_at.eq(clock.due_at),
            deadlines::state
                .eq(if clock.met_at.is_some() { DeadlineState::Met } else { DeadlineState::Pending }.as_str()),
            deadlines::closed_at.eq(clock.met_at),
            deadlines::policy_id.eq(clock.policy_id),
            deadlines::calendar_id.eq(clock.calendar_id),
            deadlines::province.eq(clock.province),
            deadlines::area_path.eq(encode(&clock.area_path)?),
            deadlines::escalation_agency_id.eq(clock.escalation_agency_id),
            deadlines::agency_ancestors.eq(&clock.agency_ancestors),
            deadlines::stage_policy.eq(encode(clock.stage)?),
            deadlines::ladder.eq(encode(&clock.steps)?),
            deadlines::next_step.eq(0),
            deadlines::next_fire_at.eq(clock.next_fire_at()),
            deadlines::subject_kind.eq(clock.subject.as_ref().map_or(MESSAGE_SUBJECT, |s| s.kind)),
            deadlines::subject_message_id.eq(clock.subject.as_ref().map(|s| s.message_id)),
            deadlines::stage_fa.eq(clock.subject.as_ref().map(|s| s.stage_fa)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The subject kind of a message's own clocks.
pub const MESSAGE_SUBJECT: &str = "message";

/// What a stored clock's stage is called: its name, and what it asks in Persian as reminders
/// and warnings say it (a message stage's own words, or those its subject's owner gave).
pub(crate) struct StageLabel {
    pub name: String,
    pub fa: String,
}

pub(crate) fn stage_label(id: &str, stage: &str, stage_fa: Option<&str>) -> Result<StageLabel, DbError> {
    Ok(match stage_fa {
        Some(fa) => StageLabel { name: stage.to_string(), fa: fa.to_string() },
        None => {
            let stage = stage_of(id, stage)?;
            StageLabel { name: stage.as_str().to_string(), fa: crate::firing::store::stage_fa(stage).to_string() }
        }
    })
}

/// The message an event about a stored clock names, and its subject: a message's clock is
/// keyed by the message itself; another subject's by the subject, beside the message it is about.
pub(crate) fn announced_as(
    key: &str,
    subject_kind: &str,
    subject_message_id: Option<&str>,
) -> (String, Option<StageSubject>) {
    if subject_kind == MESSAGE_SUBJECT {
        (key.to_string(), None)
    } else {
        let subject = StageSubject { kind: subject_kind.to_string(), id: key.to_string() };
        (subject_message_id.unwrap_or_default().to_string(), Some(subject))
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Encode(e.to_string()))
}

/// A JSON column (`what`: ladder, policy, pauses, area path) of deadline `id`; unreadable, the
/// row is broken and said so by id.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(id: &str, what: &str, text: &str) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Refused(format!("deadline `{id}` has an unreadable {what}: {e}")))
}

/// Where the message of deadline `id` is located (the `area_path` column): its area codes,
/// province first; a clock stored without them knows its province alone.
pub(crate) fn area_path_of(id: &str, stored: &str, province: Option<&str>) -> Result<Vec<String>, DbError> {
    let path: Vec<String> = decode(id, "area path", stored)?;
    Ok(match province {
        Some(province) if path.is_empty() => vec![province.to_string()],
        _ => path,
    })
}

/// Records the instant of an answer or acknowledgement unless a later one is known already
/// (events may arrive out of order).
macro_rules! keep_latest {
    ($conn:expr, $table:ident, $column:ident, $message_id:expr, $at:expr) => {{
        let at = $at;
        let seen: Option<NaiveDateTime> =
            $table::table.find($message_id).select($table::$column).first($conn).optional()?;
        match seen {
            None => {
                diesel::insert_into($table::table)
                    .values(($table::message_id.eq($message_id), $table::$column.eq(at)))
                    .execute($conn)?;
            }
            Some(earlier) if earlier < at => {
                diesel::update($table::table.find($message_id)).set($table::$column.eq(at)).execute($conn)?;
            }
            Some(_) => {}
        }
    }};
}

/// A response meets the answering agency's pending stages of the message and stops the rest of
/// every ladder, including the levels still to come on a stage already warned about.
pub fn meet(conn: &mut DbConnection, responded: &MessageResponded, now: DateTime<Utc>) -> Result<usize, DbError> {
    lock_key(conn, &responded.message_id)?;
    // The latest answer is kept: a clock started later (a reopening) is met by a later answer only.
    keep_latest!(conn, responded_messages, responded_at, &responded.message_id, to_db_time(responded.responded_at));
    let (message, agency) = (&responded.message_id, &responded.agency_id);
    let stages: Vec<&str> = CLOCK_STAGES.iter().map(|s| s.as_str()).collect();
    let scope = CloseScope { key: message, agency_id: Some(agency), stages: &stages };
    close_stages(conn, &scope, responded.responded_at, now)
}

/// The latest answer of the message given at or after `since`, if deadline-timer has heard of one.
pub(crate) fn answered_since(
    conn: &mut DbConnection,
    message_id: &str,
    since: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, DbError> {
    let latest: Option<NaiveDateTime> =
        responded_messages::table.find(message_id).select(responded_messages::responded_at).first(conn).optional()?;
    Ok(latest.filter(|at| *at >= since))
}

/// An acknowledgement meets the message's acknowledge stage (and stops its ladder).
pub fn acknowledge(
    conn: &mut DbConnection,
    acknowledged: &MessageAcknowledged,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    lock_key(conn, &acknowledged.message_id)?;
    let at = to_db_time(acknowledged.acknowledged_at);
    keep_latest!(conn, acknowledged_messages, acknowledged_at, &acknowledged.message_id, at);
    let (message, agency) = (&acknowledged.message_id, &acknowledged.agency_id);
    let scope = CloseScope { key: message, agency_id: Some(agency), stages: &[Stage::Acknowledge.as_str()] };
    close_stages(conn, &scope, acknowledged.acknowledged_at, now)
}

/// A decline stops the declining agency's clocks of the message, without warnings, and forgets
/// its acknowledgement: the next agency must acknowledge for itself.
pub fn stop_declined(conn: &mut DbConnection, declined: &MessageDeclined) -> Result<usize, DbError> {
    lock_key(conn, &declined.message_id)?;
    let running: Vec<String> = select_for_update!(
        conn,
        deadlines::table
            .filter(deadlines::message_id.eq(&declined.message_id))
            .filter(deadlines::agency_id.eq(&declined.agency_id))
            // Not the clocks of a later assignment back to the same agency, if that came first.
            .filter(deadlines::started_at.le(to_db_time(declined.declined_at)))
            .filter(deadlines::next_fire_at.is_not_null().or(deadlines::state.eq_any(OPEN_STATES)))
            .order(deadlines::id)
            .select(deadlines::id)
    )?;
    let stopped = diesel::update(deadlines::table.filter(deadlines::id.eq_any(&running)))
        .set((
            deadlines::state.eq(DeadlineState::Declined.as_str()),
            deadlines::closed_at.eq(Some(to_db_time(declined.declined_at))),
            deadlines::next_fire_at.eq(None::<NaiveDateTime>),
            deadlines::paused_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let acknowledged_before = acknowledged_messages::acknowledged_at.le(to_db_time(declined.declined_at));
    diesel::delete(acknowledged_messages::table.find(&declined.message_id).filter(acknowledged_before))
        .execute(conn)?;
    Ok(stopped)
}

/// A clock an answer may close.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct Closing {
    id: String,
    stage: String,
    due_at: NaiveDateTime,
    state: String,
    subject_kind: String,
    subject_message_id: Option<String>,
}

/// Which clocks a close applies to: those keyed by `key` (a message, or another subject), of
/// `stages`, started at or before the close; of one agency when `agency_id` is given.
pub(crate) struct CloseScope<'a> {
    pub key: &'a str,
    pub agency_id: Option<&'a str>,
    pub stages: &'a [&'a str],
}

/// Closes clocks: pending ones are met (`deadline.met`), ones already warned about are answered
/// late; either way nothing more fires. The number met.
pub(crate) fn close_stages(
    conn: &mut DbConnection,
    scope: &CloseScope,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let met_at = to_db_time(at);
    // Written out per backend by the macro, so built afresh for each use.
    macro_rules! clocks {
        () => {
            deadlines::table
                .filter(deadlines::message_id.eq(scope.key))
                .filter(deadlines::stage.eq_any(scope.stages))
                // A clock started after the answer (a reopening) waits for an answer of its own.
                .filter(deadlines::started_at.le(met_at))
                .order(deadlines::id)
                .select(Closing::as_select())
        };
    }
    // Locked and read first, in id order (as calendar changes lock them): a firing replica
    // holding a row makes this wait and then see the state it committed, never a stale one.
    let rows: Vec<Closing> = match scope.agency_id {
        // An agency's answer meets its own clocks, never those of one it followed.
        Some(agency_id) => select_for_update!(conn, clocks!().filter(deadlines::agency_id.eq(agency_id)))?,
        None => select_for_update!(conn, clocks!())?,
    };
    let stop = deadlines::next_fire_at.eq(None::<NaiveDateTime>);
    let mut met = 0;
    for Closing { id: deadline_id, stage, due_at, state, subject_kind, subject_message_id } in rows {
        let closed_as = match state_of(&deadline_id, &state)? {
            DeadlineState::Pending | DeadlineState::Paused => DeadlineState::Met,
            DeadlineState::Breached => DeadlineState::AnsweredLate,
            // Closed already: nothing more to stop or to announce.
            DeadlineState::Met | DeadlineState::AnsweredLate | DeadlineState::Declined => continue,
        };
        diesel::update(deadlines::table.find(&deadline_id))
            .set((
                deadlines::state.eq(closed_as.as_str()),
                deadlines::closed_at.eq(Some(met_at)),
                stop,
                deadlines::paused_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        met += usize::from(closed_as == DeadlineState::Met);
        let (message_id, subject) = announced_as(scope.key, &subject_kind, subject_message_id.as_deref());
        // A late answer is announced too, so readers of the events learn how the clock closed.
        let event = DeadlineMet {
            subject,
            deadline_id,
            message_id,
            stage,
            due_at: from_db_time(due_at),
            met_at: from_db_time(met_at),
            answered_late: closed_as == DeadlineState::AnsweredLate,
        };
        outbox::enqueue(conn, DEADLINE_TIMER, &event, now)?;
    }
    Ok(met)
}

/// Deadlines whose ladder still has steps to come.
pub fn active_count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(deadlines::table.filter(deadlines::next_fire_at.is_not_null()).count().get_result(conn)?)
}

/// Deadlines whose next step is due at `now` and not yet registered (a backlog of firing).
pub fn due_count(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<i64, DbError> {
    Ok(deadlines::table.filter(deadlines::next_fire_at.le(to_db_time(now))).count().get_result(conn)?)
}

/// A step of a deadline's ladder as supervisors read it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepView {
    #[serde(flatten)]
    pub step: Step,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadlineView {
    pub id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    pub stage: Stage,
    /// Business hours (`8h`), business days (`3d`) or an ISO 8601 duration (`PT30S`).
    pub budget: String,
    pub policy_id: Option<String>,
    pub calendar_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub state: DeadlineState,
    pub paused_at: Option<DateTime<Utc>>,
    pub next_step_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepView>,
    /// Who else may see this clock (the agency's ancestors); not shown.
    #[serde(skip)]
    pub agency_ancestors: Vec<String>,
}

/// A deadline as supervisors read it, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deadlines)]
struct DeadlineRow {
    id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    stage: String,
    budget: String,
    policy_id: Option<String>,
    calendar_id: Option<String>,
    started_at: NaiveDateTime,
    due_at: NaiveDateTime,
    state: String,
    next_fire_at: Option<NaiveDateTime>,
    ladder: String,
    next_step: i32,
    paused_at: Option<NaiveDateTime>,
    agency_ancestors: Option<String>,
}

pub fn deadlines_of(conn: &mut DbConnection, message_id: &str) -> Result<Vec<DeadlineView>, DbError> {
    let rows: Vec<DeadlineRow> = deadlines::table
        .filter(deadlines::message_id.eq(message_id))
        // Another subject's clocks are its owner's to show.
        .filter(deadlines::subject_kind.eq(MESSAGE_SUBJECT))
        .order((deadlines::due_at, deadlines::stage))
        .select(DeadlineRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(
            |DeadlineRow {
                 id,
                 message_id,
                 tracking_code,
                 agency_id,
                 stage,
                 budget,
                 policy_id,
                 calendar_id,
                 started_at,
                 due_at,
                 state,
                 next_fire_at,
                 ladder,
                 next_step,
                 paused_at,
                 agency_ancestors: ancestors,
             }| {
                let state = state_of(&id, &state)?;
                let stage = stage_of(&id, &stage)?;
                let steps: Vec<Step> = decode(&id, "ladder", &ladder)?;
                let steps = steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, step)| StepView { step, done: (i as i32) < next_step })
                    .collect();
                Ok(DeadlineView {
                    id,
                    message_id,
                    tracking_code,
                    agency_id,
                    stage,
                    budget,
                    policy_id,
                    calendar_id,
                    started_at: from_db_time(started_at),
                    due_at: from_db_time(due_at),
                    state,
                    paused_at: paused_at.map(from_db_time),
                    next_step_at: next_fire_at.map(from_db_time),
                    steps,
                    agency_ancestors: decode_ancestors(ancestors.as_deref()),
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_stored_without_its_area_path_is_located_in_its_province() {
        let district = r#"["tehran","tehran-city","tehran-district-06"]"#;
        assert_eq!(
            area_path_of("d", district, Some("tehran")).unwrap(),
            ["tehran", "tehran-city", "tehran-district-06"]
        );
        assert_eq!(area_path_of("d", "[]", Some("fars")).unwrap(), ["fars"]);
        assert!(area_path_of("d", "[]", None).unwrap().is_empty());
        assert!(matches!(area_path_of("d", "tehran", None), Err(DbError::Refused(_))));
    }

    #[test]
    fn unknown_stored_states_and_stages_are_refused() {
        assert!(matches!(state_of("d", "finished"), Err(DbError::Refused(_))));
        assert_eq!(stage_of("d", "acknowledge").unwrap(), Stage::Acknowledge);
        assert!(matches!(stage_of("d", "Respond"), Err(DbError::Refused(_))));
    }
}
