//! Deadline-timer's REST API: warnings (list, export, acknowledge) and deadlines (list, pause,
//! resume); policies and calendars have their own modules.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use nazer_shared::agency::Viewer;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::paging::{self, Order};
use nazer_shared::http::{ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, page_limit, period_bound};
use nazer_shared::runtime::ServiceContext;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::deadlines::pausing;
use crate::deadlines::store::{self, DeadlineView};
use crate::warnings::store::{self as warning_store, WarningFilter, WarningView};

pub struct DeadlineState {
    pub ctx: ServiceContext,
    /// Wakes the firing loop when a consumed event or a request changed what is due.
    pub wake: Arc<Notify>,
}

impl DeadlineState {
    /// After a commit that wrote events and may have moved a step earlier.
    pub fn changed(&self) {
        self.ctx.committed();
        self.wake.notify_one();
    }
}

/// The most rows one CSV export carries; a larger period must be split.
pub const MAX_EXPORT_ROWS: i64 = 50_000;

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<DeadlineState>) {
    cfg.app_data(state)
        .route("/api/v1/warnings", web::get().to(get_warnings))
        .route("/api/v1/warnings/{id}/acknowledgement", web::post().to(post_acknowledgement))
        .route("/api/v1/deadlines", web::get().to(get_deadlines))
        .route("/api/v1/deadlines/{id}/pause", web::post().to(post_pause))
        .route("/api/v1/deadlines/{id}/resume", web::post().to(post_resume))
        .configure(crate::policy::api::routes)
        .configure(crate::calendar::api::routes);
}

nazer_shared::closed_set! {
    /// How the warnings are listed: JSON pages or a CSV export.
    enum ListFormat { Json = "json", Csv = "csv" }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WarningQuery {
    /// Only the warnings issued to this agency (ignored for an agency caller, who sees its own,
    /// those escalated to it and its sub-agencies').
    agency_id: Option<String>,
    /// Only the warnings of this message (its id).
    message_id: Option<String>,
    /// Only this warning level: 1, 2 or 3.
    #[param(minimum = 1, maximum = 3)]
    level: Option<i32>,
    /// Issued at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    from: Option<String>,
    /// Issued before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant; after `from`.
    to: Option<String>,
    /// `true`: only the acknowledged warnings; `false`: only those not yet acknowledged.
    acknowledged: Option<bool>,
    /// `json` (the default) or `csv` (an export of the whole period, at most 50,000 warnings).
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
    /// `-issued_at` (newest first, the default) or `issued_at` (oldest first); ties by id. Also
    /// orders a CSV export.
    #[param(pattern = "^-?issued_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged; not with `format=csv`.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50); not with `format=csv`.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of warnings.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WarningList {
    /// In the order of `sort`: newest first by default.
    pub warnings: Vec<WarningView>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The warnings (تذکر) registered, newest first by default, as JSON pages or a CSV export.
///
/// Admins, supervisors, Special Follow-up, the call centre, agencies, counterpart units and the
/// compliance committee; an agency sees only the warnings issued or escalated to it and those of
/// its sub-agencies, a counterpart unit its own (`unit:<id>`) and the committee its own
/// (`committee:compliance`), of culpability stages, which no one else but supervisors, admins
/// and Special Follow-up sees.
#[utoipa::path(get, path = "/api/v1/warnings", tag = "deadline-timer", params(WarningQuery),
    responses((status = 200, description = "A page of warnings (`format=csv`: all of them, an attachment `warnings.csv`)",
        headers(("Content-Disposition" = String, description = "With `format=csv`: `attachment; filename=\"warnings.csv\"`")),
        content((WarningList = "application/json"), (String = "text/csv")))))]
