//! The remedial track's REST API: an inspector classifies a case, the agency reports its steps,
//! an inspector gives the verdict or withdraws the track. Each answers with the case as the
//! caller sees it.

use crate::store::CaseReader;
use actix_web::{HttpResponse, web};
use nazer_shared::actor::Actor;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, Scope, is_identifier};
use nazer_shared::tracking_code::TrackingCode;
use serde::Deserialize;

use super::remedial::RemedialStep;
use super::steps::{MAX_REASON_CHARS, StepRecord, optional_text, required_text};
use super::store::{self, AgencyStep};
use super::{CaseDetail, CaseError};
use crate::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/violation-cases", web::post().to(post_case))
        .route("/api/v1/violation-cases/{id}/classification", web::post().to(post_classification))
        .route("/api/v1/violation-cases/{id}/remedial/steps", web::post().to(post_remedial_step))
        .route("/api/v1/violation-cases/{id}/remedial/verdict", web::post().to(post_remedial_verdict))
        .route("/api/v1/violation-cases/{id}/remedial/withdrawal", web::post().to(post_remedial_withdrawal))
        .route("/api/v1/violation-cases/{id}/remedial/pause", web::post().to(post_remedial_pause))
        .route("/api/v1/violation-cases/{id}/remedial/resume", web::post().to(post_remedial_resume));
}

/// 1888's inspectors: the supervisors.
const INSPECTORS: [Scope; 1] = [Scope::Supervisor];

/// Who may report the agency's steps: the agency (its own cases and its sub-agencies'), or an
/// inspector recording a letter on its behalf.
fn step_taker(caller: &Caller) -> Result<CaseReader, ApiError> {
    if caller.has(Scope::Supervisor) {
        return Ok(CaseReader::Staff);
    }
    caller.own_agency().map(CaseReader::Agency)
}

/// An inspector's classification of a case.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationBody {
    /// The violation type's code, from `GET /api/v1/violation-types`.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub violation_type: Option<String>,
    /// Why this type, up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A step of the remedial track the agency reports.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemedialStepBody {
    /// `referred`, `decided` or `executed`, in that order.
    #[schema(value_type = RemedialStep)]
    pub step: Option<String>,
    /// The authority referred to, e.g. «کمیسیون ماده صد»: required for `referred`, refused
    /// for the others; up to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub authority: Option<String>,
    /// The reference letter's number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// The reference letter's date: a Solar Hijri (`1405-09-16`) or Gregorian day.
    #[serde(default)]
    pub reference_date: Option<String>,
    /// The referral, the decision or the evidence of execution: required, up to 10,000
    /// characters.
    #[schema(max_length = 10000)]
    pub body: Option<String>,
    /// References to documents (a document id or an address), up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

/// An inspector's verdict on the executed remedial track.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    /// True when the legal process ran its course and the message became effective.
    pub effective: Option<bool>,
    /// Why: required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The reference letter's number, up to 100 characters.
    #[serde(default)]
    pub reference: Option<String>,
    /// The reference letter's date: a Solar Hijri or Gregorian day.
    #[serde(default)]
    pub reference_date: Option<String>,
    /// References to documents, up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

/// An inspector's withdrawal of the remedial track.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalBody {
    /// Why (a groundless report, a duplicate case …): required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The reference letter's number, up to 100 characters.
    #[serde(default)]
    pub reference: Option<String>,
}

/// An inspector's opening of a case on a message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseBody {
    /// The message's tracking code: any message assigned to an agency.
    #[schema(pattern = "^[0-9]{10}$")]
    pub tracking_code: Option<String>,
    /// Why the message is followed as a violation: required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// Opens a violation case on any message assigned to an agency — a complaint found to hide a
