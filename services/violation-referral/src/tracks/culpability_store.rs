//! Moving a case's culpability track: an inspector refers it to a counterpart unit, the unit
//! records its findings with the officials it names (sealed) and refers the case to the
//! compliance committee, which decides it (`crate::committee`), records its outcome and closes
//! it once watched. Each change is checked by the pure rules, recorded as a step, put on the
//! clock and announced in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::actor::Actor;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time, write_transaction};
use nazer_shared::events::{ViolationCulpabilityClosed, ViolationCulpabilityOpened, ViolationCulpabilityReferred};
use nazer_shared::http::FieldIssue;
use nazer_shared::outbox;
use nazer_shared::sealing::{Resealed, SealingKeys};
use nazer_shared::select_for_update;
use nazer_shared::topology::VIOLATION_REFERRAL;
use serde_json::{Value, json};

use super::culpability::{self, CulpabilityState, Decision, Fault};
use super::steps::{self, CheckedRecord, NewStep, Track};
use super::store::{head, update_unchanged};
use super::{CaseError, clock};
use crate::schema::{violation_case_steps, violation_cases};
use crate::store::{CaseHead, CaseReader};
use crate::units;

/// The step that carries the officials named.
pub(crate) const FINDINGS: &str = "findings";
/// The step that puts the case before the committee.
pub(crate) const REFERRED: &str = "referred";

/// Sets the culpability state (and the unit, when given) if the case is unchanged since read.
fn move_culpability(
    conn: &mut DbConnection,
    head: &CaseHead,
    to: CulpabilityState,
    unit: Option<&str>,
) -> Result<(), CaseError> {
    let state = violation_cases::culpability_state.eq(to.as_str());
    match unit {
        Some(unit) => update_unchanged!(conn, head, (state, violation_cases::culpability_unit_id.eq(unit))),
        None => update_unchanged!(conn, head, state),
    }
}

/// The culpability state of a case whose track is open, or why it is not.
fn culpability_state(head: &CaseHead) -> Result<CulpabilityState, CaseError> {
    head.view.culpability_state.flatten().ok_or_else(|| {
        CaseError::NotAllowed("the culpability track is not opened; an inspector refers it to a unit first".into())
    })
}

/// An inspector refers the case's culpability to counterpart unit `unit`, at any time (also
/// after the message became effective), once the case is classified (its budgets set).
pub fn open(
    conn: &mut DbConnection,
    id: &str,
    unit: &str,
    reason: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let head = head(conn, id, &CaseReader::Staff)?;
    let to = culpability::may_open(head.view.culpability_state.flatten()).map_err(CaseError::NotAllowed)?;
    if head.budgets.is_none() {
        return Err(CaseError::NotAllowed(
            "the case is not classified yet: its violation type sets the culpability track's budgets".into(),
        ));
    }
    if !units::unit_exists(conn, unit)? {
        let problem = "no counterpart unit has this id; GET /api/v1/counterpart-units lists them";
        return Err(CaseError::Invalid(vec![FieldIssue::new("unit", problem)]));
    }
    move_culpability(conn, &head, to, Some(unit))?;
    let detail = json!({ "unit": unit });
    let step = NewStep {
        case_id: id,
        track: Track::Culpability,
        step: "opened",
        actor,
        record: reason,
        authority: None,
        detail,
    };
    steps::insert(conn, &step, now)?;
    let at = from_db_time(to_db_time(now));
    clock::culpability_moved(conn, &head, unit, None, to, at)?;
    let case = &head.view;
    let event = ViolationCulpabilityOpened {
        case_id: case.id.clone(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        unit_id: unit.to_string(),
        opened_at: at,
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &event, now)?;
    Ok(())
}

/// An official named in findings, checked.
pub struct Official {
    pub full_name: String,
    pub position: String,
}

/// What the unit found.
pub struct Findings<'a> {
    pub summary: &'a CheckedRecord,
    pub fault: Fault,
    pub officials: &'a [Official],
}

/// The counterpart unit the case is referred to records its findings; the officials it names
/// are sealed at rest, like reporters.
pub fn record_findings(
    conn: &mut DbConnection,
    id: &str,
    findings: &Findings,
    keys: &SealingKeys,
    actor: &Actor,
    reader: &CaseReader,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let head = head(conn, id, reader)?;
    let from = culpability_state(&head)?;
    let to = culpability::after_findings(from).map_err(CaseError::NotAllowed)?;
    let mut officials = Vec::new();
    for official in findings.officials {
        officials.push(json!({
            "full_name": culpability::seal_official(keys, id, "full_name", &official.full_name)?,
            "position": culpability::seal_official(keys, id, "position", &official.position)?,
        }));
    }
    let detail = json!({ "fault": findings.fault, "officials": Value::Array(officials) });
    advance(conn, &head, (from, to), (FINDINGS, findings.summary, detail), actor, now)?;
    Ok(())
}