async fn get_warnings(
    state: web::Data<DeadlineState>,
    caller: Caller,
    QueryParams(query): QueryParams<WarningQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[
        Scope::Admin,
        Scope::Supervisor,
        Scope::SpecialFollowUp,
        Scope::CallCenter,
        Scope::Agency,
        Scope::CounterpartUnit,
        Scope::ComplianceCommittee,
    ])?;
    let mut issues = Vec::new();
    if query.level.is_some_and(|l| !(1..=3).contains(&l)) {
        issues.push(FieldIssue::new("level", "must be 1, 2 or 3"));
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        issues.push(FieldIssue::new("to", "must not be before `from`"));
    }
    let csv = match query.format.as_deref().map(ListFormat::parse) {
        None | Some(Some(ListFormat::Json)) => false,
        Some(Some(ListFormat::Csv)) => true,
        Some(None) => {
            issues.push(FieldIssue::new("format", "json (the default) or csv"));
            false
        }
    };
    const WHOLE_PERIOD: &str = "an export carries the whole period; narrow it with `from` and `to`";
    if csv && query.limit.is_some() {
        issues.push(FieldIssue::new("limit", WHOLE_PERIOD));
    }
    let newest_first = paging::newest_first("issued_at", query.sort.as_deref(), Order::NewestFirst, &mut issues);
    let after = if csv && query.cursor.is_some() {
        issues.push(FieldIssue::new("cursor", WHOLE_PERIOD));
        None
    } else {
        paging::cursor_param(query.cursor.as_deref(), &mut issues)
    };
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let limit = if csv { MAX_EXPORT_ROWS + 1 } else { page_limit(query.limit)? };
    // A counterpart unit's or the committee's warnings concern those responsible: staff who
    // oversee them see them all, the unit or the committee its own only.
    let staff = [Scope::Supervisor, Scope::Admin, Scope::SpecialFollowUp].iter().any(|s| caller.has(*s));
    let recipient = if staff { None } else { own_recipient(&caller)? };
    // An agency sees the warnings issued or escalated to it, or of its sub-agencies, only,
    // whatever it asks for.
    let (agency_id, visible_to) = match (&recipient, caller.viewer()) {
        (Some(recipient), _) => (Some(recipient.clone()), None),
        (None, Viewer::All) => (query.agency_id, None),
        (None, Viewer::Agency(agency)) => (None, Some(agency)),
        (None, Viewer::Nobody) => return Err(ApiError::Forbidden("this caller is not bound to an agency".into())),
    };
    let agencies_only = !staff && recipient.is_none();
    let filter = WarningFilter {
        agency_id,
        visible_to,
        agencies_only,
        message_id: query.message_id,
        level: query.level,
        from,
        until,
        acknowledged: query.acknowledged,
        oldest_first: !newest_first,
        after,
        limit,
        ..Default::default()
    };
    if !csv {
        let (warnings, next_cursor) = state.ctx.db.run(move |conn| warning_store::warning_page(conn, &filter)).await?;
        return Ok(HttpResponse::Ok().json(WarningList { warnings, next_cursor }));
    }
    let warnings = state.ctx.db.run(move |conn| warning_store::list_warnings(conn, &filter)).await?;
    if warnings.len() as i64 > MAX_EXPORT_ROWS {
        return Err(ApiError::invalid(vec![FieldIssue::new(
            "from",
            format!("more than {MAX_EXPORT_ROWS} warnings match: export a shorter period (`from`, `to`)"),
        )]));
    }
    Ok(nazer_shared::http::csv::attachment("warnings.csv", warning_store::to_csv(&warnings)))
}

/// The recipient whose warnings a counterpart unit's caller (`unit:<id>`) or the compliance
/// committee's reads and acknowledges; none for others.
fn own_recipient(caller: &Caller) -> Result<Option<String>, ApiError> {
    if caller.has(Scope::CounterpartUnit) {
        return Ok(Some(nazer_shared::topology::unit_recipient(&caller.own_unit()?)));
    }
    if caller.has(Scope::ComplianceCommittee) {
        return Ok(Some(nazer_shared::topology::COMPLIANCE_COMMITTEE.to_string()));
    }
    Ok(None)
}

/// Acknowledges a warning: the agency has read it (a repeat keeps the first instant).
///
/// Agencies: the agency warned, one it was escalated to, or an ancestor; a counterpart unit or
/// the compliance committee, its own warnings (of a culpability stage).
#[utoipa::path(post, path = "/api/v1/warnings/{id}/acknowledgement", tag = "deadline-timer",
    operation_id = "acknowledge_warning",
    params(("id" = String, Path, description = "The warning's id")),
    responses((status = 200, description = "The warning, acknowledged", body = WarningView)))]
