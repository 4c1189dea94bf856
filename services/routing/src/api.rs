//! Routing's REST API: agencies (and the areas they serve), rules, and the triage queue.

use actix_web::{HttpResponse, web};
use nazer_shared::events::MessageAssigned;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, QueryParams, Scope, is_identifier, page_limit, paging,
    period_bound,
};
use nazer_shared::iran::{self, Province};
use nazer_shared::runtime::ServiceContext;
use serde::{Deserialize, Serialize};

use crate::agency::{AgencyDraft, area_code, requested_areas};
use crate::rules::{ANY, Rule};
use crate::store::{self, Agency, AgencyFilter, TriageEntry, TriageFilter};

pub struct RoutingState {
    pub ctx: ServiceContext,
}

/// Names `field` unless `code` is the code of an area routing knows.
async fn check_known_area(
    state: &RoutingState,
    field: &str,
    code: &str,
    issues: &mut Vec<FieldIssue>,
) -> Result<(), ApiError> {
    let known = if is_identifier(code) {
        let code = code.to_string();
        state.ctx.db.run(move |conn| store::area_path(conn, &code)).await?.is_some()
    } else {
        false
    };
    if !known {
        issues.push(FieldIssue::new(field, store::unknown_area(code)));
    }
    Ok(())
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<RoutingState>) {
    cfg.app_data(state)
        .route("/api/v1/agencies", web::get().to(get_agencies))
        .route("/api/v1/agencies", web::post().to(post_agency))
        .route("/api/v1/agencies/{id}", web::get().to(get_agency))
        .route("/api/v1/agencies/{id}", web::put().to(put_agency))
        .route("/api/v1/agencies/{id}/areas", web::put().to(put_agency_areas))
        .route("/api/v1/routing-rules", web::get().to(get_rules))
        .route("/api/v1/routing-rules", web::post().to(post_rule))
        .route("/api/v1/routing-rules/{id}", web::delete().to(delete_rule))
        .route("/api/v1/triage", web::get().to(get_triage))
        .route("/api/v1/triage/{message}/assignment", web::post().to(post_triage_assignment));
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgencyQuery {
    /// Only the agencies directly under this one (their `parent_id`), e.g. `tehran-governorate`.
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    parent_id: Option<String>,
    /// Only the agencies that serve this area or an area it lies in: a known area code (case
    /// aside), e.g. `tehran` or one of its districts; `GET /api/v1/areas` lists them.
    area: Option<String>,
    /// `id` (ascending, the default) or `-id` (descending).
    #[param(pattern = "^-?id$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged (the last agency id it listed).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    cursor: Option<String>,
    /// How many agencies at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of agencies, by id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AgencyList {
    agencies: Vec<Agency>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Lists the agencies, by id, in pages. Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/agencies", tag = "routing",
    params(AgencyQuery),
    responses((status = 200, description = "A page of agencies, ordered by id (ascending unless sorted otherwise)", body = AgencyList)))]