/// violation, say (a violation report's case opens by itself when it is assigned). The case is
/// then classified and followed as any other; its message closes only after the verdict.
///
/// Inspectors (supervisors). Publishes `violation.case_opened`.
#[utoipa::path(post, path = "/api/v1/violation-cases", tag = "violation-referral",
    request_body(content = CaseBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The case", body = CaseDetail),
        (status = 409, description = "The message has a case already (the answer names it)",
            content_type = "application/problem+json", body = ProblemSchema),
        (status = 422, description = "No message assigned to an agency has this tracking code",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_case(
    state: web::Data<State>,
    caller: Caller,
    JsonBody(body): JsonBody<CaseBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&INSPECTORS)?;
    let mut issues = Vec::new();
    let code = match TrackingCode::parse(body.tracking_code.as_deref().unwrap_or_default().trim()) {
        Ok(code) => code.to_string(),
        Err(error) => {
            issues.push(FieldIssue::new("tracking_code", format!("the message's tracking code: {error}")));
            String::new()
        }
    };
    let reason = required_text(&mut issues, "reason", body.reason, MAX_REASON_CHARS);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now, keys) = (Actor::of(&caller), state.ctx.clock.now(), state.keys.clone());
    let detail: CaseDetail = state
        .ctx
        .write(move |conn| {
            let id = store::open_on_message(conn, &code, &reason, &actor, now)?;
            store::detail(conn, &id, &CaseReader::Staff, &keys)
        })
        .await?;
    Ok(HttpResponse::Created().json(detail))
}

/// Runs `change` in one transaction and answers with the case as `viewer` then sees it.
pub(crate) async fn changed<F>(
    state: &State,
    id: String,
    viewer: CaseReader,
    status: actix_web::http::StatusCode,
    mut change: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnMut(&mut nazer_shared::db::DbConnection, &str) -> Result<(), CaseError> + Send + 'static,
{
    let keys = state.keys.clone();
    let detail: CaseDetail = state
        .ctx
        .write(move |conn| {
            change(conn, &id)?;
            store::detail(conn, &id, &viewer, &keys)
        })
        .await?;
    Ok(HttpResponse::build(status).json(detail))
}

/// Classifies a case by violation type, which opens its remedial track (`pending`) on the
/// type's budgets; a case may be reclassified until the agency's first step.
///
/// Inspectors (supervisors). Publishes `violation.classified`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/classification", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = ClassificationBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The case, classified", body = CaseDetail),
        (status = 409, description = "The agency has taken a step: the type is fixed",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_classification(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ClassificationBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&INSPECTORS)?;
    let mut issues = Vec::new();
    let code = body.violation_type.map(|c| c.trim().to_string()).unwrap_or_default();
    if !is_identifier(&code) {
        issues.push(FieldIssue::new(
            "violation_type",
            format!("a code from GET /api/v1/violation-types: {IDENTIFIER_RULE}"),
        ));
    }
    let note = optional_text(&mut issues, "note", body.note, MAX_REASON_CHARS);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Staff, actix_web::http::StatusCode::OK, move |conn, id| {
        store::classify(conn, id, &code, note.as_deref(), &actor, now).map(drop)
    })
    .await
}

/// Reports the agency's next step on the remedial track: `referred` to an authority (with its
/// reference), the authority's decision (`decided`), its execution with evidence (`executed`).
///
/// The case's agency (or a parent agency), or an inspector on its behalf. Publishes
/// `violation.remedial_step`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/remedial/steps", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = RemedialStepBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The step recorded; the case as the caller sees it", body = CaseDetail),
        (status = 409, description = "Not the step the track waits for (the answer names it)",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_remedial_step(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<RemedialStepBody>,
) -> Result<HttpResponse, ApiError> {
    let viewer = step_taker(&caller)?;
    let mut issues = Vec::new();
    let step = body.step.as_deref().and_then(RemedialStep::parse);
    if step.is_none() {
        issues.push(FieldIssue::new("step", format!("one of: {}", RemedialStep::listed())));
    }
    let authority = optional_text(&mut issues, "authority", body.authority, 200);
    match (step, &authority) {
        (Some(RemedialStep::Referred), None) => {
            issues.push(FieldIssue::new("authority", "is required for `referred`: the authority referred to"))
        }
        (Some(RemedialStep::Decided | RemedialStep::Executed), Some(_)) => {
            issues.push(FieldIssue::new("authority", "only `referred` names an authority; leave it out"))
        }
        _ => {}
    }
    let record = StepRecord {
        reference: body.reference,
        reference_date: body.reference_date,
        body: body.body,
        documents: body.documents,
    }
    .checked(true, &mut issues);
    let Some(step) = step.filter(|_| issues.is_empty()) else {
        return Err(ApiError::invalid(issues));
    };
    let (actor, now, reader) = (Actor::of(&caller), state.ctx.clock.now(), viewer.clone());
    changed(&state, path.into_inner(), reader, actix_web::http::StatusCode::CREATED, move |conn, id| {
        let taken = AgencyStep { step, record: &record, authority: authority.as_deref() };
        store::take_step(conn, id, &taken, &actor, &viewer, now).map(drop)
    })
    .await
}

/// Gives 1888's verdict on the executed remedial track: `effective` true (the message became
/// effective) or false (`not_effective`), with the reason. Only then may the message close.
///
/// Inspectors (supervisors). Publishes `violation.verdict`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/remedial/verdict", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = VerdictBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The verdict recorded; the case", body = CaseDetail),
        (status = 409, description = "The track is not `executed`",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_remedial_verdict(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&INSPECTORS)?;
    let mut issues = Vec::new();
    if body.effective.is_none() {
        issues.push(FieldIssue::new("effective", "is required: true (effective) or false (not effective)"));
    }
    let letter = StepRecord {
        reference: body.reference,
        reference_date: body.reference_date,
        documents: body.documents,
        ..StepRecord::default()
    };
    let record = letter.with_required_text("reason", body.reason, MAX_REASON_CHARS, &mut issues);
    let Some(effective) = body.effective.filter(|_| issues.is_empty()) else {
        return Err(ApiError::invalid(issues));
    };
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Staff, actix_web::http::StatusCode::OK, move |conn, id| {
        store::give_verdict(conn, id, effective, &record, &actor, now).map(drop)
    })
    .await
}