async fn post_acknowledgement(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agency_id = match own_recipient(&caller)? {
        Some(recipient) => recipient,
        None => caller.own_agency()?,
    };
    let warning_id = path.into_inner();
    let now = state.ctx.clock.now();
    let key_id = caller.key_id.clone();
    let acknowledged =
        state.ctx.db.write(move |conn| warning_store::acknowledge(conn, &warning_id, &agency_id, &key_id, now)).await?;
    Ok(HttpResponse::Ok().json(acknowledged))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadlineQuery {
    /// The message's id (required).
    #[param(required = true, value_type = String)]
    message_id: Option<String>,
}

/// The deadlines listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeadlineList {
    /// By due instant, then stage.
    pub deadlines: Vec<DeadlineView>,
}

/// The deadlines (clocks) of a message, each with its ladder of reminders and warnings.
///
/// Admins, supervisors, Special Follow-up, the call centre and agencies; an agency sees only
/// its own clocks and its sub-agencies'.
#[utoipa::path(get, path = "/api/v1/deadlines", tag = "deadline-timer", params(DeadlineQuery),
    responses((status = 200, description = "The message's deadlines", body = DeadlineList)))]

async fn get_deadlines(
    state: web::Data<DeadlineState>,
    caller: Caller,
    QueryParams(query): QueryParams<DeadlineQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Supervisor, Scope::SpecialFollowUp, Scope::CallCenter, Scope::Agency])?;
    let Some(message_id) = query.message_id else {
        return Err(ApiError::invalid_field("message_id", "is required"));
    };
    let mut deadlines = state.ctx.db.run(move |conn| store::deadlines_of(conn, &message_id)).await?;
    let viewer = caller.viewer();
    deadlines.retain(|d| viewer.sees(Some(&d.agency_id), &d.agency_ancestors));
    Ok(HttpResponse::Ok().json(DeadlineList { deadlines }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why the clock stops, up to 200 characters, e.g. `waiting_for_citizen`.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    reason: Option<String>,
}

/// Whose deadlines the caller may pause: an agency its own, an admin any.
fn pausing_agency(caller: &Caller) -> Result<Option<String>, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Agency])?;
    if caller.has(Scope::Admin) { Ok(None) } else { caller.own_agency().map(Some) }
}

/// Pauses a pending deadline while the agency waits for the citizen: its clock and ladder stand still.
///
/// Agencies (their own deadlines) and admins (any).
#[utoipa::path(post, path = "/api/v1/deadlines/{id}/pause", tag = "deadline-timer",
    params(("id" = String, Path, description = "The deadline's id")),
    request_body(content = PauseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The deadline, paused", body = DeadlineView),
        (status = 409, description = "The deadline is not pending, or its warning is already due",
            content_type = "application/problem+json", body = ProblemSchema)))]
async fn post_pause(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<PauseRequest>,
) -> Result<HttpResponse, ApiError> {
    let agency = pausing_agency(&caller)?;
    let reason = request.reason.as_deref().map(str::trim).unwrap_or_default().to_string();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid_field("reason", "is required (up to 200 characters), e.g. waiting_for_citizen"));
    }
    let (id, now) = (path.into_inner(), state.ctx.clock.now());
    let paused = state.ctx.write(move |conn| pausing::pause(conn, &id, agency.as_deref(), &reason, now)).await?;
    Ok(HttpResponse::Ok().json(paused))
}

/// Resumes a paused deadline: its due instant and ladder move by the time it stood still.
///
/// Agencies (their own deadlines) and admins (any).
#[utoipa::path(post, path = "/api/v1/deadlines/{id}/resume", tag = "deadline-timer",
    params(("id" = String, Path, description = "The deadline's id")),
    responses(
        (status = 200, description = "The deadline, running again", body = DeadlineView),
        (status = 409, description = "The deadline is not paused",
            content_type = "application/problem+json", body = ProblemSchema)))]
async fn post_resume(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let agency = pausing_agency(&caller)?;
    let (id, now) = (path.into_inner(), state.ctx.clock.now());
    let resumed = state.ctx.db.write(move |conn| pausing::resume(conn, &id, agency.as_deref(), now)).await?;
    state.changed();
    Ok(HttpResponse::Ok().json(resumed))
}