pub(crate) async fn get_agencies(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(query): QueryParams<AgencyQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let mut issues = Vec::new();
    if query.parent_id.as_deref().is_some_and(|p| !is_identifier(p)) {
        issues.push(FieldIssue::new("parent_id", IDENTIFIER_RULE));
    }
    let area = query.area.as_deref().map(area_code);
    if let Some(area) = &area {
        check_known_area(&state, "area", area, &mut issues).await?;
    }
    // Ids are not instants: the order is ascending or descending, not oldest or newest first.
    let descending = match query.sort.as_deref() {
        None | Some("id") => false,
        Some("-id") => true,
        Some(_) => {
            issues.push(FieldIssue::new("sort", "id (ascending, the default) or -id (descending)"));
            false
        }
    };
    if query.cursor.as_deref().is_some_and(|c| !is_identifier(c)) {
        issues.push(FieldIssue::new("cursor", "pass back the `next_cursor` of the previous page unchanged"));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = AgencyFilter {
        parent_id: query.parent_id,
        area,
        descending,
        after: query.cursor,
        limit: page_limit(query.limit)?,
    };
    let (agencies, next_cursor) = state.ctx.db.run(move |conn| store::list_agencies(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(AgencyList { agencies, next_cursor }))
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
    /// The codes of the areas it serves (case aside, each once, up to 500): known areas at
    /// any level, e.g. `tehran` or one of its districts; `GET /api/v1/areas` lists them.
    /// Absent, null or empty for none.
    #[schema(max_items = 500)]
    areas: Option<Vec<String>>,
}

/// Adds an agency, under an existing parent if any, serving the areas it declares. Admins only.
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
    let draft = AgencyDraft::checked(
        &request.id.unwrap_or_default(),
        &request.name.unwrap_or_default(),
        request.parent_id.as_deref(),
        request.areas.unwrap_or_default(),
    )
    .map_err(ApiError::invalid)?;
    let now = state.ctx.clock.now();
    let AgencyDraft { id, name, parent_id, areas } = draft;
    let agency = state
        .ctx
        .db
        .write(move |conn| store::create_agency(conn, &id, &name, parent_id.as_deref(), &areas, now))
        .await?;
    Ok(HttpResponse::Created().json(agency))
}

/// An agency created or replaced at its id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AgencyDocument)]
pub(crate) struct AgencyDocumentRequest {
    /// Its name, up to 200 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200)]
    name: Option<String>,
    /// The id of an existing agency it belongs to, not one under it; absent, null or empty for
    /// a top-level agency.
    parent_id: Option<String>,
    /// The codes of the areas it serves (case aside, each once, up to 500), replacing those it
    /// declared before; absent, null or empty for none.
    #[schema(max_items = 500)]
    areas: Option<Vec<String>>,
}

/// Creates an agency at this id or replaces its name, parent and served areas — as `nazer
/// import` loads `agencies.json`. Admins only.
#[utoipa::path(put, path = "/api/v1/agencies/{id}", tag = "routing",
    params(("id" = String, Path, description = "The agency's id, for good: 1–64 lowercase letters, digits, '.', '_' or '-'",
        pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = AgencyDocumentRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The agency, replaced", body = Agency),
        (status = 201, description = "The agency, created", body = Agency)))]
pub(crate) async fn put_agency(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<AgencyDocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let draft = AgencyDraft::checked(
        &path.into_inner(),
        &request.name.unwrap_or_default(),
        request.parent_id.as_deref(),
        request.areas.unwrap_or_default(),
    )
    .map_err(ApiError::invalid)?;
    let now = state.ctx.clock.now();
    let (agency, created) = state.ctx.db.write(move |conn| store::put_agency(conn, &draft, now)).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(agency))
}

/// The areas an agency serves, replacing those it declared before.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AgencyAreas)]
pub(crate) struct AgencyAreasRequest {
    /// The codes of the areas it serves (case aside, each once, up to 500): known areas at
    /// any level; `GET /api/v1/areas` lists them. An empty list clears them.
    #[schema(required = true, value_type = Vec<String>, max_items = 500)]
    areas: Option<Vec<String>>,
}

