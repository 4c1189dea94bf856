//! Deadline-timer's REST API: warnings, deadlines and stage budgets.

use actix_web::{HttpResponse, web};
use nazer_shared::http::{ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, is_identifier, page_limit};
use nazer_shared::runtime::ServiceContext;
use serde::Deserialize;
use serde_json::json;

use crate::calendar::Budget;
use crate::store::{self, ANY_CATEGORY, RESPOND, WarningFilter};

pub struct DeadlineState {
    pub ctx: ServiceContext,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<DeadlineState>) {
    cfg.app_data(state)
        .route("/api/v1/warnings", web::get().to(get_warnings))
        .route("/api/v1/deadlines", web::get().to(get_deadlines))
        .route("/api/v1/stage-budgets", web::get().to(get_budgets))
        .route("/api/v1/stage-budgets/{category}/{stage}", web::put().to(put_budget))
        .configure(crate::calendar_api::routes);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarningQuery {
    agency_id: Option<String>,
    message_id: Option<String>,
    level: Option<i32>,
    limit: Option<i64>,
}

async fn get_warnings(
    state: web::Data<DeadlineState>,
    caller: Caller,
    QueryParams(query): QueryParams<WarningQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let limit = page_limit(query.limit)?;
    if query.level.is_some_and(|l| !(1..=3).contains(&l)) {
        return Err(ApiError::invalid_field("level", "must be 1, 2 or 3"));
    }
    // An agency sees its own warnings only, whatever it asks for.
    let agency_id = if caller.has(Scope::Admin) || caller.has(Scope::CallCenter) {
        query.agency_id
    } else {
        caller.agency_id.clone()
    };
    if agency_id.is_none() && !(caller.has(Scope::Admin) || caller.has(Scope::CallCenter)) {
        return Err(ApiError::Forbidden("this key is not bound to an agency".into()));
    }
    let filter = WarningFilter { agency_id, message_id: query.message_id, level: query.level, limit };
    let warnings = state.ctx.db.run(move |conn| store::list_warnings(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(json!({ "warnings": warnings })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadlineQuery {
    message_id: Option<String>,
}

async fn get_deadlines(
    state: web::Data<DeadlineState>,
    caller: Caller,
    QueryParams(query): QueryParams<DeadlineQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let Some(message_id) = query.message_id else {
        return Err(ApiError::invalid_field("message_id", "is required"));
    };
    let mut deadlines = state.ctx.db.run(move |conn| store::deadlines_of(conn, &message_id)).await?;
    if !(caller.has(Scope::Admin) || caller.has(Scope::CallCenter)) {
        deadlines.retain(|d| Some(&d.agency_id) == caller.agency_id.as_ref());
    }
    Ok(HttpResponse::Ok().json(json!({ "deadlines": deadlines })))
}

async fn get_budgets(state: web::Data<DeadlineState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let budgets = state.ctx.db.run(store::list_budgets).await?;
    Ok(HttpResponse::Ok().json(json!({
        "stage_budgets": budgets,
        "default_budget": state.ctx.settings.deadlines.default_budget,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetRequest {
    budget: Option<String>,
}

async fn put_budget(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    JsonBody(request): JsonBody<BudgetRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let (category, stage) = path.into_inner();
    let mut issues = Vec::new();
    if category != ANY_CATEGORY && !is_identifier(&category) {
        issues.push(FieldIssue::new("category", "a category code, or `*` for every category without its own"));
    }
    if stage != RESPOND {
        issues.push(FieldIssue::new("stage", format!("the stages are: {RESPOND}")));
    }
    let budget = request.budget.unwrap_or_default().trim().to_string();
    match Budget::parse(&budget) {
        Ok(Budget::Plain(_)) => {}
        Ok(_) => issues.push(FieldIssue::new(
            "budget",
            "business hours and days (8h, 3d) come with stored business calendars; use an ISO 8601 duration such as P3D",
        )),
        Err(error) => issues.push(FieldIssue::new("budget", error.to_string())),
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let view = store::BudgetView { category: category.clone(), stage: stage.clone(), budget: budget.clone() };
    state.ctx.db.write(move |conn| store::put_budget(conn, &category, &stage, &budget)).await?;
    Ok(HttpResponse::Ok().json(view))
}
