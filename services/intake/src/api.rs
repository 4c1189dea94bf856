//! Intake's REST API for messages: posting and reading them (call centre, supervisors,
//! agencies), lists, and the agency's steps of the lifecycle.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use nazer_shared::agency::Viewer;
use nazer_shared::events::{MessageKind, Priority};
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, is_identifier, page_limit, period_bound,
};
use nazer_shared::runtime::ServiceContext;
use serde::Deserialize;
use serde_json::json;

use crate::lifecycle::{self, Answer, LifecycleError};
use crate::quality::{Review, ReviewRequest, Rubric};
use crate::store::{self, Posted, status};
use crate::submission::{self, SubmissionRequest};
use crate::tracking_code::TrackingCode;
use crate::view::{self, Cursor, MessageFilter, ReporterAccess};

pub struct IntakeState {
    pub ctx: ServiceContext,
    pub keys: crate::sealing::ReporterKeys,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<IntakeState>) {
    cfg.app_data(state)
        .route("/api/v1/messages", web::post().to(post_message))
        .route("/api/v1/messages", web::get().to(get_messages))
        .route("/api/v1/messages/{tracking_code}", web::get().to(get_message))
        .route("/api/v1/messages/{tracking_code}/responses", web::post().to(post_response))
        .route("/api/v1/messages/{tracking_code}/acknowledgement", web::post().to(post_acknowledgement))
        .route("/api/v1/messages/{tracking_code}/decline", web::post().to(post_decline))
        .route("/api/v1/messages/{tracking_code}/close", web::post().to(post_close))
        .route("/api/v1/messages/{tracking_code}/reopen", web::post().to(post_reopen))
        .route("/api/v1/messages/{tracking_code}/responses/{response_id}/review", web::post().to(post_review))
        .configure(crate::admin_api::routes)
        .configure(crate::tracking_api::routes);
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
const NOT_FOUND: &str = "no message has this tracking code";

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else { return Ok(None) };
    let text = value.to_str().ok().map(str::trim).unwrap_or_default();
    if text.is_empty() || text.len() > 200 {
        return Err(ApiError::bad_request(
            Some(IDEMPOTENCY_HEADER),
            "the Idempotency-Key header must hold 1 to 200 visible ASCII characters",
        ));
    }
    Ok(Some(text.to_string()))
}

pub(crate) fn parse_code(text: &str) -> Result<TrackingCode, ApiError> {
    TrackingCode::parse(text).map_err(|e| ApiError::invalid_field("tracking_code", e.to_string()))
}

pub(crate) fn lifecycle_error(error: LifecycleError) -> ApiError {
    match error {
        LifecycleError::NotFound => ApiError::NotFound(NOT_FOUND.into()),
        LifecycleError::NotAllowed(why) => ApiError::Conflict(why),
        LifecycleError::Db(error) => error.into(),
    }
}

/// An agency acting on its messages: the agency's own, or its sub-agencies'.
fn acting_agency(caller: &Caller) -> Result<Viewer, ApiError> {
    Ok(Viewer::Agency(caller.own_agency()?))
}

async fn post_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    req: HttpRequest,
    JsonBody(request): JsonBody<SubmissionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin])?;
    let key = idempotency_key(&req)?;
    let now = state.ctx.clock.now();
    let submitted_by = caller.key_id.clone();
    let keys = state.keys.clone();
    let posted = state
        .ctx
        .db
        .write(move |conn| {
            let categories = store::load_categories(conn)?;
            let submission = submission::validate(&request, &categories).map_err(ApiError::invalid)?;
            store::post_message(conn, &keys, &submission, &submitted_by, key.as_deref(), now).map_err(ApiError::from)
        })
        .await?;
    state.ctx.committed();
    Ok(match posted {
        Posted::Created(receipt) => {
            tracing::info!(message_id = %receipt.id, "message received");
            HttpResponse::Created()
                .insert_header((LOCATION, format!("/api/v1/messages/{}", receipt.tracking_code)))
                .json(receipt)
        }
        Posted::Replayed(receipt) => HttpResponse::Ok().insert_header(("Idempotent-Replayed", "true")).json(receipt),
    })
}

