//! Intake's admin REST API: categories and API keys.

use actix_web::{HttpResponse, web};
use nazer_shared::http::auth::{create_key, list_keys, revoke_key};
use nazer_shared::http::{ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, Scope, is_identifier};
use serde::Deserialize;
use serde_json::json;

use crate::api::IntakeState;
use crate::store;
use crate::submission::Category;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/categories", web::get().to(get_categories))
        .route("/api/v1/categories/{code}", web::put().to(put_category))
        .route("/api/v1/api-keys", web::post().to(post_api_key))
        .route("/api/v1/api-keys", web::get().to(get_api_keys))
        .route("/api/v1/api-keys/{id}", web::delete().to(delete_api_key));
}

async fn get_categories(state: web::Data<IntakeState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let categories = state.ctx.db.run(store::load_categories).await?;
    let active: Vec<Category> = categories.into_iter().filter(|c| c.active).collect();
    Ok(HttpResponse::Ok().json(json!({ "categories": active })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryRequest {
    name_fa: Option<String>,
    name_en: Option<String>,
    kinds: Option<Vec<String>>,
    active: Option<bool>,
}

async fn put_category(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<CategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let code = path.into_inner();
    let mut issues = Vec::new();
    if !is_identifier(&code) {
        issues.push(FieldIssue::new("code", IDENTIFIER_RULE));
    }
    let name_fa = request.name_fa.unwrap_or_default().trim().to_string();
    let name_en = request.name_en.unwrap_or_default().trim().to_string();
    if name_fa.is_empty() {
        issues.push(FieldIssue::new("name_fa", "is required: the Persian name"));
    }
    if name_en.is_empty() {
        issues.push(FieldIssue::new("name_en", "is required: the English name"));
    }
    let kinds = request.kinds.unwrap_or_default();
    let known = nazer_shared::events::MessageKind::ALL.map(|k| k.as_str());
    if kinds.is_empty() || kinds.iter().any(|k| !known.contains(&k.as_str())) {
        issues.push(FieldIssue::new("kinds", format!("list one or more of: {}", known.join(", "))));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let category = Category { code, name_fa, name_en, kinds, active: request.active.unwrap_or(true) };
    let stored = category.clone();
    state.ctx.db.write(move |conn| store::put_category(conn, &stored)).await?;
    Ok(HttpResponse::Ok().json(category))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyRequest {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    agency_id: Option<String>,
}

async fn post_api_key(
    state: web::Data<IntakeState>,
    caller: Caller,
    JsonBody(request): JsonBody<ApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    let name = request.name.unwrap_or_default().trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        issues.push(FieldIssue::new("name", "is required, up to 100 characters"));
    }
    let texts = request.scopes.unwrap_or_default();
    let scopes: Vec<Scope> = texts.iter().filter_map(|s| Scope::parse(s)).collect();
    if texts.is_empty() || scopes.len() != texts.len() {
        issues.push(FieldIssue::new("scopes", format!("list one or more of: {}", Scope::names())));
    }
    let agency_id = request.agency_id.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    if scopes.contains(&Scope::Agency) != agency_id.is_some() {
        issues.push(FieldIssue::new("agency_id", "is required with the agency scope, and only with it"));
    } else if agency_id.as_deref().is_some_and(|a| !is_identifier(a)) {
        issues.push(FieldIssue::new("agency_id", IDENTIFIER_RULE));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let (names, agency) = (scopes.clone(), agency_id.clone());
    let (id, secret) = state.ctx.db.write(move |conn| create_key(conn, &name, &names, agency.as_deref(), now)).await?;
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    Ok(HttpResponse::Created().json(json!({
        "id": id,
        "secret": secret,
        "scopes": scope_names,
        "agency_id": agency_id,
        "note": "the secret is shown once; store it now",
    })))
}

async fn get_api_keys(state: web::Data<IntakeState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let keys = state.ctx.db.run(list_keys).await?;
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys })))
}

async fn delete_api_key(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let now = state.ctx.clock.now();
    let revoked = state.ctx.db.write(move |conn| revoke_key(conn, &id, now)).await?;
    if revoked {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no active key has this id".into()))
    }
}
