//! Intake's REST API for messages: posting and reading them (call centre, supervisors,
//! agencies), lists, and the agency's steps of the lifecycle.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_shared::agency::Viewer;
use nazer_shared::events::{MessageKind, Priority};
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::paging::{self, Order};
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, is_identifier, page_limit, period_bound,
};
use nazer_shared::iran::Province;
use nazer_shared::runtime::ServiceContext;
use serde::{Deserialize, Serialize};

use crate::lifecycle::{self, Answer, LifecycleError, Outcome};
use crate::quality::{Review, ReviewRequest, ReviewView, Rubric};
use crate::search;
use crate::store::{self, MessageStatus, Posted, Receipt};
use crate::submission::{self, SubmissionRequest};
use crate::timeline::Actor;
use crate::tracking_code::TrackingCode;
use crate::view::{self, MessageFilter, MessageSummary, MessageView, ReporterAccess, ResponseView};

pub struct IntakeState {
    pub ctx: ServiceContext,
    pub keys: crate::sealing::ReporterKeys,
    /// Keys the blind index of reporters' mobiles and national IDs.
    pub search_key: crate::search::SearchKey,
    /// The point index of the areas, kept in step with the stored tree.
    pub areas: std::sync::Arc<crate::areas::store::AreaCache>,
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
        .configure(crate::areas::api::routes)
        .configure(crate::tracking_api::routes);
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The OpenAPI tag of intake's operations.
pub(crate) const TAG: &str = "intake";

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

/// An agency acting on its messages: the agency's own, or its sub-agencies'.
fn acting_agency(caller: &Caller) -> Result<Viewer, ApiError> {
    Ok(Viewer::Agency(caller.own_agency()?))
}

/// Posts a citizen's message and gives it a tracking code.
///
/// The call centre and admins. The message is routed to the agency responsible and put on the
/// clock. With an `Idempotency-Key`, a repeat by the same client answers the first post's
/// receipt (200) instead of storing the message twice.
#[utoipa::path(post, path = "/api/v1/messages", tag = TAG,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
        description = "Any 1 to 200 visible ASCII characters, unique per message, to retry a post safely")),
    request_body(content = SubmissionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored: its receipt, with the tracking code to tell the citizen", body = Receipt,
            headers(("Location" = String, description = "The message: `/api/v1/messages/{tracking_code}`"))),
        (status = 200, description = "A repeat of an `Idempotency-Key`: the first post's receipt", body = Receipt,
            headers(("Idempotent-Replayed" = String, description = "`true`")))))]
pub(crate) async fn post_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    req: HttpRequest,
    JsonBody(request): JsonBody<SubmissionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin])?;
    let key = idempotency_key(&req)?;
    let now = state.ctx.clock.now();
    let (submitted_by, actor) = (caller.key_id.clone(), Actor::of(&caller));
    let (keys, search_key, areas) = (state.keys.clone(), state.search_key.clone(), state.areas.clone());
    // Outside the write transaction: a stale index is rebuilt without holding up writers.
    let areas = state.ctx.db.run(move |conn| areas.index(conn)).await?;
    let posted = state
        .ctx
        .write(move |conn| {
            let categories = store::load_categories(conn)?;
            let submission = submission::validate(&request, &categories, &areas).map_err(ApiError::invalid)?;
            let keys = store::IdentityKeys { sealing: &keys, search: &search_key };
            store::post_message(conn, keys, &submission, &submitted_by, &actor, key.as_deref(), now)
                .map_err(ApiError::from)
        })
        .await?;
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

/// One message with everything known about it.
///
/// Its deadlines, warnings, answers, timeline and, for those entitled, the reporter. The call
/// centre, admins, supervisors, Special Follow-up and agencies. An agency reads its own and its
/// sub-agencies' messages only (another's answers 404), and never the reporter of a
/// confidential report or a violation report; admins never read reporters.
#[utoipa::path(get, path = "/api/v1/messages/{tracking_code}", tag = TAG,
    params(("tracking_code" = String, Path,
        description = "The message's tracking code: ten digits (Persian digits are accepted)")),
    responses((status = 200, description = "The message", body = MessageView)))]
