//! The calendars' REST API: import, export and list; holidays and closures added and removed
//! one at a time (admin; each moves the deadlines it touches); and the due instant of a
//! budget, so anyone can check a deadline by hand.

use actix_web::{HttpResponse, HttpResponseBuilder, web};
use nazer_shared::http::{ApiError, Caller, JsonBody, QueryParams, Scope};
use nazer_shared::iran::persian_date_time;
use serde::Deserialize;
use serde_json::json;

use crate::api::DeadlineState;
use crate::calendar::{Calendar, CalendarDocument, ClosureDocument, HolidayDocument};
use crate::calendar_change::{CalendarEdit, ChangeError, Changed, change_calendar};
use crate::calendar_store;
use crate::due_question::DueQuestion;

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
    let changed = state.ctx.db.write(move |conn| change_calendar(conn, &id, edit, now)).await;
    match changed {
        Ok(changed) => {
            // Moved deadlines wrote events, and a removed holiday can bring a step forward.
            state.changed();
            Ok(changed)
        }
        Err(ChangeError::NoCalendar) => Err(ApiError::NotFound("no calendar has this id".into())),
        Err(ChangeError::Invalid(issues)) => Err(ApiError::invalid(issues)),
        Err(ChangeError::Conflict(detail)) => Err(ApiError::Conflict(detail)),
        Err(ChangeError::Missing(detail)) => Err(ApiError::NotFound(detail)),
        Err(ChangeError::Db(error)) => Err(error.into()),
    }
}

/// How many pending deadlines a change moved, beside the calendar itself.
const DEADLINES_MOVED: &str = "Nazer-Deadlines-Moved";

fn changed_response(mut response: HttpResponseBuilder, changed: &Changed) -> HttpResponse {
    response.insert_header((DEADLINES_MOVED, changed.deadlines_moved.to_string())).json(json!({
        "calendar": changed.calendar.document(),
        "deadlines_moved": changed.deadlines_moved,
    }))
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureQuery {
    /// The closed province; absent for a closure of every province.
    province: Option<String>,
}

async fn delete_closure(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    QueryParams(query): QueryParams<ClosureQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let (id, date) = path.into_inner();
    let changed = change(&state, id, CalendarEdit::RemoveClosure { date, province: query.province }).await?;
    Ok(changed_response(HttpResponse::Ok(), &changed))
}

async fn get_calendars(state: web::Data<DeadlineState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let calendars = state.ctx.db.run(calendar_store::list_calendars).await?;
    Ok(HttpResponse::Ok().json(json!({ "calendars": calendars })))
}

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

async fn get_calendar(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let calendar = find(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(calendar.document()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DueQuery {
    start: Option<String>,
    budget: Option<String>,
    province: Option<String>,
}

async fn get_due(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    QueryParams(query): QueryParams<DueQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let question = DueQuestion::parse(query.start.as_deref(), query.budget.as_deref(), query.province.as_deref())
        .map_err(ApiError::invalid)?;
    let calendar = find(&state, path.into_inner()).await?;
    let due = calendar
        .due(question.start, question.budget, question.province.as_deref())
        .map_err(|e| ApiError::invalid_field("budget", e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({
        "calendar": calendar.id,
        "start": calendar.local_rfc3339(question.start),
        "budget": query.budget,
        "province": query.province,
        "due_at": calendar.local_rfc3339(due),
        "due_at_jalali": persian_date_time(due),
    })))
}
