//! The calendars' REST API: import, export and list; holidays and closures added and removed
//! one at a time (admin; each moves the deadlines it touches); and the due instant of a
//! budget, so anyone can check a deadline by hand.

use actix_web::{HttpResponse, HttpResponseBuilder, web};
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{ApiError, Caller, JsonBody, QueryParams, Scope};
use nazer_shared::iran::persian_date_time;
use serde::{Deserialize, Serialize};

use crate::areas::store as area_store;
use crate::calendar::change::{CalendarEdit, Changed, change_calendar};
use crate::calendar::store::{self as calendar_store, CalendarSummary};
use crate::calendar::{Calendar, CalendarDocument, ClosureDocument, HolidayDocument};
use crate::deadlines::api::DeadlineState;
use crate::deadlines::due_question::DueQuestion;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/calendars", web::get().to(get_calendars))
        .route("/api/v1/calendars/{id}", web::put().to(put_calendar))
        .route("/api/v1/calendars/{id}", web::get().to(get_calendar))
        .route("/api/v1/calendars/{id}/due", web::get().to(get_due))
        .route("/api/v1/calendars/{id}/holidays", web::post().to(post_holiday))
        .route("/api/v1/calendars/{id}/holidays/{date}", web::delete().to(delete_holiday))
        .route("/api/v1/calendars/{id}/closures", web::post().to(post_closure))
        .route("/api/v1/calendars/{id}/closures/{date}", web::delete().to(delete_closure));
}

/// Applies `edit` to calendar `id`: the changed calendar and how many deadlines moved.
async fn change(state: &DeadlineState, id: String, edit: CalendarEdit) -> Result<Changed, ApiError> {
    let now = state.ctx.clock.now();
    let changed = state.ctx.db.write(move |conn| change_calendar(conn, &id, edit.clone(), now)).await?;
    // Moved deadlines wrote events, and a removed holiday can bring a step forward.
    state.changed();
    Ok(changed)
}

/// How many pending deadlines a change moved, beside the calendar itself.
const DEADLINES_MOVED: &str = "Nazer-Deadlines-Moved";

/// A calendar after a holiday or closure was added or removed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarChanged<'a> {
    pub calendar: &'a CalendarDocument,
    /// How many pending deadlines the change moved.
    pub deadlines_moved: usize,
}

fn changed_response(mut response: HttpResponseBuilder, changed: &Changed) -> HttpResponse {
    response
        .insert_header((DEADLINES_MOVED, changed.deadlines_moved.to_string()))
        .json(CalendarChanged { calendar: changed.calendar.document(), deadlines_moved: changed.deadlines_moved })
}

