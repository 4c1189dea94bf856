//! The compliance committee's REST API: its sessions, and the decisions recorded at them. The
//! committee records; supervisors, admins and special follow-up read. Agencies and counterpart
//! units are refused for their role.

use actix_web::{HttpResponse, web};
use nazer_shared::actor::Actor;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::paging::{self, Order};
use nazer_shared::http::{ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, page_limit};
use serde::{Deserialize, Serialize};

use super::agenda::{self, AgendaItem};
use super::store::{self, DecisionError, NewSession};
use super::{DecisionView, MemberBody, SessionView};
use crate::State;
use crate::tracks::culpability::Decision;
use crate::tracks::steps::{MAX_BODY_CHARS, MAX_REASON_CHARS, StepRecord, optional_text};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/compliance-committee/sessions", web::post().to(post_committee_session))
        .route("/api/v1/compliance-committee/sessions", web::get().to(get_committee_sessions))
        .route("/api/v1/compliance-committee/sessions/{id}", web::get().to(get_committee_session))
        .route("/api/v1/compliance-committee/sessions/{id}/decisions", web::post().to(post_committee_decision))
        .route("/api/v1/compliance-committee/agenda", web::get().to(get_committee_agenda));
}

/// Who reads the committee's work: the committee, special follow-up, supervisors and admins.
const READERS: [Scope; 4] = [Scope::ComplianceCommittee, Scope::SpecialFollowUp, Scope::Supervisor, Scope::Admin];

/// A session of the committee.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// The day held: Solar Hijri (`1405-09-17`) or Gregorian (`2026-12-08`).
    pub held_on: Option<String>,
    /// The members present, 1 to 30.
    #[serde(default)]
    #[schema(max_items = 30)]
    pub members: Vec<MemberBody>,
    /// Up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// The committee's decision on one case referred to it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// The case's id.
    #[schema(pattern = "^[0-9a-f-]{36}$")]
    pub case_id: Option<String>,
    /// `violations_board`, `prosecutor`, `agency_disciplinary`, `procedure_correction` or
    /// `no_fault` (which closes the track as `closed_no_fault`).
    #[schema(value_type = Decision)]
    pub decision: Option<String>,
    /// Why: required, up to 10,000 characters.
    #[schema(max_length = 10000)]
    pub reasoning: Option<String>,
    /// The minutes' letter number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// References to documents, up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    /// `-created_at` (newest first, the default) or `created_at`.
    #[param(pattern = "^-?created_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
    /// How many sessions at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ComplianceSessionList {
    sessions: Vec<SessionView>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Records a session of the compliance committee: the day held and the members present.
///
/// The compliance committee.
#[utoipa::path(post, path = "/api/v1/compliance-committee/sessions", tag = "violation-referral",
    request_body(content = SessionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The session", body = SessionView),
        (status = 422, description = "A field at fault, named", content_type = "application/problem+json",
            body = ProblemSchema)))]
pub(crate) async fn post_committee_session(
    state: web::Data<State>,
    caller: Caller,
    JsonBody(body): JsonBody<SessionBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::ComplianceCommittee])?;
    let mut issues = Vec::new();
    let held_on = super::held_on(body.held_on.as_deref(), &mut issues);
    let members = super::members(body.members, &mut issues);
    let note = optional_text(&mut issues, "note", body.note, MAX_REASON_CHARS);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    let session = NewSession { held_on, members, note };
    let view = state.ctx.write(move |conn| store::create_session(conn, &session, &actor, now)).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Lists the committee's sessions, newest recorded first, with a cursor.
///
/// The compliance committee, special follow-up, supervisors and admins.
#[utoipa::path(get, path = "/api/v1/compliance-committee/sessions", tag = "violation-referral",
    params(SessionQuery),
    responses((status = 200, description = "A page of sessions", body = ComplianceSessionList)))]
pub(crate) async fn get_committee_sessions(
    state: web::Data<State>,
    caller: Caller,
    QueryParams(query): QueryParams<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&READERS)?;
    let mut issues = Vec::new();
    let newest_first = paging::newest_first("created_at", query.sort.as_deref(), Order::NewestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let limit = page_limit(query.limit)?;
    let (sessions, next_cursor) =
        state.ctx.db.run(move |conn| store::list_sessions(conn, newest_first, after.clone(), limit)).await?;
    Ok(HttpResponse::Ok().json(ComplianceSessionList { sessions, next_cursor }))
}

