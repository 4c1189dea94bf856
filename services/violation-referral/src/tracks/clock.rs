//! The clocks of a case's remedial stages, run by deadline-timer from the `stage.*` events
//! published here, in the transaction of the change that moves the track. Each state waits for
//! one stage (its budget from the violation type, copied at classification): the agency's
//! referral, the authority's decision, the execution — warned to the agency, then its parent,
//! then Special Follow-up — and 1888's verdict, warned to Special Follow-up.

use chrono::{DateTime, Utc};
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::events::{StageClosed, StageOpened, StagePaused, StageResumed, StageSubject};
use nazer_shared::outbox;
use nazer_shared::topology::{COMPLIANCE_COMMITTEE, SPECIAL_FOLLOW_UP, VIOLATION_REFERRAL, unit_recipient};

use super::culpability::CulpabilityState;
use super::remedial::RemedialState;
use crate::store::CaseHead;

/// The subject kind deadline-timer's events name for a case's clocks.
pub const SUBJECT_KIND: &str = "violation_case";

/// The clock's stage name of the remedial budget stage `stage` (`referred` …).
pub fn remedial_stage(stage: &str) -> String {
    format!("remedial.{stage}")
}

/// What each remedial stage asks, as warnings name it (the message's tracking code follows).
fn remedial_stage_fa(stage: &str) -> &'static str {
    match stage {
        "referred" => "مهلت ارجاع تخلف به مرجع رسیدگی در پرونده پیام",
        "decided" => "مهلت اعلام رأی مرجع رسیدگی در پرونده پیام",
        "executed" => "مهلت اجرای رأی در پرونده پیام",
        _ => "مهلت اعلام نظر ۱۸۸۸ درباره اثربخشی پرونده پیام",
    }
}

fn subject(head: &CaseHead) -> StageSubject {
    StageSubject { kind: SUBJECT_KIND.into(), id: head.view.id.clone() }
}

/// The clock changes a move of the remedial track from `from` to `to` makes: the stage the
/// track waited for stops, the one it waits for now starts.
pub fn remedial_moved(
    conn: &mut DbConnection,
    head: &CaseHead,
    from: Option<RemedialState>,
    to: RemedialState,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let (before, after) = (from.and_then(RemedialState::budget_stage), to.budget_stage());
    moved(conn, head, (before, after), remedial_stage, at, |conn, stage| open_remedial(conn, head, stage, at))
}

/// Stops the clock of stage `before` and starts the one of `after` (budget stage names, made
/// clock stage names by `named`), unless they are the same.
fn moved(
    conn: &mut DbConnection,
    head: &CaseHead,
    (before, after): (Option<&str>, Option<&str>),
    named: fn(&str) -> String,
    at: DateTime<Utc>,
    open: impl FnOnce(&mut DbConnection, &str) -> Result<(), DbError>,
) -> Result<(), DbError> {
    if before == after {
        return Ok(());
    }
    if let Some(stage) = before {
        let closed = StageClosed { subject: subject(head), stage: named(stage), closed_at: at };
        outbox::enqueue(conn, VIOLATION_REFERRAL, &closed, at)?;
    }
    match after {
        Some(stage) => open(conn, stage),
        None => Ok(()),
    }
}

fn open_remedial(conn: &mut DbConnection, head: &CaseHead, stage: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    let budget = head.budgets.as_ref().and_then(|b| b.remedial.get(stage)).cloned();
    // The agency answers for its own stages (its parent at level 2); 1888 for its verdict.
    let (agency_id, ancestors) = if stage == "verdict" {
        (SPECIAL_FOLLOW_UP.to_string(), Vec::new())
    } else {
        (head.view.agency_id.clone(), head.agency_ancestors.clone())
    };
    let answerable = Answerable { agency_id, escalation: ancestors.first().cloned(), ancestors };
    open_stage(conn, head, (remedial_stage(stage), remedial_stage_fa(stage)), budget, answerable, at)
}

/// Who answers for a stage (warned at level 1), who is warned beside at level 2, and who else
/// sees its warnings (the agency's ancestors).
struct Answerable {
    agency_id: String,
    escalation: Option<String>,
    ancestors: Vec<String>,
}

