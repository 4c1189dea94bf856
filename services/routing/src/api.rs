//! Routing's REST API: agencies, rules, and the triage queue.

use actix_web::{HttpResponse, web};
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, QueryParams, Scope, is_identifier, page_limit,
};
use nazer_shared::iran;
use nazer_shared::runtime::ServiceContext;
use serde::Deserialize;
use serde_json::json;

use crate::rules::ANY;
use crate::store::{self, AgencyError, RuleError, TriageError};

pub struct RoutingState {
    pub ctx: ServiceContext,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<RoutingState>) {
    cfg.app_data(state)
        .route("/api/v1/agencies", web::get().to(get_agencies))
        .route("/api/v1/agencies", web::post().to(post_agency))
        .route("/api/v1/agencies/{id}", web::get().to(get_agency))
        .route("/api/v1/routing-rules", web::get().to(get_rules))
        .route("/api/v1/routing-rules", web::post().to(post_rule))
        .route("/api/v1/routing-rules/{id}", web::delete().to(delete_rule))
        .route("/api/v1/triage", web::get().to(get_triage))
        .route("/api/v1/triage/{message_id}/assignment", web::post().to(post_triage_assignment));
}

async fn get_agencies(state: web::Data<RoutingState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let agencies = state.ctx.db.run(store::list_agencies).await?;
    Ok(HttpResponse::Ok().json(json!({ "agencies": agencies })))
}

async fn get_agency(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let id = path.into_inner();
    let agency = state.ctx.db.run(move |conn| store::find_agency(conn, &id)).await?;
    agency.map(|a| HttpResponse::Ok().json(a)).ok_or_else(|| ApiError::NotFound("no agency has this id".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyRequest {
    id: Option<String>,
    name: Option<String>,
    parent_id: Option<String>,
}

async fn post_agency(
    state: web::Data<RoutingState>,
    caller: Caller,
    JsonBody(request): JsonBody<AgencyRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    let id = request.id.unwrap_or_default().trim().to_string();
    if !is_identifier(&id) {
        issues.push(FieldIssue::new("id", IDENTIFIER_RULE));
    }
    let name = request.name.unwrap_or_default().trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        issues.push(FieldIssue::new("name", "is required, up to 200 characters"));
    }
    let parent = request.parent_id.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let created = state.ctx.db.write(move |conn| store::create_agency(conn, &id, &name, parent.as_deref(), now)).await;
    match created {
        Ok(agency) => Ok(HttpResponse::Created().json(agency)),
        Err(error @ AgencyError::Exists(_)) => Err(ApiError::Conflict(error.to_string())),
        Err(error @ AgencyError::UnknownParent(_)) => Err(ApiError::invalid_field("parent_id", error.to_string())),
        Err(AgencyError::Db(error)) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFilter {
    category: Option<String>,
}

async fn get_rules(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(filter): QueryParams<RuleFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let category = filter.category;
    let rules = state.ctx.db.run(move |conn| store::list_rules(conn, category.as_deref())).await?;
    Ok(HttpResponse::Ok().json(json!({ "routing_rules": rules })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleRequest {
    category: Option<String>,
    province: Option<String>,
    city: Option<String>,
    agency_id: Option<String>,
}

async fn post_rule(
    state: web::Data<RoutingState>,
    caller: Caller,
    JsonBody(request): JsonBody<RuleRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    let category = request.category.unwrap_or_default().trim().to_string();
    if !is_identifier(&category) {
        issues.push(FieldIssue::new("category", IDENTIFIER_RULE));
    }
    let province = request.province.map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty());
    let province = province.unwrap_or_else(|| ANY.to_string());
    if province != ANY && !iran::is_province(&province) {
        issues.push(FieldIssue::new("province", format!("use `*` (all) or one of: {}", iran::province_codes())));
    }
    let city = request
        .city
        .map(|c| iran::normalize_persian(&c.trim().to_ascii_lowercase()))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| ANY.to_string());
    if city != ANY && province == ANY {
        issues.push(FieldIssue::new("city", "a city rule needs its province"));
    }
    if city.chars().count() > 100 {
        issues.push(FieldIssue::new("city", "is longer than 100 characters"));
    }
    let agency_id = request.agency_id.unwrap_or_default().trim().to_string();
    if agency_id.is_empty() {
        issues.push(FieldIssue::new("agency_id", "is required"));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let created =
        state.ctx.db.write(move |conn| store::create_rule(conn, &category, &province, &city, &agency_id, now)).await;
    match created {
        Ok(rule) => Ok(HttpResponse::Created().json(rule)),
        Err(error @ RuleError::UnknownAgency(_)) => Err(ApiError::invalid_field("agency_id", error.to_string())),
        Err(error @ RuleError::Exists(_)) => Err(ApiError::Conflict(error.to_string())),
        Err(RuleError::Db(error)) => Err(error.into()),
    }
}

async fn delete_rule(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let deleted = state.ctx.db.write(move |conn| store::delete_rule(conn, &id)).await?;
    if deleted { Ok(HttpResponse::NoContent().finish()) } else { Err(ApiError::NotFound("no rule has this id".into())) }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<i64>,
}

async fn get_triage(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(page): QueryParams<Page>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Supervisor, Scope::CallCenter])?;
    let limit = page_limit(page.limit)?;
    let entries = state.ctx.db.run(move |conn| store::triage_queue(conn, limit)).await?;
    Ok(HttpResponse::Ok().json(json!({ "triage": entries })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentRequest {
    agency_id: Option<String>,
}

async fn post_triage_assignment(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<AssignmentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Supervisor, Scope::CallCenter])?;
    let may_decide_flagged = caller.has(Scope::Supervisor) || caller.has(Scope::Admin);
    let message_id = path.into_inner();
    let Some(agency_id) = request.agency_id.map(|a| a.trim().to_string()).filter(|a| !a.is_empty()) else {
        return Err(ApiError::invalid_field("agency_id", "is required"));
    };
    let now = state.ctx.clock.now();
    let assigned = state
        .ctx
        .db
        .write(move |conn| store::assign_from_triage(conn, &message_id, &agency_id, may_decide_flagged, now))
        .await;
    match assigned {
        Ok(event) => {
            state.ctx.committed();
            Ok(HttpResponse::Ok().json(event))
        }
        Err(TriageError::NotInTriage) => Err(ApiError::NotFound("no message with this id waits in triage".into())),
        Err(error @ TriageError::UnknownAgency(_)) => Err(ApiError::invalid_field("agency_id", error.to_string())),
        Err(error @ TriageError::NeedsSupervisor) => Err(ApiError::Forbidden(error.to_string())),
        Err(TriageError::Db(error)) => Err(error.into()),
    }
}
