//! Routing's REST API: agencies, rules, and the triage queue.

use actix_web::{HttpResponse, web};
use nazer_shared::events::MessageAssigned;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, QueryParams, Scope, is_identifier, page_limit,
};
use nazer_shared::iran;
use nazer_shared::runtime::ServiceContext;
use serde::{Deserialize, Serialize};

use crate::rules::{ANY, Rule};
use crate::store::{self, Agency, AgencyError, RuleError, TriageEntry, TriageError};

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

/// Every agency, by id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AgencyList {
    agencies: Vec<Agency>,
}

/// Lists the agencies. Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/agencies", tag = "routing",
    responses((status = 200, description = "Every agency, ordered by id", body = AgencyList)))]
pub(crate) async fn get_agencies(state: web::Data<RoutingState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let agencies = state.ctx.db.run(store::list_agencies).await?;
    Ok(HttpResponse::Ok().json(AgencyList { agencies }))
}

/// Reads one agency. Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/agencies/{id}", tag = "routing",
    params(("id" = String, Path, description = "The agency's id, e.g. `tehran-municipality`")),
    responses((status = 200, description = "The agency", body = Agency)))]
pub(crate) async fn get_agency(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let id = path.into_inner();
    let agency = state.ctx.db.run(move |conn| store::find_agency(conn, &id)).await?;
    agency.map(|a| HttpResponse::Ok().json(a)).ok_or_else(|| ApiError::NotFound("no agency has this id".into()))
}

/// A new agency.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewAgency)]
pub(crate) struct AgencyRequest {
    /// Its id, for good: 1–64 lowercase letters, digits, '.', '_' or '-'.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9._-]{1,64}$")]
    id: Option<String>,
    /// Its name, up to 200 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    name: Option<String>,
    /// The id of an existing agency it belongs to (it receives level-2 warnings and sees the
    /// messages of this one); absent, null or empty for a top-level agency.
    parent_id: Option<String>,
}

/// Adds an agency, under an existing parent if any. Admins only.
#[utoipa::path(post, path = "/api/v1/agencies", tag = "routing",
    request_body(content = AgencyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The agency, added", body = Agency),
        (status = 409, description = "An agency with this id already exists", content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_agency(
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RuleFilter {
    /// Only the rules of this category code (exact match), e.g. `municipal.building`.
    #[param(required = false, value_type = String)]
    category: Option<String>,
}

/// Every routing rule, by category, province and city.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RoutingRuleList {
    routing_rules: Vec<Rule>,
}

/// Lists the routing rules. Admins only.
#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing",
    params(RuleFilter),
    responses((status = 200, description = "The rules, ordered by category, province and city", body = RoutingRuleList)))]
pub(crate) async fn get_rules(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(filter): QueryParams<RuleFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let category = filter.category;
    let rules = state.ctx.db.run(move |conn| store::list_rules(conn, category.as_deref())).await?;
    Ok(HttpResponse::Ok().json(RoutingRuleList { routing_rules: rules }))
}

/// A new routing rule: messages of `category` from `province` (and `city`) go to `agency_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRoutingRule)]
pub(crate) struct RuleRequest {
    /// The category code: 1–64 lowercase letters, digits, '.', '_' or '-', e.g. `municipal.building`.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9._-]{1,64}$")]
    category: Option<String>,
    /// `*` (every province; the default when absent, null or empty) or a province code (case
    /// aside): alborz, ardabil, bushehr, chaharmahal-bakhtiari, east-azerbaijan, fars, gilan,
    /// golestan, hamadan, hormozgan, ilam, isfahan, kerman, kermanshah, khorasan-north,
    /// khorasan-razavi, khorasan-south, khuzestan, kohgiluyeh-boyerahmad, kurdistan, lorestan,
    /// markazi, mazandaran, qazvin, qom, semnan, sistan-baluchestan, tehran, west-azerbaijan,
    /// yazd, zanjan.
    province: Option<String>,
    /// `*` (every city; the default when absent, null or empty) or a city name, up to 100
    /// characters; a city rule needs its province. Arabic ي/ك are stored as Persian ی/ک.
    city: Option<String>,
    /// The id of the existing agency that receives these messages.
    #[schema(required = true, value_type = String, min_length = 1)]
    agency_id: Option<String>,
}

/// Adds a routing rule; the most specific matching rule decides. Admins only.
#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing",
    request_body(content = RuleRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The rule, added", body = Rule),
        (status = 409, description = "A rule for this category, province and city already exists", content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_rule(
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

/// Removes a routing rule; messages already routed stay where they are. Admins only.
#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}", tag = "routing",
    params(("id" = String, Path, description = "The rule's id")),
    responses((status = 204, description = "The rule is removed")))]
pub(crate) async fn delete_rule(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let deleted = state.ctx.db.write(move |conn| store::delete_rule(conn, &id)).await?;
    if deleted { Ok(HttpResponse::NoContent().finish()) } else { Err(ApiError::NotFound("no rule has this id".into())) }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// How many entries at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// The 1888 triage queue, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TriageQueue {
    triage: Vec<TriageEntry>,
}

/// Lists the 1888 triage queue. Admins, supervisors and the call centre.
///
/// The messages no rule could route, or that every matching agency declined, oldest first.
#[utoipa::path(get, path = "/api/v1/triage", tag = "routing",
    params(Page),
    responses((status = 200, description = "The queue, oldest first", body = TriageQueue)))]
pub(crate) async fn get_triage(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(page): QueryParams<Page>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Supervisor, Scope::CallCenter])?;
    let limit = page_limit(page.limit)?;
    let entries = state.ctx.db.run(move |conn| store::triage_queue(conn, limit)).await?;
    Ok(HttpResponse::Ok().json(TriageQueue { triage: entries }))
}

/// The agency a message in triage goes to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriageDecision)]
pub(crate) struct AssignmentRequest {
    /// The id of an existing agency.
    #[schema(required = true, value_type = String, min_length = 1)]
    agency_id: Option<String>,
}

/// Sends a message waiting in triage to an agency. Admins, supervisors and the call centre.
///
/// A message declined three times is for admins and supervisors only.
#[utoipa::path(post, path = "/api/v1/triage/{message_id}/assignment", tag = "routing",
    params(("message_id" = String, Path, description = "The id of the message waiting in triage")),
    request_body(content = AssignmentRequest, content_type = "application/json"),
    responses((status = 200, description = "The message is assigned", body = MessageAssigned)))]
pub(crate) async fn post_triage_assignment(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_request_names_every_province() {
        let schema = serde_json::to_value(<RuleRequest as utoipa::PartialSchema>::schema()).unwrap();
        let described = schema["properties"]["province"]["description"].as_str().unwrap().replace('\n', " ");
        for (code, _, _) in iran::PROVINCES {
            assert!(described.contains(&format!(" {code},")) || described.contains(&format!(" {code}.")), "{code}");
        }
    }
}