fn open_stage(
    conn: &mut DbConnection,
    head: &CaseHead,
    (stage, stage_fa): (String, &str),
    budget: Option<String>,
    Answerable { agency_id, escalation, ancestors }: Answerable,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let budget =
        budget.ok_or_else(|| DbError::Refused(format!("case `{}` has no budget for `{stage}`", head.view.id)))?;
    let case = &head.view;
    let opened = StageOpened {
        subject: subject(head),
        stage,
        stage_fa: stage_fa.into(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        agency_id,
        escalation_agency_id: escalation,
        agency_ancestors: ancestors,
        // Each further level as long again as the stage's budget.
        level_2_after: Some(budget.clone()),
        level_3_after: Some(budget.clone()),
        budget,
        reminders: None,
        province: case.province.clone(),
        area_path: head.area_path.clone(),
        opened_at: at,
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &opened, at)?;
    Ok(())
}

/// The case went to another agency (its report declined and assigned again): the running
/// stage's clock stops for the agency that had it and starts afresh for the new one.
pub fn remedial_handed_over(
    conn: &mut DbConnection,
    before: &CaseHead,
    after: &CaseHead,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let Some(stage) = before.view.remedial_state.and_then(RemedialState::budget_stage) else {
        return Ok(());
    };
    // 1888's own verdict stage does not change hands.
    if stage == "verdict" {
        return Ok(());
    }
    let closed = StageClosed { subject: subject(before), stage: remedial_stage(stage), closed_at: at };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &closed, at)?;
    open_remedial(conn, after, stage, at)
}

/// The running remedial stage waits on someone outside (its clock stops), or runs again.
pub fn remedial_paused(
    conn: &mut DbConnection,
    head: &CaseHead,
    state: RemedialState,
    pause: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let Some(stage) = state.budget_stage().map(remedial_stage) else {
        return Ok(());
    };
    match pause {
        Some(reason) => {
            let paused = StagePaused { subject: subject(head), stage, reason: reason.into(), paused_at: at };
            outbox::enqueue(conn, VIOLATION_REFERRAL, &paused, at)?;
        }
        None => {
            let resumed = StageResumed { subject: subject(head), stage, resumed_at: at };
            outbox::enqueue(conn, VIOLATION_REFERRAL, &resumed, at)?;
        }
    }
    Ok(())
}

/// The clock's stage name of the culpability budget stage `stage`.
pub fn culpability_stage(stage: &str) -> String {
    format!("culpability.{stage}")
}

fn culpability_stage_fa(stage: &str) -> &'static str {
    match stage {
        "findings_recorded" => "مهلت اعلام نتیجه بررسی قصور و تقصیر در پرونده پیام",
        "at_committee" => "مهلت ارجاع قصور و تقصیر به کمیته تطبیق در پرونده پیام",
        "decided" => "مهلت تصمیم کمیته تطبیق در پرونده پیام",
        "outcome_recorded" => "مهلت ثبت نتیجه رسیدگی به قصور و تقصیر در پرونده پیام",
        _ => "مهلت پایش اجرای نتیجه رسیدگی به قصور و تقصیر در پرونده پیام",
    }
}

/// The clock changes a move of the culpability track makes: warned to whoever answers for the
/// stage — the counterpart unit for its findings and referral, the compliance committee for its
/// decision, the outcome and its watch — then Special Follow-up at levels 2 and 3; never to the
/// agency.
pub fn culpability_moved(
    conn: &mut DbConnection,
    head: &CaseHead,
    unit_id: &str,
    from: Option<CulpabilityState>,
    to: CulpabilityState,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let (before, after) = (from.and_then(CulpabilityState::budget_stage), to.budget_stage());
    moved(conn, head, (before, after), culpability_stage, at, |conn, stage| {
        let budget = head.budgets.as_ref().and_then(|b| b.culpability.get(stage)).cloned();
        let answers = match stage {
            "findings_recorded" | "at_committee" => unit_recipient(unit_id),
            _ => COMPLIANCE_COMMITTEE.to_string(),
        };
        let answerable =
            Answerable { agency_id: answers, escalation: Some(SPECIAL_FOLLOW_UP.into()), ancestors: Vec::new() };
        open_stage(conn, head, (culpability_stage(stage), culpability_stage_fa(stage)), budget, answerable, at)
    })
}