/// Moves the track of the case `head` from `from` to `to`, records step `step` (with `detail`)
/// and moves its clock: what every change after the opening shares.
pub(crate) fn advance(
    conn: &mut DbConnection,
    head: &CaseHead,
    (from, to): (CulpabilityState, CulpabilityState),
    (step, record, detail): (&str, &CheckedRecord, Value),
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, CaseError> {
    move_culpability(conn, head, to, None)?;
    let new_step =
        NewStep { case_id: &head.view.id, track: Track::Culpability, step, actor, record, authority: None, detail };
    steps::insert(conn, &new_step, now)?;
    let unit = head.culpability_unit_id.clone().unwrap_or_default();
    let at = from_db_time(to_db_time(now));
    clock::culpability_moved(conn, head, &unit, Some(from), to, at)?;
    if to.is_final() {
        let case = &head.view;
        let closed = ViolationCulpabilityClosed {
            case_id: case.id.clone(),
            message_id: case.message_id.clone(),
            tracking_code: case.tracking_code.clone(),
            unit_id: unit,
            state: to.as_str().into(),
            closed_at: at,
        };
        outbox::enqueue(conn, VIOLATION_REFERRAL, &closed, now)?;
    }
    Ok(at)
}

/// The counterpart unit refers the case, its findings recorded, to the compliance committee.
pub fn refer(
    conn: &mut DbConnection,
    id: &str,
    record: &CheckedRecord,
    actor: &Actor,
    reader: &CaseReader,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let head = head(conn, id, reader)?;
    let from = culpability_state(&head)?;
    let to = culpability::after_referral(from).map_err(CaseError::NotAllowed)?;
    let at = advance(conn, &head, (from, to), (REFERRED, record, json!({})), actor, now)?;
    let case = &head.view;
    let referred = ViolationCulpabilityReferred {
        case_id: case.id.clone(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        unit_id: head.culpability_unit_id.clone().unwrap_or_default(),
        referred_at: at,
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &referred, now)?;
    Ok(())
}

/// The outcome of the committee's decision: an Article 9 penalty (its clause letter) or a
/// judicial result, with what was done.
pub struct Outcome<'a> {
    pub penalty: Option<&'static str>,
    pub judicial_result: Option<String>,
    pub record: &'a CheckedRecord,
}

/// The committee records the outcome of its decision; it is then watched until closed.
pub fn record_outcome(
    conn: &mut DbConnection,
    id: &str,
    outcome: &Outcome,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let head = head(conn, id, &CaseReader::Entrusted)?;
    let from = culpability_state(&head)?;
    let to = culpability::after_outcome(from).map_err(CaseError::NotAllowed)?;
    let decision = crate::committee::store::decision_of(conn, id)?
        .ok_or_else(|| CaseError::NotAllowed("the committee has not decided this case".into()))?;
    culpability::check_outcome(decision, outcome.penalty.is_some(), outcome.judicial_result.is_some())
        .map_err(CaseError::NotAllowed)?;
    let detail = json!({
        "decision": decision,
        "penalty": outcome.penalty,
        "judicial_result": outcome.judicial_result,
    });
    advance(conn, &head, (from, to), ("outcome", outcome.record, detail), actor, now)?;
    Ok(())
}

/// The committee closes the track once the outcome it watched was carried out.
pub fn close(
    conn: &mut DbConnection,
    id: &str,
    record: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let head = head(conn, id, &CaseReader::Entrusted)?;
    let from = culpability_state(&head)?;
    let to = culpability::after_closure(from).map_err(CaseError::NotAllowed)?;
    advance(conn, &head, (from, to), ("closed", record, json!({})), actor, now)?;
    Ok(())
}

/// The committee's decision moves the case it decided: `decided`, or `closed_no_fault`.
pub(crate) fn decide(
    conn: &mut DbConnection,
    head: &CaseHead,
    (decision, session_id): (Decision, &str),
    record: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), CaseError> {
    let from = culpability_state(head)?;
    let to = culpability::after_decision(from, decision).map_err(CaseError::NotAllowed)?;
    let detail = json!({ "decision": decision, "session_id": session_id });
    advance(conn, head, (from, to), ("decided", record, detail), actor, now)?;
    Ok(())
}

/// Reseals the officials named in findings under the active key (rows sealed by a retiring
/// key, as `nazer migrate` does for reporters); steps whose names no configured key opens are
/// left as they are, named by their case.
pub fn reseal_officials(conn: &mut DbConnection, keys: &SealingKeys) -> Result<Resealed, DbError> {
    write_transaction(conn, |conn| {
        let rows: Vec<(String, String, String)> = select_for_update!(
            conn,
            violation_case_steps::table
                .filter(violation_case_steps::track.eq(Track::Culpability.as_str()))
                .filter(violation_case_steps::step.eq(FINDINGS))
                .order(violation_case_steps::id)
                .select((violation_case_steps::id, violation_case_steps::case_id, violation_case_steps::detail))
        )?;
        let mut done = Resealed::default();
        for (id, case_id, text) in rows {
            let mut detail: Value = serde_json::from_str(&text)
                .map_err(|e| DbError::Refused(format!("case step `{id}` has an unreadable detail: {e}")))?;
            match culpability::reseal_officials(keys, &case_id, &mut detail) {
                Ok(true) => {
                    diesel::update(violation_case_steps::table.find(&id))
                        .set(violation_case_steps::detail.eq(detail.to_string()))
                        .execute(conn)?;
                    done.rewritten += 1;
                }
                Ok(false) => {}
                Err(_) => done.unreadable.push(case_id),
            }
        }
        Ok(done)
    })
}