pub(crate) async fn get_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Supervisor, Scope::SpecialFollowUp, Scope::Agency])?;
    let code = parse_code(&path)?;
    let (viewer, access, keys) = (caller.viewer(), reporter_access(&caller), state.keys.clone());
    let view = state.ctx.db.read(move |conn| view::find_message(conn, &code, &viewer, access, &keys)).await?;
    // Another agency's message answers exactly like a missing one.
    view.map(|v| HttpResponse::Ok().json(v)).ok_or_else(|| ApiError::NotFound(lifecycle::NOT_FOUND.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only messages in this status: `received`, `assigned`, `acknowledged`, `triage`,
    /// `declined`, `responded`, `closed` or `reopened`.
    #[param(pattern = "^(received|assigned|acknowledged|triage|declined|responded|closed|reopened)$")]
    status: Option<String>,
    /// Only messages assigned to this agency (its id).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    agency_id: Option<String>,
    /// Only messages of this category (its code).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    category: Option<String>,
    /// Only messages about this province (its code, such as `tehran`).
    #[param(value_type = Option<Province>)]
    province: Option<String>,
    /// Only messages located in this area or under it (its code, such as `tehran-district-06`).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    area: Option<String>,
    /// Only messages of this priority: `normal`, `high` or `urgent`.
    #[param(pattern = "^(normal|high|urgent)$")]
    priority: Option<String>,
    /// Only messages of this kind: `complaint`, `violation_report`, `criticism`, `suggestion`
    /// or `appreciation`.
    #[param(pattern = "^(complaint|violation_report|criticism|suggestion|appreciation)$")]
    kind: Option<String>,
    /// Received at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    from: Option<String>,
    /// Received before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant.
    to: Option<String>,
    /// `-received_at` (newest first, the default) or `received_at` (oldest first).
    #[param(pattern = "^-?received_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only messages whose reporter gave this mobile number, in any written form (`09…`,
    /// `+989…`, `00989…`, with spaces or dashes, Persian digits). The call centre, supervisors,
    /// Special Follow-up and admins; agencies may not search by identity (403).
    #[param(max_length = 32)]
    mobile: Option<String>,
    /// Only messages whose reporter gave this national ID: ten digits with a correct check digit
    /// (Persian digits accepted). As `mobile`, never for agencies.
    #[param(max_length = 32)]
    national_id: Option<String>,
    /// Only messages whose subject or body has, for every word of this text, a word beginning
    /// with it (`آسفالت` finds آسفالت‌کاری, not the middle of a word; Arabic or Persian letters,
    /// with or without ZWNJ or diacritics, any digits, any case): 1 to 10 words, up to 200
    /// characters. An agency searches its own messages only.
    #[param(min_length = 1, max_length = 200)]
    q: Option<String>,
}

/// A page of messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageSummary>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Lists messages, newest first, with filters and a cursor.
///
/// The call centre, admins, supervisors, Special Follow-up and agencies; an agency lists its own
/// and its sub-agencies' messages only. A citizen who lost the tracking code is found by the
/// reporter's `mobile` or `national_id` (never by agencies), or by words of the message (`q`).
#[utoipa::path(get, path = "/api/v1/messages", tag = TAG, params(ListQuery),
    responses(
        (status = 200, description = "A page of messages", body = MessageList),
        (status = 403, description = "An agency searched by `mobile` or `national_id`",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn get_messages(
    state: web::Data<IntakeState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Supervisor, Scope::SpecialFollowUp, Scope::Agency])?;
    if (query.mobile.is_some() || query.national_id.is_some()) && !caller.oversees_all() {
        return Err(ApiError::Forbidden(
            "agencies may not search by identity (`mobile`, `national_id`); search your messages by `q` or \
             ask the call centre"
                .into(),
        ));
    }
    let mut issues = Vec::new();
    let search_key = &state.search_key;
    let mobile_index = query.mobile.as_deref().and_then(|text| match search::mobile_key(text) {
        Some(mobile) => Some(search_key.blind_index(search::MOBILE, &mobile)),
        None => {
            issues
                .push(FieldIssue::new("mobile", "is not an Iranian mobile number; write 09xxxxxxxxx or +989xxxxxxxxx"));
            None
        }
    });
    let national_id_index = query.national_id.as_deref().and_then(|text| match search::national_id_key(text) {
        Some(id) => Some(search_key.blind_index(search::NATIONAL_ID, &id)),
        None => {
            issues.push(FieldIssue::new(
                "national_id",
                "is not a valid national ID: 10 digits with a correct check digit",
            ));
            None
        }
    });
    let words = match query.q.as_deref().map(search::query_words) {
        None => Vec::new(),
        Some(Ok(words)) => words,
        Some(Err(problem)) => {
            issues.push(FieldIssue::new("q", problem));
            Vec::new()
        }
    };
    if query.status.as_deref().is_some_and(|s| MessageStatus::parse(s).is_none()) {
        issues.push(FieldIssue::new("status", format!("one of: {}", MessageStatus::listed())));
    }
    for (field, value) in [("agency_id", &query.agency_id), ("category", &query.category), ("area", &query.area)] {
        if value.as_deref().is_some_and(|v| !is_identifier(v)) {
            issues.push(FieldIssue::new(field, nazer_shared::http::IDENTIFIER_RULE));
        }
    }
    if query.province.as_deref().is_some_and(|p| Province::parse(p).is_none()) {
        issues.push(FieldIssue::new("province", format!("one of: {}", Province::listed())));
    }
    if query.priority.as_deref().is_some_and(|p| Priority::parse(p).is_none()) {
        issues.push(FieldIssue::new("priority", format!("one of: {}", Priority::listed())));
    }
    if query.kind.as_deref().is_some_and(|k| MessageKind::parse(k).is_none()) {
        issues.push(FieldIssue::new("kind", format!("one of: {}", MessageKind::listed())));
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    let newest_first = paging::newest_first("received_at", query.sort.as_deref(), Order::NewestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = MessageFilter {
        status: query.status,
        agency_id: query.agency_id,
        category: query.category,
        province: query.province,
        area: query.area,
        priority: query.priority,
        kind: query.kind,
        from,
        until,
        newest_first,
        after,
        limit: page_limit(query.limit)?,
        mobile_index,
        national_id_index,
        words,
    };
    let viewer = caller.viewer();
    let (messages, next_cursor) = state.ctx.db.run(move |conn| view::list_messages(conn, &viewer, &filter)).await?;
    Ok(HttpResponse::Ok().json(MessageList { messages, next_cursor }))
}

/// An agency's answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewResponse)]
pub(crate) struct ResponseRequest {
    /// `resolved`, `partially_resolved` or `rejected`.
    #[schema(required = true, pattern = "^(resolved|partially_resolved|rejected)$")]
    outcome: Option<String>,
    /// The answer, for the citizen, up to 10,000 characters.
    #[schema(required = true, min_length = 1, max_length = 10000)]
    body: Option<String>,
    /// Up to 10 references (document ids or URLs), each 1–500 characters.
    #[schema(max_items = 10)]
    attachments: Option<Vec<String>>,
}

const MAX_ATTACHMENTS: usize = 10;

/// The agency answers the message.
///
/// Agencies only, on their own and their sub-agencies' messages, when the message is assigned,
/// acknowledged or reopened. Its clock stops; the citizen may rate the answer and reopen it.
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/responses", tag = TAG,
    params(("tracking_code" = String, Path, description = "The message's tracking code")),
    request_body(content = ResponseRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The answer, recorded", body = ResponseView),
        (status = 409, description = "The message's status does not take an answer",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_response(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ResponseRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let mut issues = Vec::new();
    let outcome = Outcome::parse(request.outcome.as_deref().map(str::trim).unwrap_or_default());
    if outcome.is_none() {
        issues.push(FieldIssue::new("outcome", format!("is required; one of: {}", Outcome::listed())));
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
    let Some(outcome) = outcome.filter(|_| issues.is_empty()) else {
        return Err(ApiError::invalid(issues));
    };
    let now = state.ctx.clock.now();
    let answer = Answer { outcome, body, attachments };
    let actor = Actor::of(&caller);
    let view = state.ctx.write(move |conn| lifecycle::respond(conn, &code, &viewer, &answer, &actor, now)).await?;
    Ok(HttpResponse::Created().json(view))
}

/// When the agency confirmed it has the message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acknowledgement {
    pub acknowledged_at: DateTime<Utc>,
}

/// The agency confirms it has the message (its acknowledge stage is met).
///
/// Agencies only, on their own and their sub-agencies' assigned messages. A repeat answers the
/// first instant.
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/acknowledgement", tag = TAG,
    params(("tracking_code" = String, Path, description = "The message's tracking code")),
    responses(
        (status = 200, description = "Acknowledged (now or earlier)", body = Acknowledgement),
        (status = 409, description = "The message is not assigned",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_acknowledgement(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let now = state.ctx.clock.now();
    let actor = Actor::of(&caller);
    let at = state.ctx.write(move |conn| lifecycle::acknowledge(conn, &code, &viewer, &actor, now)).await?;
    Ok(HttpResponse::Ok().json(Acknowledgement { acknowledged_at: at }))
}

/// Why: up to 1000 characters.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Reason)]
pub(crate) struct ReasonRequest {
    /// Up to 1000 characters; required to decline and to reopen, optional to close.
    #[schema(max_length = 1000)]
    reason: Option<String>,
}

/// A message declined by its agency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeclinedMessage {
    /// `declined`.
    pub status: String,
    /// How many agencies have declined it.
    pub decline_count: i32,
}

/// A message closed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClosedMessage {
    /// `closed`.
    pub status: String,
    pub closed_at: DateTime<Utc>,
}

/// A message reopened: its agency answers again, on a fresh clock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReopenedMessage {
    /// `reopened`.
    pub status: String,
    pub reopened_at: DateTime<Utc>,
}

pub(crate) fn reason_of(request: ReasonRequest, required: bool) -> Result<String, ApiError> {
    let reason = nazer_shared::iran::normalize_persian(request.reason.as_deref().map(str::trim).unwrap_or_default());
    if (required && reason.is_empty()) || reason.chars().count() > 1_000 {
        let need = if required { "is required, " } else { "" };
        return Err(ApiError::invalid_field("reason", format!("{need}up to 1000 characters")));
    }
    Ok(reason)
}

/// The agency declines the message as outside its jurisdiction; routing places it again.
///
/// Agencies only, on their own and their sub-agencies' messages, when assigned, acknowledged or
/// reopened; a reason is required.
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/decline", tag = TAG,
    params(("tracking_code" = String, Path, description = "The message's tracking code")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Declined", body = DeclinedMessage),
        (status = 409, description = "The message's status does not allow declining it",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_decline(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let viewer = acting_agency(&caller)?;
    let code = parse_code(&path)?;
    let reason = reason_of(request, true)?;
    let now = state.ctx.clock.now();
    let actor = Actor::of(&caller);
    let count = state.ctx.write(move |conn| lifecycle::decline(conn, &code, &viewer, &reason, &actor, now)).await?;
    Ok(HttpResponse::Ok()
        .json(DeclinedMessage { status: MessageStatus::Declined.as_str().into(), decline_count: count }))
}

/// Closes an answered message: handling is over.
///
/// The call centre, supervisors and admins, when the message is `responded`; the reason is
/// optional (`handled` by default).
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/close", tag = TAG,
    params(("tracking_code" = String, Path, description = "The message's tracking code")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Closed", body = ClosedMessage),
        (status = 409, description = "The message is not `responded`",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_close(
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
    let actor = Actor::of(&caller);
    let at = state.ctx.write(move |conn| lifecycle::close(conn, &code, &reason, &actor, now)).await?;
    Ok(HttpResponse::Ok().json(ClosedMessage { status: MessageStatus::Closed.as_str().into(), closed_at: at }))
}

/// Reopens the latest answer for a citizen who phoned in, within the reopening period.
///
/// The call centre and admins, when the message is `responded` or `closed`; a reason is
/// required. The same agency answers again, on a fresh clock.
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/reopen", tag = TAG,
    params(("tracking_code" = String, Path, description = "The message's tracking code")),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Reopened", body = ReopenedMessage),
        (status = 409, description = "The message is not answered, or the reopening period is over",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_reopen(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin])?;
    let code = parse_code(&path)?;
    let reason = reason_of(request, true)?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let actor = Actor::of(&caller);
    let at = state.ctx.write(move |conn| lifecycle::reopen(conn, &code, &reason, days, &actor, now)).await?;
    Ok(HttpResponse::Ok().json(ReopenedMessage { status: MessageStatus::Reopened.as_str().into(), reopened_at: at }))
}

/// A supervisor scores an answer on the quality rubric.
///
/// Supervisors only; each answer is reviewed once. A score below the standard registers a
/// quality warning against the agency.
#[utoipa::path(post, path = "/api/v1/messages/{tracking_code}/responses/{response_id}/review", tag = TAG,
    params(
        ("tracking_code" = String, Path, description = "The message's tracking code"),
        ("response_id" = String, Path, description = "The answer's id (a UUID)")),
    request_body(content = ReviewRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The review", body = ReviewView),
        (status = 409, description = "This answer is reviewed already",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_review(
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
    let (reviewer, actor, now) = (caller.key_id.clone(), Actor::of(&caller), state.ctx.clock.now());
    let reviewed = state
        .ctx
        .write(move |conn| {
            let comment = comment.as_deref();
            let review = Review { response_id: &response_id, rubric, comment, reviewer: &reviewer, actor: &actor };
            crate::quality::review(conn, &code, &review, threshold, now)
        })
        .await;
    let view = reviewed.map_err(|error| match error {
        LifecycleError::NotFound => ApiError::NotFound("no answer of this message has this id".into()),
        other => other.into(),
    })?;
    Ok(HttpResponse::Created().json(view))
}