/// Reads a session with the decisions recorded at it.
///
/// The compliance committee, special follow-up, supervisors and admins.
#[utoipa::path(get, path = "/api/v1/compliance-committee/sessions/{id}", tag = "violation-referral",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 404, description = "No such session", content_type = "application/problem+json",
            body = ProblemSchema)))]
pub(crate) async fn get_committee_session(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&READERS)?;
    let id = path.into_inner();
    let session = state.ctx.db.run(move |conn| store::find_session(conn, &id)).await?;
    let session = session.ok_or_else(|| ApiError::NotFound("no committee session has this id".into()))?;
    Ok(HttpResponse::Ok().json(session))
}

/// Records the committee's decision on a case referred to it (`at_committee`), once per case:
/// the culpability track moves to `decided`, or to `closed_no_fault` for `no_fault`.
///
/// The compliance committee. Publishes `committee.decision_recorded` (and
/// `violation.culpability_closed` for `no_fault`).
#[utoipa::path(post, path = "/api/v1/compliance-committee/sessions/{id}/decisions", tag = "violation-referral",
    params(("id" = String, Path, description = "The session's id")),
    request_body(content = DecisionBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The decision", body = DecisionView),
        (status = 404, description = "No such session, or no such case", content_type = "application/problem+json",
            body = ProblemSchema),
        (status = 409, description = "Decided already, or the case is not before the committee",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_committee_decision(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::ComplianceCommittee])?;
    let mut issues = Vec::new();
    let case_id = body.case_id.map(|c| c.trim().to_string()).unwrap_or_default();
    if uuid::Uuid::parse_str(&case_id).is_err() {
        issues.push(FieldIssue::new("case_id", "is required: the case's id, from GET /api/v1/violation-cases"));
    }
    let decision = body.decision.as_deref().and_then(Decision::parse);
    if decision.is_none() {
        issues.push(FieldIssue::new("decision", format!("one of: {}", Decision::listed())));
    }
    let letter = StepRecord { reference: body.reference, documents: body.documents, ..StepRecord::default() };
    let reasoning = letter.with_required_text("reasoning", body.reasoning, MAX_BODY_CHARS, &mut issues);
    let Some(decision) = decision.filter(|_| issues.is_empty()) else {
        return Err(ApiError::invalid(issues));
    };
    let (actor, now, session_id) = (Actor::of(&caller), state.ctx.clock.now(), path.into_inner());
    let recorded = state
        .ctx
        .write(move |conn| {
            store::record_decision(conn, &session_id, (&case_id, decision), &reasoning, &actor, now).map_err(
                |e| match e {
                    DecisionError::NoSession => ApiError::NotFound("no committee session has this id".into()),
                    DecisionError::Case(error) => error.into(),
                },
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(recorded))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgendaQuery {
    /// `json` (the default) or `csv` (with a byte-order mark, instants also in Solar Hijri).
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// The committee's agenda.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ComplianceAgenda {
    agenda: Vec<AgendaItem>,
}

/// The committee's agenda: every case referred to it and not yet decided (`at_committee`), the
/// longest waiting first, with the unit's findings (fault and summary; the officials named are
/// on the case). As JSON, or CSV for the session's papers.
///
/// The compliance committee, special follow-up, supervisors and admins.
#[utoipa::path(get, path = "/api/v1/compliance-committee/agenda", tag = "violation-referral",
    params(AgendaQuery),
    responses((status = 200, description = "The agenda",
        content((ComplianceAgenda = "application/json"), (String = "text/csv")))))]
pub(crate) async fn get_committee_agenda(
    state: web::Data<State>,
    caller: Caller,
    QueryParams(query): QueryParams<AgendaQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&READERS)?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid_field("format", "`json` or `csv`")),
    };
    let items = state.ctx.db.run(agenda::agenda).await?;
    if csv {
        return Ok(nazer_shared::http::csv::attachment("committee-agenda.csv", agenda::to_csv(&items)));
    }
    Ok(HttpResponse::Ok().json(ComplianceAgenda { agenda: items }))
}