/// Replaces the areas an agency serves. Admins only.
#[utoipa::path(put, path = "/api/v1/agencies/{id}/areas", tag = "routing",
    params(("id" = String, Path, description = "The agency's id, e.g. `tehran-municipality`")),
    request_body(content = AgencyAreasRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The agency, with the areas it now serves", body = Agency),
        (status = 404, description = "No agency has this id", content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn put_agency_areas(
    state: web::Data<RoutingState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<AgencyAreasRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let mut issues = Vec::new();
    let Some(areas) = request.areas else {
        return Err(ApiError::invalid_field("areas", "is required: a list of area codes; an empty list clears them"));
    };
    let areas = requested_areas(areas, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let agency = state.ctx.db.write(move |conn| store::set_agency_areas(conn, &id, &areas)).await?;
    Ok(HttpResponse::Ok().json(agency))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RuleQuery {
    /// Only the rules of this category code (exact match), e.g. `municipal.building`.
    #[param(required = false, value_type = String)]
    category: Option<String>,
    /// Only the rules that send messages to this agency (its id).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    agency_id: Option<String>,
    /// Only the rules of this province (their area's): a province code such as `tehran` (case
    /// aside), or `*` for the rules of everywhere. Matched exactly: `tehran` does not list the
    /// `*` rules, and lists those of its districts.
    province: Option<String>,
    /// Only the rules of this area: a known area code (case aside), or `*` for the rules of
    /// everywhere. Matched exactly: `tehran` lists neither the `*` rules nor those of its
    /// districts. `GET /api/v1/areas` lists the codes.
    area: Option<String>,
    /// Created at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    from: Option<String>,
    /// Created before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant.
    to: Option<String>,
    /// `created_at` (oldest first, the default) or `-created_at` (newest first).
    #[param(pattern = "^-?created_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
    /// How many rules at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of routing rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RoutingRuleList {
    routing_rules: Vec<Rule>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Lists the routing rules in the order they were created, with filters and a cursor. Admins
/// only.
///
/// Ordered by `created_at`, then rule id.
#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing",
    params(RuleQuery),
    responses((status = 200, description = "A page of rules, oldest first unless sorted otherwise", body = RoutingRuleList)))]
pub(crate) async fn get_rules(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(query): QueryParams<RuleQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    if query.agency_id.as_deref().is_some_and(|a| !is_identifier(a)) {
        issues.push(FieldIssue::new("agency_id", IDENTIFIER_RULE));
    }
    let province = query.province.map(|p| p.trim().to_ascii_lowercase());
    if province.as_deref().is_some_and(|p| p != ANY && Province::parse(p).is_none()) {
        issues.push(FieldIssue::new("province", format!("`*` (nationwide rules) or one of: {}", Province::listed())));
    }
    let area = query.area.as_deref().map(area_code);
    if let Some(area) = area.as_deref().filter(|a| *a != ANY) {
        check_known_area(&state, "area", area, &mut issues).await?;
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    let newest_first =
        paging::newest_first("created_at", query.sort.as_deref(), paging::Order::OldestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = store::RuleFilter {
        category: query.category,
        agency_id: query.agency_id,
        province,
        area,
        from,
        until,
        newest_first,
        after,
        limit: page_limit(query.limit)?,
    };
    let (routing_rules, next_cursor) = state.ctx.db.run(move |conn| store::rules_page(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(RoutingRuleList { routing_rules, next_cursor }))
}

/// A new routing rule: messages of `category` (or a category under it) located in `area` (and
/// `city`) go to `agency_id`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRoutingRule)]
pub(crate) struct RuleRequest {
    /// The category code: 1–64 lowercase letters, digits, '.', '_' or '-', e.g. `municipal.building`.
    /// It covers the categories under it too: `municipal` covers `municipal.building`.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9._-]{1,64}$")]
    category: Option<String>,
    /// `*` (every province; the default when absent, null or empty) or a province code (case
    /// aside): alborz, ardabil, bushehr, chaharmahal-bakhtiari, east-azerbaijan, fars, gilan,
    /// golestan, hamadan, hormozgan, ilam, isfahan, kerman, kermanshah, khorasan-north,
    /// khorasan-razavi, khorasan-south, khuzestan, kohgiluyeh-boyerahmad, kurdistan, lorestan,
    /// markazi, mazandaran, qazvin, qom, semnan, sistan-baluchestan, tehran, west-azerbaijan,
    /// yazd, zanjan. With `area`, the province `area` lies in; alone, the rule's area.
    province: Option<String>,
    /// The area the rule covers: a known area code at any level (case aside), such as a
    /// province, county, city, district, sub-district or neighbourhood (`GET /api/v1/areas`
    /// lists them), or `*` for everywhere. Absent, null or empty: `province`, or everywhere
    /// without one. The rule on the deepest area of a message's area path decides.
    area: Option<String>,
    /// `*` (every city; the default when absent, null or empty) or a city name, up to 100
    /// characters; a city rule needs its area or province. Arabic ي/ك are stored as Persian
    /// ی/ک.
    city: Option<String>,
    /// The id of the existing agency that receives these messages.
    #[schema(required = true, value_type = String, min_length = 1)]
    agency_id: Option<String>,
}

/// Adds a routing rule. Admins only.
///
/// Of the rules matching a message, the one on the deepest area of its area path decides, then
/// a city rule over one of every city, then the most specific category.
#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing",
    request_body(content = RuleRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The rule, added", body = Rule),
        (status = 409, description = "A rule for this category, area and city already exists", content_type = "application/problem+json", body = ProblemSchema)))]
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
    if province.as_deref().is_some_and(|p| p != ANY && Province::parse(p).is_none()) {
        issues.push(FieldIssue::new("province", format!("use `*` (all) or one of: {}", Province::listed())));
    }
    let named_area = request.area.as_deref().map(area_code).filter(|a| !a.is_empty());
    if named_area.as_deref().is_some_and(|a| a != ANY && !is_identifier(a)) {
        issues.push(FieldIssue::new("area", store::unknown_area(named_area.as_deref().unwrap_or_default())));
    }
    // The rule's area: the one named, else the province, else everywhere; a province named
    // with an area (other than `*`, every province) must hold it.
    let within = province.clone().filter(|p| p != ANY && named_area.is_some());
    let area = named_area.or(province).unwrap_or_else(|| ANY.to_string());
    let city = request
        .city
        .map(|c| iran::normalize_persian(&c.trim().to_ascii_lowercase()))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| ANY.to_string());
    if city != ANY && area == ANY {
        issues.push(FieldIssue::new("city", "a city rule needs its area or province"));
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
    let rule = state
        .ctx
        .db
        .write(move |conn| {
            let rule = store::NewRule {
                category: &category,
                area: &area,
                province: within.as_deref(),
                city: &city,
                agency_id: &agency_id,
            };
            store::create_rule(conn, &rule, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(rule))
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
pub(crate) struct TriageQuery {
    /// `true` for only the messages declined three times (for a supervisor to place), `false`
    /// for only the others.
    needs_supervisor: Option<bool>,
    /// Only messages of this category (its code).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    category: Option<String>,
    /// Only messages about this province (its code, such as `tehran`).
    #[param(required = false, value_type = Province)]
    province: Option<String>,
    /// Only messages located in this area (their area path holds it): a known area code (case
    /// aside), e.g. `tehran` or one of its districts; `GET /api/v1/areas` lists them.
    area: Option<String>,
    /// Queued at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    from: Option<String>,
    /// Queued before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant.
    to: Option<String>,
    /// `queued_at` (oldest first, the default: a work queue) or `-queued_at` (newest first).
    #[param(pattern = "^-?queued_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
    /// How many entries at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of the 1888 triage queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TriageQueue {
    triage: Vec<TriageEntry>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Lists the 1888 triage queue, oldest first, with filters and a cursor. Admins, supervisors
/// and the call centre.
///
/// The messages no rule could route, or that every matching agency declined, ordered by
/// `queued_at`, then message id.
#[utoipa::path(get, path = "/api/v1/triage", tag = "routing",
    params(TriageQuery),
    responses((status = 200, description = "A page of the queue, oldest first unless sorted otherwise", body = TriageQueue)))]
pub(crate) async fn get_triage(
    state: web::Data<RoutingState>,
    caller: Caller,
    QueryParams(query): QueryParams<TriageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::Supervisor, Scope::CallCenter])?;
    let mut issues = Vec::new();
    if query.category.as_deref().is_some_and(|c| !is_identifier(c)) {
        issues.push(FieldIssue::new("category", IDENTIFIER_RULE));
    }
    if query.province.as_deref().is_some_and(|p| Province::parse(p).is_none()) {
        issues.push(FieldIssue::new("province", format!("one of: {}", Province::listed())));
    }
    let area = query.area.as_deref().map(area_code);
    if let Some(area) = &area {
        check_known_area(&state, "area", area, &mut issues).await?;
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    let newest_first =
        paging::newest_first("queued_at", query.sort.as_deref(), paging::Order::OldestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = TriageFilter {
        needs_supervisor: query.needs_supervisor,
        category: query.category,
        province: query.province,
        area,
        from,
        until,
        newest_first,
        after,
        limit: page_limit(query.limit)?,
    };
    let (triage, next_cursor) = state.ctx.db.run(move |conn| store::triage_queue(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(TriageQueue { triage, next_cursor }))
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
#[utoipa::path(post, path = "/api/v1/triage/{message}/assignment", tag = "routing",
    params(("message" = String, Path, description = "The message waiting in triage: its tracking code \
        (10 digits, as every other endpoint takes it) or its internal `message_id` (still accepted)")),
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
    let message = store::TriagedMessage::named(&path.into_inner());
    let Some(agency_id) = request.agency_id.map(|a| a.trim().to_string()).filter(|a| !a.is_empty()) else {
        return Err(ApiError::invalid_field("agency_id", "is required"));
    };
    let (now, assigned_by) = (state.ctx.clock.now(), caller.key_id.clone());
    let event = state
        .ctx
        .write(move |conn| store::assign_from_triage(conn, &message, &agency_id, may_decide_flagged, &assigned_by, now))
        .await?;
    Ok(HttpResponse::Ok().json(event))
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
