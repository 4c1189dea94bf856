//! Intake's read model: what routing and deadline-timer publish about a message, kept beside
//! it so that a lookup by tracking code needs no other service.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::encode_ancestors;
use nazer_shared::db::{DbConnection, DbError, to_db_time};
use nazer_shared::events::{
    DeadlineMet, DeadlineMoved, DeadlinePaused, DeadlineReminderSent, DeadlineResumed, DeadlineScheduled,
    DeadlineState, Envelope, Event, MessageAssigned, MessageNeedsTriage, ReopenWindowSet, Stage, WarningIssued,
};
use nazer_shared::inbox::{HandlerError, Handlers};
use nazer_shared::topology::{DEADLINE_TIMER, ROUTING};

use crate::schema::{message_deadlines, message_reminders, message_warnings, messages};
use crate::store::MessageStatus;
use crate::timeline::{self, Actor, Transition};
use serde_json::json;

/// The rule id routing gives an assignment a supervisor made from triage.
const MANUAL_RULE: &str = "manual";

/// Intake's read model of what the other services report (no state of its own).
pub struct Projection;

/// The texts of the states a clock still runs (or waits) in, for filters.
pub(crate) fn open_states() -> Vec<&'static str> {
    DeadlineState::ALL.iter().filter(|state| state.is_open()).map(|state| state.as_str()).collect()
}

/// The state a row holds; a text intake never writes is a broken invariant, not a panic.
pub(crate) fn stored_state(text: &str) -> Result<DeadlineState, DbError> {
    DeadlineState::parse(text)
        .ok_or_else(|| DbError::Refused(format!("unknown deadline state `{text}` in the database")))
}

/// What intake does with the events it consumes: keeps the message's status, its clocks, their
/// reminders and its warnings as the other services report them, and whether a violation case
/// holds it open.
pub fn handlers() -> Handlers<Projection> {
    let handlers = Handlers::new()
        .on::<MessageAssigned>(assigned)
        .on::<MessageNeedsTriage>(needs_triage)
        .on::<DeadlineScheduled>(deadline_changed)
        .on::<DeadlineMoved>(deadline_changed)
        .on::<DeadlinePaused>(deadline_changed)
        .on::<DeadlineResumed>(deadline_changed)
        .on::<DeadlineMet>(deadline_changed)
        .on::<DeadlineReminderSent>(reminded)
        .on::<WarningIssued>(warned)
        .on::<ReopenWindowSet>(reopen_window_set);
    crate::violation_holds::handlers(handlers)
}

