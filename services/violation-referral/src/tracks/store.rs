//! Moving a case's tracks: each change checks the case's state by the pure rules, records its
//! step and publishes its event in one transaction, and applies only if the case is still as
//! read (its `version`), so two writers never both move it.

use crate::store::CaseReader;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::actor::Actor;
use nazer_shared::agency::encode_ancestors;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{MessageAssigned, ViolationClassified, ViolationRemedialStep, ViolationVerdict};
use nazer_shared::http::FieldIssue;
use nazer_shared::outbox;
use nazer_shared::sealing::SealingKeys;
use nazer_shared::topology::VIOLATION_REFERRAL;
use serde_json::json;

use super::clock;
use super::remedial::{self, RemedialState, RemedialStep};
use super::steps::{self, CheckedRecord, NewStep, Track};
use super::{CaseDetail, CaseError};
use crate::schema::violation_cases;
use crate::store::{CaseHead, find_case};
use crate::types::store as types_store;

/// Sets `$values` on the case `$head` was read from, and counts its version up, only if it is
/// still at that version (compare-and-set); a 409 naming the race otherwise.
macro_rules! update_unchanged {
    ($conn:expr, $head:expr, $values:expr) => {{
        let rows = diesel::update(
            crate::schema::violation_cases::table
                .filter(crate::schema::violation_cases::id.eq(&$head.view.id))
                .filter(crate::schema::violation_cases::version.eq($head.version)),
        )
        .set(($values, crate::schema::violation_cases::version.eq($head.version + 1)))
        .execute($conn)?;
        $crate::tracks::store::unchanged(rows)
    }};
}
pub(crate) use update_unchanged;

/// Whether a compare-and-set update found the case as read.
pub(crate) fn unchanged(rows: usize) -> Result<(), CaseError> {
    if rows == 0 {
        return Err(CaseError::NotAllowed(
            "the case changed while this request was handled; read it again and retry".into(),
        ));
    }
    Ok(())
}

/// An inspector opens a case on any message assigned to an agency, by its tracking code (a
/// violation report's opens when it is assigned); its id.
pub fn open_on_message(
    conn: &mut DbConnection,
    tracking_code: &str,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let Some(assigned) = crate::store::lock_assignment_of(conn, tracking_code)? else {
        let problem =
            "no message assigned to an agency has this tracking code (a message waiting for triage has none yet)";
        return Err(CaseError::Invalid(vec![FieldIssue::new("tracking_code", problem)]));
    };
    if let Some(case) = crate::store::case_of_message(conn, &assigned.message_id)? {
        return Err(CaseError::NotAllowed(format!("the message has a case already: `{case}`")));
    }
    let opened_by = actor.id.as_deref().unwrap_or_default();
    Ok(crate::store::insert_case(conn, &assigned, Some((opened_by, reason)), now)?)
}

/// The case `id` as `viewer` may see it: a missing case and another agency's look the same.
pub fn head(conn: &mut DbConnection, id: &str, viewer: &CaseReader) -> Result<CaseHead, CaseError> {
    find_case(conn, id)?.filter(|head| head.seen_by(viewer)).ok_or(CaseError::NotFound)
}

/// The case with its tracks as `reader` may see it.
pub fn detail(
    conn: &mut DbConnection,
    id: &str,
    reader: &CaseReader,
    keys: &SealingKeys,
) -> Result<CaseDetail, CaseError> {
    let head = head(conn, id, reader)?;
    let steps = steps::of_case(conn, id)?;
    let clocks = super::deadlines::of_case(conn, id)?;
    Ok(super::detail(head, steps, clocks, reader, keys)?)
}

/// Sets the remedial state (and the classification, when given) if the case is unchanged since
/// `head` was read.
fn move_remedial(
    conn: &mut DbConnection,
    head: &CaseHead,
    to: RemedialState,
    classification: Option<(&str, &str)>,
) -> Result<(), CaseError> {
    // A move ends any wait on an outside authority: the next stage starts running.
    let state = (
        violation_cases::remedial_state.eq(to.as_str()),
        violation_cases::remedial_paused_at.eq(None::<NaiveDateTime>),
    );
    match classification {
        Some((code, budgets)) => update_unchanged!(
            conn,
            head,
            (state, violation_cases::violation_type.eq(code), violation_cases::budgets.eq(budgets))
        ),
        None => update_unchanged!(conn, head, state),
    }
}