/// Who reads reporters: the call centre and supervisors always, agencies unless protected,
/// admins (who run the system, not the cases) never.
fn reporter_access(caller: &Caller) -> ReporterAccess {
    if [Scope::CallCenter, Scope::Supervisor, Scope::SpecialFollowUp].iter().any(|s| caller.has(*s)) {
        ReporterAccess::Always
    } else if caller.has(Scope::Agency) && !caller.has(Scope::Admin) {
        ReporterAccess::UnlessProtected
    } else {
        ReporterAccess::Never
    }
}

async fn get_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Supervisor, Scope::SpecialFollowUp, Scope::Agency])?;
    let code = parse_code(&path)?;
    let (viewer, access, keys) = (caller.viewer(), reporter_access(&caller), state.keys.clone());
    let view = state.ctx.db.read(move |conn| view::find_message(conn, &code, &viewer, access, &keys)).await?;
    // Another agency's message answers exactly like a missing one.
    view.map(|v| HttpResponse::Ok().json(v)).ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    agency_id: Option<String>,
    category: Option<String>,
    province: Option<String>,
    priority: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn get_messages(
    state: web::Data<IntakeState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Supervisor, Scope::SpecialFollowUp, Scope::Agency])?;
    let mut issues = Vec::new();
    if query.status.as_deref().is_some_and(|s| !status::ALL.contains(&s)) {
        issues.push(FieldIssue::new("status", format!("one of: {}", status::ALL.join(", "))));
    }
    for (field, value) in [("agency_id", &query.agency_id), ("category", &query.category)] {
        if value.as_deref().is_some_and(|v| !is_identifier(v)) {
            issues.push(FieldIssue::new(field, nazer_shared::http::IDENTIFIER_RULE));
        }
    }
    if query.province.as_deref().is_some_and(|p| !nazer_shared::iran::is_province(p)) {
        issues.push(FieldIssue::new("province", format!("one of: {}", nazer_shared::iran::province_codes())));
    }
    if query.priority.as_deref().is_some_and(|p| Priority::parse(p).is_none()) {
        issues.push(FieldIssue::new("priority", format!("one of: {}", Priority::ALL.map(|p| p.as_str()).join(", "))));
    }
    if query.kind.as_deref().is_some_and(|k| MessageKind::parse(k).is_none()) {
        issues.push(FieldIssue::new("kind", format!("one of: {}", MessageKind::ALL.map(|k| k.as_str()).join(", "))));
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    let newest_first = match query.sort.as_deref() {
        None | Some("-received_at") => true,
        Some("received_at") => false,
        Some(_) => {
            issues.push(FieldIssue::new(
                "sort",
                "received_at (oldest first) or -received_at (newest first, the default)",
            ));
            true
        }
    };
    let after = query.cursor.as_deref().map(Cursor::parse);
    if after.as_ref().is_some_and(Option::is_none) {
        issues.push(FieldIssue::new("cursor", "pass back the `next_cursor` of the previous page unchanged"));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = MessageFilter {
        status: query.status,
        agency_id: query.agency_id,
        category: query.category,
        province: query.province,
        priority: query.priority,
        kind: query.kind,
        from,
        until,
        newest_first,
        after: after.flatten(),
        limit: page_limit(query.limit)?,
    };
    let viewer = caller.viewer();
    let (messages, next_cursor) = state.ctx.db.run(move |conn| view::list_messages(conn, &viewer, &filter)).await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": messages, "next_cursor": next_cursor })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRequest {
    outcome: Option<String>,
    body: Option<String>,
    attachments: Option<Vec<String>>,
}

const OUTCOMES: [&str; 3] = ["resolved", "partially_resolved", "rejected"];
const MAX_ATTACHMENTS: usize = 10;

async fn post_response(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ResponseRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let mut issues = Vec::new();
    let outcome = request.outcome.as_deref().map(str::trim).unwrap_or_default().to_string();
    if !OUTCOMES.contains(&outcome.as_str()) {
        issues.push(FieldIssue::new("outcome", format!("is required; one of: {}", OUTCOMES.join(", "))));
    }
    let body = nazer_shared::iran::normalize_persian(request.body.as_deref().map(str::trim).unwrap_or_default());
    if body.is_empty() || body.chars().count() > submission::MAX_BODY_CHARS {
        issues.push(FieldIssue::new("body", format!("is required, up to {} characters", submission::MAX_BODY_CHARS)));
    }
    let attachments: Vec<String> =
        request.attachments.unwrap_or_default().iter().map(|a| a.trim().to_string()).collect();
    if attachments.len() > MAX_ATTACHMENTS
        || attachments.iter().any(|a| a.is_empty() || a.chars().count() > 500 || a.chars().any(char::is_control))
    {
        issues.push(FieldIssue::new(
            "attachments",
            format!("up to {MAX_ATTACHMENTS} references (document ids or URLs), each 1–500 characters"),
        ));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let answer = Answer { outcome, body, attachments };
    let answered = state.ctx.db.write(move |conn| lifecycle::respond(conn, &code, &viewer, &answer, now)).await;
    let view = answered.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Created().json(view))
}

async fn post_acknowledgement(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let now = state.ctx.clock.now();
    let acknowledged = state.ctx.db.write(move |conn| lifecycle::acknowledge(conn, &code, &viewer, now)).await;
    let at = acknowledged.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Ok().json(json!({ "acknowledged_at": at })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonRequest {
    reason: Option<String>,
}

pub(crate) fn reason_of(request: ReasonRequest, required: bool) -> Result<String, ApiError> {
    let reason = nazer_shared::iran::normalize_persian(request.reason.as_deref().map(str::trim).unwrap_or_default());
    if (required && reason.is_empty()) || reason.chars().count() > 1_000 {
        let need = if required { "is required, " } else { "" };
        return Err(ApiError::invalid_field("reason", format!("{need}up to 1000 characters")));
    }
    Ok(reason)
}

async fn post_decline(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let reason = reason_of(request, true)?;
    let now = state.ctx.clock.now();
    let declined = state.ctx.db.write(move |conn| lifecycle::decline(conn, &code, &viewer, &reason, now)).await;
    let count = declined.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Ok().json(json!({ "status": status::DECLINED, "decline_count": count })))
}

async fn post_close(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Supervisor, Scope::Admin])?;
    let code = parse_code(&path)?;
    let reason = reason_of(request, false)?;
    let reason = if reason.is_empty() { "handled".to_string() } else { reason };
    let now = state.ctx.clock.now();
    let closed = state.ctx.db.write(move |conn| lifecycle::close(conn, &code, &reason, now)).await;
    let at = closed.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Ok().json(json!({ "status": status::CLOSED, "closed_at": at })))
}