/// Adds a holiday to a calendar; the pending deadlines it touches move.
///
/// Admins only.
#[utoipa::path(post, path = "/api/v1/calendars/{id}/holidays", tag = "deadline-timer",
    params(("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = HolidayDocument, content_type = "application/json"),
    responses(
        (status = 201, description = "The holiday was added", body = CalendarChanged,
            headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved"))),
        (status = 409, description = "The date is already a holiday",
            content_type = "application/problem+json", body = ProblemSchema)))]
async fn post_holiday(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(holiday): JsonBody<HolidayDocument>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let changed = change(&state, path.into_inner(), CalendarEdit::AddHoliday(holiday)).await?;
    Ok(changed_response(HttpResponse::Created(), &changed))
}

/// Removes a holiday from a calendar; the pending deadlines it touches move (perhaps earlier).
///
/// Admins only.
#[utoipa::path(delete, path = "/api/v1/calendars/{id}/holidays/{date}", tag = "deadline-timer",
    params(
        ("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$"),
        ("date" = String, Path, description = "The holiday's Solar Hijri date, YYYY-MM-DD", pattern = "^[0-9]+[-/][0-9]+[-/][0-9]+$")),
    responses((status = 200, description = "The holiday was removed", body = CalendarChanged,
        headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved")))))]
async fn delete_holiday(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let (id, date) = path.into_inner();
    let changed = change(&state, id, CalendarEdit::RemoveHoliday { date }).await?;
    Ok(changed_response(HttpResponse::Ok(), &changed))
}

/// Adds a closure (of one area — a province, a district, … — or everywhere) to a calendar; the
/// pending deadlines of messages located in that area or under it move.
///
/// Admins only. An unknown area, or one outside the `province` given beside it, is refused
/// naming `area`; `GET /api/v1/areas` lists the codes.
#[utoipa::path(post, path = "/api/v1/calendars/{id}/closures", tag = "deadline-timer",
    params(("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = ClosureDocument, content_type = "application/json"),
    responses(
        (status = 201, description = "The closure was added", body = CalendarChanged,
            headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved"))),
        (status = 409, description = "This closure already exists",
            content_type = "application/problem+json", body = ProblemSchema)))]
async fn post_closure(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(closure): JsonBody<ClosureDocument>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let changed = change(&state, path.into_inner(), CalendarEdit::AddClosure(closure)).await?;
    Ok(changed_response(HttpResponse::Created(), &changed))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ClosureQuery {
    /// The closed province's code (e.g. `tehran`); absent for a closure of every province.
    /// Beside `area`, the province the area lies in.
    province: Option<String>,
    /// The closed area's code at any level (e.g. `tehran-district-06`); absent: `province`
    /// names it, and neither is a closure of everywhere.
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    area: Option<String>,
}

/// Removes a closure from a calendar; the pending deadlines it touches move (perhaps earlier).
///
/// Admins only.
#[utoipa::path(delete, path = "/api/v1/calendars/{id}/closures/{date}", tag = "deadline-timer",
    params(
        ("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$"),
        ("date" = String, Path, description = "The closure's Solar Hijri date, YYYY-MM-DD", pattern = "^[0-9]+[-/][0-9]+[-/][0-9]+$"),
        ClosureQuery),
    responses((status = 200, description = "The closure was removed", body = CalendarChanged,
        headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved")))))]

async fn delete_closure(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    QueryParams(query): QueryParams<ClosureQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let (id, date) = path.into_inner();
    let edit = CalendarEdit::RemoveClosure { date, province: query.province, area: query.area };
    let changed = change(&state, id, edit).await?;
    Ok(changed_response(HttpResponse::Ok(), &changed))
}

/// The calendars listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CalendarList {
    /// By id.
    pub calendars: Vec<CalendarSummary>,
}

/// The stored business calendars.
///
/// Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "deadline-timer",
    responses((status = 200, description = "The calendars", body = CalendarList)))]
async fn get_calendars(state: web::Data<DeadlineState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let calendars = state.ctx.db.run(calendar_store::list_calendars).await?;
    Ok(HttpResponse::Ok().json(CalendarList { calendars }))
}

/// Imports a calendar, creating or replacing it; the pending deadlines counted on it move.
///
/// Admins only.
#[utoipa::path(put, path = "/api/v1/calendars/{id}", tag = "deadline-timer",
    params(("id" = String, Path, description = "The calendar's id (1–64 lowercase letters, digits, '.', '_' or '-')", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = CalendarDocument, content_type = "application/json"),
    responses(
        (status = 200, description = "The calendar was replaced", body = CalendarDocument,
            headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved"))),
        (status = 201, description = "The calendar was created", body = CalendarDocument,
            headers(("Nazer-Deadlines-Moved" = usize, description = "How many pending deadlines moved")))))]
async fn put_calendar(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(document): JsonBody<CalendarDocument>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    if document.id != *path {
        return Err(ApiError::invalid_field("id", format!("the body's id must be the path's id `{path}`")));
    }
    // Validated before anything is locked or read.
    Calendar::from_document(document.clone()).map_err(ApiError::invalid)?;
    let changed = change(&state, path.into_inner(), CalendarEdit::Replace(document)).await?;
    let mut response = if changed.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.insert_header((DEADLINES_MOVED, changed.deadlines_moved.to_string())).json(changed.calendar.document()))
}

async fn find(state: &DeadlineState, id: String) -> Result<Calendar, ApiError> {
    let calendar = state.ctx.db.run(move |conn| calendar_store::find_calendar(conn, &id)).await?;
    calendar.ok_or_else(|| ApiError::NotFound("no calendar has this id".into()))
}

/// Exports a calendar.
///
/// Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "deadline-timer",
    params(("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$")),
    responses((status = 200, description = "The calendar", body = CalendarDocument)))]
async fn get_calendar(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let calendar = find(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(calendar.document()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DueQuery {
    /// The start, an RFC 3339 instant such as `2026-11-29T10:00:00+03:30` (escape `+` as `%2B`).
    #[param(required = true, value_type = String, format = DateTime)]
    start: Option<String>,
    /// Business hours (`8h`), business days (`3d`) or an ISO 8601 duration (`PT30S`).
    #[param(required = true, value_type = String, pattern = "^([0-9]+[hd]|P[0-9WDTHMS]+)$")]
    budget: Option<String>,
    /// The message's province code (e.g. `tehran`), for its closures.
    province: Option<String>,
    /// The area the message is located in, at any level (e.g. `tehran-district-06`), for the
    /// closures of it and of every area above it; in `province` when both are given.
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    area: Option<String>,
}

/// When a budget started at an instant is due on a calendar.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DueAnswer {
    /// The calendar's id.
    pub calendar: String,
    /// The start, in the calendar's offset.
    #[schema(format = DateTime)]
    pub start: String,
    /// The budget, as asked.
    #[schema(value_type = String)]
    pub budget: Option<String>,
    /// The province, as asked.
    pub province: Option<String>,
    /// The area, as asked.
    pub area: Option<String>,
    /// The due instant, in the calendar's offset.
    #[schema(format = DateTime)]
    pub due_at: String,
    /// The due instant as people in Iran read it, e.g. `۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰` (Tehran time).
    pub due_at_jalali: String,
}

/// The due instant of a budget started at an instant, on a calendar: check a deadline by hand.
///
/// Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/calendars/{id}/due", tag = "deadline-timer",
    params(("id" = String, Path, description = "The calendar's id", pattern = "^[a-z0-9._-]{1,64}$"), DueQuery),
    responses((status = 200, description = "The due instant", body = DueAnswer)))]

async fn get_due(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    QueryParams(query): QueryParams<DueQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let area = query.area.clone();
    let known = state.ctx.db.run(move |conn| area_store::paths_of(conn, area.as_deref())).await?;
    let question = DueQuestion::parse(
        query.start.as_deref(),
        query.budget.as_deref(),
        query.province.as_deref(),
        query.area.as_deref(),
        &known,
    )
    .map_err(ApiError::invalid)?;
    let calendar = find(&state, path.into_inner()).await?;
    let due = calendar
        .due(question.start, question.budget, &question.area_path)
        .map_err(|e| ApiError::invalid_field("budget", e.to_string()))?;
    Ok(HttpResponse::Ok().json(DueAnswer {
        start: calendar.local_rfc3339(question.start),
        due_at: calendar.local_rfc3339(due),
        due_at_jalali: persian_date_time(due),
        calendar: calendar.id,
        budget: query.budget,
        province: query.province,
        area: query.area,
    }))
}