/// An inspector classifies the case by violation type: the remedial track opens (`pending`)
/// with the type's budgets. A case may be reclassified until the agency's first step.
pub fn classify(
    conn: &mut DbConnection,
    id: &str,
    code: &str,
    note: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<CaseHead, CaseError> {
    let head = head(conn, id, &CaseReader::Staff)?;
    if let Some(state) = head.view.remedial_state.filter(|s| *s != RemedialState::Pending) {
        return Err(CaseError::NotAllowed(format!(
            "the remedial track is `{state}`: the type is fixed once the agency has taken a step"
        )));
    }
    let previous = head.view.violation_type.clone();
    if previous.as_deref() == Some(code) {
        return Err(CaseError::NotAllowed(format!("the case is already classified as `{code}`")));
    }
    let violation_type = types_store::find_type(conn, code)?.ok_or_else(|| {
        CaseError::Invalid(vec![FieldIssue::new(
            "violation_type",
            "no violation type has this code; GET /api/v1/violation-types lists them",
        )])
    })?;
    // The case keeps the budgets it was classified with, whatever later edits of the type.
    let budgets = serde_json::to_string(&violation_type.document().budgets)
        .map_err(|e| CaseError::NotAllowed(format!("the type's budgets: {e}")))?;
    move_remedial(conn, &head, RemedialState::Pending, Some((code, &budgets)))?;
    // A first classification starts the referral's clock; a reclassification keeps it running
    // as it started (its budget too): the new budgets count from the next stage.
    let classified = CaseHead { budgets: Some(violation_type.document().budgets.clone()), ..head.clone() };
    clock::remedial_moved(conn, &classified, head.view.remedial_state, RemedialState::Pending, now)?;
    let record = CheckedRecord { body: note.map(str::to_string), ..CheckedRecord::default() };
    let detail = json!({ "violation_type": code, "previous_type": previous });
    let step = NewStep {
        case_id: id,
        track: Track::Remedial,
        step: "classified",
        actor,
        record: &record,
        authority: None,
        detail,
    };
    steps::insert(conn, &step, now)?;
    let case = &head.view;
    let event = ViolationClassified {
        case_id: case.id.clone(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        agency_id: case.agency_id.clone(),
        violation_type: code.to_string(),
        previous_type: previous,
        remedial_state: RemedialState::Pending.as_str().into(),
        classified_at: from_db_time(to_db_time(now)),
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &event, now)?;
    Ok(head)
}

/// The remedial state of a case that has one, or why there is none yet.
fn remedial_state(head: &CaseHead) -> Result<RemedialState, CaseError> {
    head.view.remedial_state.ok_or_else(|| {
        CaseError::NotAllowed(
            "the case is not classified yet: an inspector classifies it first (POST …/classification)".into(),
        )
    })
}

/// A step the agency reports on the remedial track.
pub struct AgencyStep<'a> {
    pub step: RemedialStep,
    pub record: &'a CheckedRecord,
    /// The authority referred to (`referred` only).
    pub authority: Option<&'a str>,
}

/// The agency (or an overseer on its behalf) takes the next step of the remedial track.
pub fn take_step(
    conn: &mut DbConnection,
    id: &str,
    taken: &AgencyStep,
    actor: &Actor,
    viewer: &CaseReader,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let head = head(conn, id, viewer)?;
    let from = remedial_state(&head)?;
    let to = remedial::after_step(from, taken.step).map_err(CaseError::NotAllowed)?;
    move_remedial(conn, &head, to, None)?;
    clock::remedial_moved(conn, &head, Some(from), to, now)?;
    let step = NewStep {
        case_id: id,
        track: Track::Remedial,
        step: taken.step.as_str(),
        actor,
        record: taken.record,
        authority: taken.authority,
        // An inspector may record the agency's letter on its behalf: the agency sees its own
        // people only.
        detail: json!({ "by_agency": viewer.is_agency() }),
    };
    let step_id = steps::insert(conn, &step, now)?;
    announce_step(conn, &head, &step_id, taken.step.as_str(), to, taken.record, taken.authority, now)?;
    Ok(step_id)
}

#[allow(clippy::too_many_arguments)]
fn announce_step(
    conn: &mut DbConnection,
    head: &CaseHead,
    step_id: &str,
    step: &str,
    state: RemedialState,
    record: &CheckedRecord,
    authority: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let case = &head.view;
    let event = ViolationRemedialStep {
        case_id: case.id.clone(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        agency_id: case.agency_id.clone(),
        step_id: step_id.to_string(),
        step: step.to_string(),
        state: state.as_str().into(),
        reference: record.reference.clone(),
        authority: authority.map(str::to_string),
        acted_at: from_db_time(to_db_time(now)),
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &event, now)?;
    Ok(())
}

/// An inspector's verdict on an executed remedial track: effective, or not, with its reason.
pub fn give_verdict(
    conn: &mut DbConnection,
    id: &str,
    effective: bool,
    record: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let head = head(conn, id, &CaseReader::Staff)?;
    let from = remedial_state(&head)?;
    let to = remedial::after_verdict(from, effective).map_err(CaseError::NotAllowed)?;
    move_remedial(conn, &head, to, None)?;
    clock::remedial_moved(conn, &head, Some(from), to, now)?;
    let detail = json!({ "effective": effective });
    let step = NewStep { case_id: id, track: Track::Remedial, step: "verdict", actor, record, authority: None, detail };
    let step_id = steps::insert(conn, &step, now)?;
    let case = &head.view;
    let event = ViolationVerdict {
        case_id: case.id.clone(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        agency_id: case.agency_id.clone(),
        effective,
        state: to.as_str().into(),
        reason: record.body.clone().unwrap_or_default(),
        decided_at: from_db_time(to_db_time(now)),
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &event, now)?;
    Ok(step_id)
}

/// An inspector withdraws an open remedial track, with the reason — or a case never classified
/// (the report is no violation at all), which releases its message.
pub fn withdraw(
    conn: &mut DbConnection,
    id: &str,
    record: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let head = head(conn, id, &CaseReader::Staff)?;
    let from = head.view.remedial_state.unwrap_or(RemedialState::Pending);
    let to = remedial::after_withdrawal(from).map_err(CaseError::NotAllowed)?;
    move_remedial(conn, &head, to, None)?;
    clock::remedial_moved(conn, &head, head.view.remedial_state, to, now)?;
    let step = NewStep {
        case_id: id,
        track: Track::Remedial,
        step: "withdrawn",
        actor,
        record,
        authority: None,
        detail: json!({}),
    };
    let step_id = steps::insert(conn, &step, now)?;
    announce_step(conn, &head, &step_id, "withdrawn", to, record, None, now)?;
    Ok(step_id)
}

/// The remedial stage now running waits on someone outside (the authority it was referred to):
/// its clock stops until resumed, with the reason recorded as a step; `pause` None resumes it.
/// The case's agency (or a parent) or an inspector.
pub fn pause_or_resume(
    conn: &mut DbConnection,
    id: &str,
    pause: Option<&CheckedRecord>,
    actor: &Actor,
    viewer: &CaseReader,
    now: DateTime<Utc>,
) -> Result<String, CaseError> {
    let head = head(conn, id, viewer)?;
    let state = remedial_state(&head)?;
    if state.is_final() {
        return Err(CaseError::NotAllowed(format!("the remedial track is over (`{state}`); no clock runs")));
    }
    let paused = head.remedial_paused_at.is_some();
    match (pause.is_some(), paused) {
        (true, true) => return Err(CaseError::NotAllowed("the remedial stage is paused already".into())),
        (false, false) => return Err(CaseError::NotAllowed("the remedial stage is not paused".into())),
        _ => {}
    }
    // As a message's clock: once its warning is registered, a stage runs on up the ladder.
    let stage = state.budget_stage().map(clock::remedial_stage).unwrap_or_default();
    if pause.is_some() && super::deadlines::breached(conn, id, &stage)? {
        return Err(CaseError::NotAllowed(format!(
            "the stage `{stage}` ran out and its warning is registered; it can no longer pause"
        )));
    }
    let at = to_db_time(now);
    update_unchanged!(conn, &head, violation_cases::remedial_paused_at.eq(pause.map(|_| at)))?;
    let (name, reason) = match pause {
        Some(record) => ("paused", Some(record.body.clone().unwrap_or_default())),
        None => ("resumed", None),
    };
    let empty = CheckedRecord::default();
    let record = pause.unwrap_or(&empty);
    let detail = json!({ "stage": state.budget_stage(), "by_agency": viewer.is_agency() });
    let step = NewStep { case_id: id, track: Track::Remedial, step: name, actor, record, authority: None, detail };
    let step_id = steps::insert(conn, &step, now)?;
    clock::remedial_paused(conn, &head, state, reason.as_deref(), from_db_time(at))?;
    Ok(step_id)
}

/// A later assignment of the case's report to another agency (a decline, then routing or
/// triage) hands the case over: the new agency (and its parents) see and act on it, the one
/// that declined no longer does, and the running stage's clock starts afresh for the new one.
/// An assignment older than the one the case follows changes nothing.
pub fn hand_over(
    conn: &mut DbConnection,
    head: CaseHead,
    assigned: &MessageAssigned,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let at = to_db_time(assigned.assigned_at);
    if assigned.agency_id == head.view.agency_id || at <= to_db_time(head.assigned_at) {
        return Ok(false);
    }
    // Whatever a request did meanwhile, the case is the new agency's now; a request that read
    // it before finds its version changed and is refused.
    diesel::update(violation_cases::table.find(&head.view.id))
        .set((
            violation_cases::agency_id.eq(&assigned.agency_id),
            violation_cases::agency_ancestors.eq(encode_ancestors(&assigned.agency_ancestors)),
            violation_cases::assigned_at.eq(at),
            violation_cases::remedial_paused_at.eq(None::<NaiveDateTime>),
            violation_cases::version.eq(violation_cases::version + 1),
        ))
        .execute(conn)?;
    let actor = Actor::service(nazer_shared::topology::ROUTING);
    let detail = json!({ "from": head.view.agency_id, "to": assigned.agency_id });
    let record = CheckedRecord::default();
    let step = NewStep {
        case_id: &head.view.id,
        track: Track::Remedial,
        step: "reassigned",
        actor: &actor,
        record: &record,
        authority: None,
        detail,
    };
    steps::insert(conn, &step, now)?;
    let mut after = head.clone();
    after.view.agency_id = assigned.agency_id.clone();
    after.agency_ancestors = assigned.agency_ancestors.clone();
    clock::remedial_handed_over(conn, &head, &after, from_db_time(to_db_time(now)))?;
    Ok(true)
}