/// The call centre reopens for a citizen who phoned in, within the same period.
async fn post_reopen(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin])?;
    let code = parse_code(&path)?;
    let reason = reason_of(request, true)?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let reopened = state.ctx.db.write(move |conn| lifecycle::reopen(conn, &code, &reason, days, now)).await;
    let at = reopened.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Ok().json(json!({ "status": status::REOPENED, "reopened_at": at })))
}

/// A supervisor scores an answer on the quality rubric.
async fn post_review(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    JsonBody(request): JsonBody<ReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Supervisor])?;
    let (code, response_id) = path.into_inner();
    let code = parse_code(&code)?;
    if uuid::Uuid::parse_str(&response_id).is_err() {
        return Err(ApiError::NotFound("no answer of this message has this id".into()));
    }
    let rubric = Rubric::from_request(&request).map_err(ApiError::invalid)?;
    let comment = nazer_shared::iran::normalize_persian(request.comment.as_deref().map(str::trim).unwrap_or_default());
    if comment.chars().count() > 2_000 {
        return Err(ApiError::invalid_field("comment", "is up to 2000 characters"));
    }
    let comment = Some(comment).filter(|c| !c.is_empty());
    let threshold = state.ctx.settings.quality.warning_below_score;
    let (reviewer, now) = (caller.key_id.clone(), state.ctx.clock.now());
    let reviewed = state
        .ctx
        .db
        .write(move |conn| {
            let review = Review { response_id: &response_id, rubric, comment: comment.as_deref(), reviewer: &reviewer };
            crate::quality::review(conn, &code, &review, threshold, now)
        })
        .await;
    let view = reviewed.map_err(|error| match error {
        LifecycleError::NotFound => ApiError::NotFound("no answer of this message has this id".into()),
        other => lifecycle_error(other),
    })?;
    state.ctx.committed();
    Ok(HttpResponse::Created().json(view))
}