/// Withdraws the remedial track before its verdict (a groundless report, a duplicate case …),
/// with the reason. The message may then close.
///
/// Inspectors (supervisors). Publishes `violation.remedial_step` (`withdrawn`).
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/remedial/withdrawal", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = WithdrawalBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The track withdrawn; the case", body = CaseDetail),
        (status = 409, description = "The track is over or not opened",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_remedial_withdrawal(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<WithdrawalBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&INSPECTORS)?;
    let mut issues = Vec::new();
    let letter = StepRecord { reference: body.reference, ..StepRecord::default() };
    let record = letter.with_required_text("reason", body.reason, MAX_REASON_CHARS, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Staff, actix_web::http::StatusCode::OK, move |conn, id| {
        store::withdraw(conn, id, &record, &actor, now).map(drop)
    })
    .await
}

/// Why the remedial stage waits on someone outside.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// Why, e.g. «در انتظار تشکیل جلسه کمیسیون ماده صد»: required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The reference letter's number, up to 100 characters.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Pauses the running remedial stage while it waits on an outside authority (the commission
/// has not sat yet …): its clock stops, with what its budget had left, until resumed. The next
/// step resumes it too.
///
/// The case's agency (or a parent agency), or an inspector. Publishes `stage.paused`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/remedial/pause", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = PauseBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The stage paused; the case as the caller sees it", body = CaseDetail),
        (status = 409, description = "Paused already, not classified, or the track is over",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_remedial_pause(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<PauseBody>,
) -> Result<HttpResponse, ApiError> {
    let viewer = step_taker(&caller)?;
    let mut issues = Vec::new();
    let letter = StepRecord { reference: body.reference, ..StepRecord::default() };
    let record = letter.with_required_text("reason", body.reason, MAX_REASON_CHARS, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now, reader) = (Actor::of(&caller), state.ctx.clock.now(), viewer.clone());
    changed(&state, path.into_inner(), reader, actix_web::http::StatusCode::OK, move |conn, id| {
        store::pause_or_resume(conn, id, Some(&record), &actor, &viewer, now).map(drop)
    })
    .await
}

/// Resumes a paused remedial stage: its clock runs again with what its budget had left.
///
/// The case's agency (or a parent agency), or an inspector. Publishes `stage.resumed`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/remedial/resume", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The stage running again; the case as the caller sees it", body = CaseDetail),
        (status = 409, description = "The stage is not paused",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_remedial_resume(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = step_taker(&caller)?;
    let (actor, now, reader) = (Actor::of(&caller), state.ctx.clock.now(), viewer.clone());
    changed(&state, path.into_inner(), reader, actix_web::http::StatusCode::OK, move |conn, id| {
        store::pause_or_resume(conn, id, None, &actor, &viewer, now).map(drop)
    })
    .await
}
