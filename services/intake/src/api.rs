//! Intake's REST API: messages for the call centre and agencies, categories, API keys.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use nazer_shared::http::auth::{create_key, list_keys, revoke_key};
use nazer_shared::http::{ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, Scope, is_identifier};
use nazer_shared::runtime::ServiceContext;
use serde::Deserialize;
use serde_json::json;

use crate::store::{self, Posted, RespondError};
use crate::submission::{self, Category, SubmissionRequest};
use crate::tracking_code::TrackingCode;

pub struct IntakeState {
    pub ctx: ServiceContext,
    pub keys: crate::sealing::ReporterKeys,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<IntakeState>) {
    cfg.app_data(state)
        .route("/api/v1/messages", web::post().to(post_message))
        .route("/api/v1/messages/{tracking_code}", web::get().to(get_message))
        .route("/api/v1/messages/{tracking_code}/responses", web::post().to(post_response))
        .route("/api/v1/messages/{tracking_code}/acknowledgement", web::post().to(post_acknowledgement))
        .route("/api/v1/categories", web::get().to(get_categories))
        .route("/api/v1/categories/{code}", web::put().to(put_category))
        .route("/api/v1/api-keys", web::post().to(post_api_key))
        .route("/api/v1/api-keys", web::get().to(get_api_keys))
        .route("/api/v1/api-keys/{id}", web::delete().to(delete_api_key));
}

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

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

fn parse_code(text: &str) -> Result<TrackingCode, ApiError> {
    TrackingCode::parse(text).map_err(|e| ApiError::invalid_field("tracking_code", e.to_string()))
}

async fn post_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    req: HttpRequest,
    JsonBody(request): JsonBody<SubmissionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin])?;
    let key = idempotency_key(&req)?;
    let now = state.ctx.clock.now();
    let submitted_by = caller.key_id.clone();
    let keys = state.keys.clone();
    let posted = state
        .ctx
        .db
        .write(move |conn| {
            let categories = store::load_categories(conn)?;
            let submission = submission::validate(&request, &categories).map_err(ApiError::invalid)?;
            store::post_message(conn, &keys, &submission, &submitted_by, key.as_deref(), now).map_err(ApiError::from)
        })
        .await?;
    state.ctx.committed();
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

async fn get_message(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Agency])?;
    let code = parse_code(&path)?;
    let view = state.ctx.db.read(move |conn| store::find_message(conn, &code)).await?;
    let visible = view.filter(|v| {
        caller.has(Scope::CallCenter)
            || caller.has(Scope::Admin)
            || (caller.agency_id.is_some() && v.assigned_agency.as_ref().map(|a| &a.id) == caller.agency_id.as_ref())
    });
    // Another agency's message answers exactly like a missing one.
    visible
        .map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| ApiError::NotFound("no message has this tracking code".into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseRequest {
    outcome: Option<String>,
    body: Option<String>,
}

const OUTCOMES: [&str; 3] = ["resolved", "partially_resolved", "rejected"];

async fn post_response(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ResponseRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Agency])?;
    let Some(agency_id) = caller.agency_id.clone() else {
        return Err(ApiError::Forbidden("this key is not bound to an agency".into()));
    };
    let code = parse_code(&path)?;
    let mut issues = Vec::new();
    let outcome = request.outcome.as_deref().map(str::trim).unwrap_or_default().to_string();
    if !OUTCOMES.contains(&outcome.as_str()) {
        issues.push(FieldIssue::new("outcome", format!("is required; one of: {}", OUTCOMES.join(", "))));
    }
    let body = nazer_shared::iran::normalize_persian(request.body.as_deref().map(str::trim).unwrap_or_default());
    if body.is_empty() || body.chars().count() > submission::MAX_BODY_CHARS {
        issues.push(FieldIssue::new("body", format!("is required, up to {} characters", submission::MAX_BODY_CHARS)));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let answered = state.ctx.db.write(move |conn| store::respond(conn, &code, &agency_id, &outcome, &body, now)).await;
    match answered {
        Ok(view) => {
            state.ctx.committed();
            Ok(HttpResponse::Created().json(view))
        }
        Err(RespondError::NotFound) => Err(ApiError::NotFound("no message has this tracking code".into())),
        Err(error @ RespondError::NotAnswerable(_)) => Err(ApiError::Conflict(error.to_string())),
        Err(RespondError::Db(error)) => Err(error.into()),
    }
}

async fn post_acknowledgement(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Agency])?;
    let Some(agency_id) = caller.agency_id.clone() else {
        return Err(ApiError::Forbidden("this key is not bound to an agency".into()));
    };
    let code = parse_code(&path)?;
    let now = state.ctx.clock.now();
    let acknowledged =
        state.ctx.db.write(move |conn| crate::acknowledgement::acknowledge(conn, &code, &agency_id, now)).await;
    match acknowledged {
        Ok(at) => {
            state.ctx.committed();
            Ok(HttpResponse::Ok().json(json!({ "acknowledged_at": at })))
        }
        Err(RespondError::NotFound) => Err(ApiError::NotFound("no message has this tracking code".into())),
        Err(error @ RespondError::NotAnswerable(_)) => Err(ApiError::Conflict(error.to_string())),
        Err(RespondError::Db(error)) => Err(error.into()),
    }
}

async fn get_categories(state: web::Data<IntakeState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::CallCenter, Scope::Admin, Scope::Agency])?;
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
        issues.push(FieldIssue::new("scopes", "list one or more of: call_center, agency, admin"));
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