fn assigned(
    _: &Projection,
    conn: &mut DbConnection,
    event: MessageAssigned,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    // Events can overtake each other: never move a message back from a later status.
    let applied =
        diesel::update(messages::table.filter(messages::id.eq(&event.message_id)).filter(messages::status.eq_any([
            MessageStatus::Received.as_str(),
            MessageStatus::Triage.as_str(),
            MessageStatus::Declined.as_str(),
        ])))
        .set((
            messages::status.eq(MessageStatus::Assigned.as_str()),
            messages::assigned_agency_id.eq(&event.agency_id),
            messages::assigned_agency_name.eq(&event.agency_name),
            messages::agency_ancestors.eq(encode_ancestors(&event.agency_ancestors)),
            messages::acknowledged_at.eq(None::<NaiveDateTime>),
            messages::needs_supervisor.eq(false),
            messages::updated_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    if applied > 0 {
        let detail = json!({ "agency_name": event.agency_name });
        let agency = Some(event.agency_id.as_str());
        // By hand from triage: the caller routing names (older events name no one); else by rule.
        let actor = match &event.assigned_by {
            Some(caller) => Some(Actor::of_key_id(conn, caller)?),
            None => (event.rule_id != MANUAL_RULE).then(|| Actor::service(ROUTING)),
        };
        let at = event.assigned_at;
        timeline::append(conn, &event.message_id, at, Transition::Assigned, agency, detail, actor.as_ref())?;
    }
    Ok(())
}

fn needs_triage(
    _: &Projection,
    conn: &mut DbConnection,
    event: MessageNeedsTriage,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let applied = diesel::update(
        messages::table
            .filter(messages::id.eq(&event.message_id))
            .filter(messages::status.eq_any([MessageStatus::Received.as_str(), MessageStatus::Declined.as_str()])),
    )
    .set((
        messages::status.eq(MessageStatus::Triage.as_str()),
        messages::needs_supervisor.eq(event.needs_supervisor),
        messages::updated_at.eq(to_db_time(now)),
    ))
    .execute(conn)?;
    if applied > 0 {
        let detail = json!({ "reason": event.reason, "needs_supervisor": event.needs_supervisor });
        let actor = Actor::service(ROUTING);
        timeline::append(conn, &event.message_id, event.queued_at, Transition::Triage, None, detail, Some(&actor))?;
    }
    Ok(())
}

fn reopen_window_set(
    _: &Projection,
    conn: &mut DbConnection,
    event: ReopenWindowSet,
    _: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    // Only for the answer still standing: once reopened and answered again, the later
    // answer's window applies.
    let latest = crate::quality::latest_response(conn, &event.message_id)?;
    if latest.is_some_and(|answer| answer.id == event.response_id) {
        diesel::update(
            messages::table
                .filter(messages::id.eq(&event.message_id))
                .filter(messages::status.eq_any([MessageStatus::Responded.as_str(), MessageStatus::Closed.as_str()])),
        )
        .set(messages::reopen_until.eq(Some(to_db_time(event.reopen_until))))
        .execute(conn)?;
    }
    Ok(())
}

/// True for the clocks of another subject's stage (a violation case's track): their owner
/// shows them, never the message's own view (an agency must not see a culpability stage).
fn about_another_subject(envelope: &Envelope) -> bool {
    envelope.payload.get("subject").is_some_and(|subject| !subject.is_null())
}

fn warned(
    _: &Projection,
    conn: &mut DbConnection,
    event: WarningIssued,
    envelope: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    if about_another_subject(envelope) {
        return Ok(());
    }
    // A quality warning judges an answer, not the clock it answered: that stays met.
    if Stage::parse(&event.stage) != Some(Stage::Quality) {
        let deadline = DeadlineFacts {
            deadline_id: event.deadline_id.clone(),
            message_id: event.message_id.clone(),
            agency_id: Some(event.agency_id.clone()),
            stage: event.stage.clone(),
            due_at: event.due_at,
        };
        upsert_deadline(conn, &deadline, DeadlineState::Breached, envelope.occurred_at)?;
    }
    let known: i64 = message_warnings::table.find(&event.warning_id).count().get_result(conn)?;
    if known == 0 {
        diesel::insert_into(message_warnings::table)
            .values((
                message_warnings::warning_id.eq(&event.warning_id),
                message_warnings::message_id.eq(&event.message_id),
                message_warnings::deadline_id.eq(&event.deadline_id),
                message_warnings::level.eq(event.level),
                message_warnings::reason.eq(&event.reason),
                message_warnings::issued_at.eq(to_db_time(event.issued_at)),
                message_warnings::agency_id.eq(&event.agency_id),
                message_warnings::escalated_to.eq(&event.escalated_to),
            ))
            .execute(conn)?;
        let detail = json!({ "level": event.level, "stage": event.stage });
        let agency = Some(event.agency_id.as_str());
        let actor = Actor::service(DEADLINE_TIMER);
        timeline::append(conn, &event.message_id, event.issued_at, Transition::Warning, agency, detail, Some(&actor))?;
    }
    Ok(())
}

/// A pre-breach reminder, kept once per clock and fraction of its budget.
fn reminded(
    _: &Projection,
    conn: &mut DbConnection,
    event: DeadlineReminderSent,
    envelope: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    if about_another_subject(envelope) {
        return Ok(());
    }
    let known: i64 = message_reminders::table.find((&event.deadline_id, event.fraction)).count().get_result(conn)?;
    if known == 0 {
        diesel::insert_into(message_reminders::table)
            .values((
                message_reminders::deadline_id.eq(&event.deadline_id),
                message_reminders::fraction.eq(event.fraction),
                message_reminders::message_id.eq(&event.message_id),
                message_reminders::agency_id.eq(&event.agency_id),
                message_reminders::stage.eq(&event.stage),
                message_reminders::due_at.eq(to_db_time(event.due_at)),
                message_reminders::sent_at.eq(to_db_time(event.sent_at)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A deadline as an event tells it.
pub(crate) struct DeadlineFacts {
    deadline_id: String,
    message_id: String,
    /// The agency whose clock it is; `deadline.met` does not say (the row already does).
    agency_id: Option<String>,
    stage: String,
    due_at: DateTime<Utc>,
}

/// A deadline event other than a warning, and the state it reports: scheduled, moved and
/// resumed report pending, paused reports paused (neither overwrites a final state), met
/// reports met — or answered late when the answer came after the clock ran out.
trait DeadlineChange: Event {
    fn facts(self) -> (DeadlineFacts, DeadlineState);
}

macro_rules! deadline_change {
    ($($event:ty => |$reported:ident| ($state:expr, $agency:expr)),* $(,)?) => {$(
        impl DeadlineChange for $event {
            fn facts(self) -> (DeadlineFacts, DeadlineState) {
                let $reported = &self;
                let (state, agency_id) = ($state, $agency);
                let facts = DeadlineFacts {
                    deadline_id: self.deadline_id,
                    message_id: self.message_id,
                    agency_id,
                    stage: self.stage,
                    due_at: self.due_at,
                };
                (facts, state)
            }
        }
    )*};
}

deadline_change! {
    DeadlineScheduled => |scheduled| (DeadlineState::Pending, Some(scheduled.agency_id.clone())),
    DeadlineMoved => |moved| (DeadlineState::Pending, Some(moved.agency_id.clone())),
    DeadlinePaused => |paused| (DeadlineState::Paused, Some(paused.agency_id.clone())),
    DeadlineResumed => |resumed| (DeadlineState::Pending, Some(resumed.agency_id.clone())),
    DeadlineMet => |met| (if met.answered_late { DeadlineState::AnsweredLate } else { DeadlineState::Met }, None),
}

fn deadline_changed<E: DeadlineChange>(
    _: &Projection,
    conn: &mut DbConnection,
    event: E,
    envelope: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    if about_another_subject(envelope) {
        return Ok(());
    }
    let (deadline, state) = event.facts();
    upsert_deadline(conn, &deadline, state, envelope.occurred_at)
}

/// A deadline's state as shown, and as of when.
#[derive(Queryable, Selectable)]
#[diesel(table_name = message_deadlines)]
struct ShownRow {
    state: String,
    updated_at: NaiveDateTime,
    agency_id: Option<String>,
}

/// Records a deadline's state and due instant, as [`DeadlineState::shown_after`] decides.
fn upsert_deadline(
    conn: &mut DbConnection,
    DeadlineFacts { deadline_id, message_id, agency_id, stage, due_at }: &DeadlineFacts,
    state: DeadlineState,
    occurred_at: DateTime<Utc>,
) -> Result<(), HandlerError> {
    // `updated_at` holds when the fact shown happened, so an event overtaken on the bus by a
    // later one (a pause delivered after its resumption) changes nothing.
    let current: Option<ShownRow> =
        message_deadlines::table.find(deadline_id).select(ShownRow::as_select()).first(conn).optional()?;
    let as_of = to_db_time(occurred_at);
    match current {
        None => {
            diesel::insert_into(message_deadlines::table)
                .values((
                    message_deadlines::deadline_id.eq(deadline_id),
                    message_deadlines::message_id.eq(message_id),
                    message_deadlines::stage.eq(stage),
                    message_deadlines::due_at.eq(to_db_time(*due_at)),
                    message_deadlines::state.eq(state.as_str()),
                    message_deadlines::updated_at.eq(as_of),
                    message_deadlines::agency_id.eq(agency_id),
                ))
                .execute(conn)?;
        }
        Some(shown) if shown.updated_at > as_of => {
            // Overtaken: its state is stale, but the agency it names still belongs to the clock.
            if shown.agency_id.is_none() && agency_id.is_some() {
                diesel::update(message_deadlines::table.find(deadline_id))
                    .set(message_deadlines::agency_id.eq(agency_id))
                    .execute(conn)?;
            }
        }
        Some(ShownRow { state: current, agency_id: known, .. }) => {
            let next = stored_state(&current)?.shown_after(state).as_str();
            diesel::update(message_deadlines::table.find(deadline_id))
                .set((
                    message_deadlines::due_at.eq(to_db_time(*due_at)),
                    message_deadlines::state.eq(next),
                    message_deadlines::updated_at.eq(as_of),
                    message_deadlines::agency_id.eq(agency_id.as_ref().or(known.as_ref())),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeadlineState::*;

    #[test]
    fn deadline_met_reports_answered_late_when_the_clock_ran_out() {
        let at = Utc::now();
        let met = |answered_late| DeadlineMet {
            subject: None,
            deadline_id: "d".into(),
            message_id: "m".into(),
            stage: Stage::Respond.as_str().into(),
            due_at: at,
            met_at: at,
            answered_late,
        };
        assert_eq!(met(true).facts().1, AnsweredLate);
        assert_eq!(met(false).facts().1, Met);
    }
}
