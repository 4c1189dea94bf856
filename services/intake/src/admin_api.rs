//! Intake's admin REST API: categories and API keys.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_shared::http::auth::{ApiKeyInfo, KeyBinding, create_key, list_keys, revoke_key};
use nazer_shared::http::{ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, Scope, is_identifier};
use serde::{Deserialize, Serialize};

use crate::api::{IntakeState, TAG};
use crate::store;
use crate::submission::Category;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/categories", web::get().to(get_categories))
        .route("/api/v1/categories/{code}", web::put().to(put_category))
        .route("/api/v1/api-keys", web::post().to(post_api_key))
        .route("/api/v1/api-keys", web::get().to(get_api_keys))
        .route("/api/v1/api-keys/{id}", web::delete().to(delete_api_key));
}

/// The active categories.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryList {
    /// By code.
    pub categories: Vec<Category>,
}

/// The active categories messages are filed under, with the kinds each takes.
///
/// Any authenticated client.
#[utoipa::path(get, path = "/api/v1/categories", tag = TAG,
    responses((status = 200, description = "The active categories", body = CategoryList)))]
pub(crate) async fn get_categories(state: web::Data<IntakeState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let categories = state.ctx.db.run(store::load_categories).await?;
    let active: Vec<Category> = categories.into_iter().filter(|c| c.active).collect();
    Ok(HttpResponse::Ok().json(CategoryList { categories: active }))
}

/// A category as an admin sets it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CategoryDocument)]
pub(crate) struct CategoryRequest {
    /// The Persian name.
    #[schema(required = true, min_length = 1)]
    name_fa: Option<String>,
    /// The English name.
    #[schema(required = true, min_length = 1)]
    name_en: Option<String>,
    /// One or more of: `complaint`, `violation_report`, `criticism`, `suggestion`,
    /// `appreciation`.
    #[schema(required = true, min_items = 1)]
    kinds: Option<Vec<String>>,
    /// False retires the category: it takes no new messages (true by default).
    active: Option<bool>,
}

/// Creates or replaces a category.
///
/// Admins only.
#[utoipa::path(put, path = "/api/v1/categories/{code}", tag = TAG,
    params(("code" = String, Path, pattern = "^[a-z0-9._-]{1,64}$",
        description = "The category's code: 1–64 lowercase letters, digits, '.', '_' or '-'")),
    request_body(content = CategoryRequest, content_type = "application/json"),
    responses((status = 200, description = "The category as stored", body = Category)))]
pub(crate) async fn put_category(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<CategoryRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let category = Category::checked(
        &path.into_inner(),
        &request.name_fa.unwrap_or_default(),
        &request.name_en.unwrap_or_default(),
        request.kinds.unwrap_or_default(),
        request.active.unwrap_or(true),
    )
    .map_err(ApiError::invalid)?;
    let stored = category.clone();
    state.ctx.db.write(move |conn| store::put_category(conn, &stored)).await?;
    Ok(HttpResponse::Ok().json(category))
}

/// A new API key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiKey)]
pub(crate) struct ApiKeyRequest {
    /// Who holds it, up to 100 characters.
    #[schema(required = true, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// One or more of: `call_center`, `agency`, `supervisor`, `special_follow_up`, `admin`,
    /// `open311`, `counterpart_unit`, `compliance_committee`.
    #[schema(required = true, min_items = 1)]
    scopes: Option<Vec<String>>,
    /// The agency the key acts for: required with the `agency` scope, and only with it.
    agency_id: Option<String>,
    /// The counterpart unit the key acts for (an id of `GET /api/v1/counterpart-units`):
    /// required with the `counterpart_unit` scope, and only with it.
    unit_id: Option<String>,
}

/// A key just created, with its secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: String,
    /// The key, sent as the bearer token (`Authorization: Bearer …`); it cannot be read again.
    pub secret: String,
    pub scopes: Vec<String>,
    #[schema(required = true)]
    pub agency_id: Option<String>,
    #[schema(required = true)]
    pub unit_id: Option<String>,
    /// `the secret is shown once; store it now`.
    pub note: String,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[schema(required = true)]
    pub agency_id: Option<String>,
    /// The counterpart unit a `counterpart_unit` key acts for.
    #[schema(required = true)]
    pub unit_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Null while the key is active.
    #[schema(required = true)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for ApiKey {
    fn from(info: ApiKeyInfo) -> Self {
        // Every field named: a field added to the shared type must be added here too.
        let ApiKeyInfo { id, name, scopes, agency_id, unit_id, created_at, revoked_at } = info;
        Self { id, name, scopes, agency_id, unit_id, created_at, revoked_at }
    }
}

/// The API keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    /// Oldest first, revoked ones included.
    pub api_keys: Vec<ApiKey>,
}

/// Creates an API key; its secret is answered this once.
///
/// Admins only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = TAG,
    request_body(content = ApiKeyRequest, content_type = "application/json"),
    responses((status = 201, description = "The key, with its secret", body = CreatedApiKey)))]
pub(crate) async fn post_api_key(
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
    } else if Caller::mixes_agency_with_culpability(&scopes) {
        let problem = "an agency key cannot also be a counterpart unit's or the compliance committee's";
        issues.push(FieldIssue::new("scopes", problem));
    }
    let agency_id = request.agency_id.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    if scopes.contains(&Scope::Agency) != agency_id.is_some() {
        issues.push(FieldIssue::new("agency_id", "is required with the agency scope, and only with it"));
    } else if agency_id.as_deref().is_some_and(|a| !is_identifier(a)) {
        issues.push(FieldIssue::new("agency_id", IDENTIFIER_RULE));
    }
    let unit_id = request.unit_id.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    if scopes.contains(&Scope::CounterpartUnit) != unit_id.is_some() {
        issues.push(FieldIssue::new("unit_id", "is required with the counterpart_unit scope, and only with it"));
    } else if unit_id.as_deref().is_some_and(|u| !is_identifier(u)) {
        issues.push(FieldIssue::new("unit_id", IDENTIFIER_RULE));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let (names, agency, unit) = (scopes.clone(), agency_id.clone(), unit_id.clone());
    let (id, secret) = state
        .ctx
        .db
        .write(move |conn| {
            let bound = KeyBinding { agency_id: agency.as_deref(), unit_id: unit.as_deref() };
            create_key(conn, &name, &names, bound, now)
        })
        .await?;
    let scopes = scopes.iter().map(|s| s.as_str().to_string()).collect();
    let note = "the secret is shown once; store it now".into();
    Ok(HttpResponse::Created().json(CreatedApiKey { id, secret, scopes, agency_id, unit_id, note }))
}

/// Lists the API keys, never their secrets.
///
/// Admins only.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = TAG,
    responses((status = 200, description = "The keys", body = ApiKeyList)))]
pub(crate) async fn get_api_keys(state: web::Data<IntakeState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let keys = state.ctx.db.run(list_keys).await?;
    Ok(HttpResponse::Ok().json(ApiKeyList { api_keys: keys.into_iter().map(ApiKey::from).collect() }))
}

/// Revokes an API key at once.
///
/// Admins only.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = TAG,
    params(("id" = String, Path, description = "The key's id, such as `key_0123456789abcdef`")),
    responses((status = 204, description = "Revoked; no body")))]
pub(crate) async fn delete_api_key(
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
