//! SLA policies' REST API: admins write them; everyone who handles messages may read them.

use actix_web::{HttpResponse, web};
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{ApiError, Caller, JsonBody, Scope};
use serde::Serialize;

use crate::deadlines::api::DeadlineState;
use crate::policy::store as policy_store;
use crate::policy::{PolicyDocument, SlaPolicy};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/sla-policies", web::get().to(get_policies))
        .route("/api/v1/sla-policies/{id}", web::put().to(put_policy))
        .route("/api/v1/sla-policies/{id}", web::get().to(get_policy))
        .route("/api/v1/sla-policies/{id}", web::delete().to(delete_policy));
}

/// The SLA policies listed, and the budget of messages no policy applies to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyList<'a> {
    /// By id.
    pub sla_policies: Vec<&'a PolicyDocument>,
    /// The `respond` budget (an ISO 8601 duration) of a message no policy applies to.
    pub default_budget: &'a str,
}

/// The SLA policies, and the budget of messages no policy applies to.
///
/// Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "deadline-timer",
    responses((status = 200, description = "The policies", body = PolicyList)))]
async fn get_policies(state: web::Data<DeadlineState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let policies = state.ctx.db.run(policy_store::list_policies).await?;
    let sla_policies: Vec<&PolicyDocument> = policies.iter().map(SlaPolicy::document).collect();
    Ok(HttpResponse::Ok()
        .json(PolicyList { sla_policies, default_budget: &state.ctx.settings.deadlines.default_budget }))
}

/// Creates or replaces an SLA policy: which stages of a category × priority × channel go on the
/// clock, with budgets, reminders and the escalation ladder. Running clocks keep the policy they
/// started with.
///
/// Admins only.
#[utoipa::path(put, path = "/api/v1/sla-policies/{id}", tag = "deadline-timer",
    params(("id" = String, Path, description = "The policy's id (1–64 lowercase letters, digits, '.', '_' or '-')", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = PolicyDocument, content_type = "application/json"),
    responses(
        (status = 200, description = "The policy was replaced (absent reminders shown as the defaults)", body = PolicyDocument),
        (status = 201, description = "The policy was created (absent reminders shown as the defaults)", body = PolicyDocument),
        (status = 409, description = "Another policy has the same category, priority and channel",
            content_type = "application/problem+json", body = ProblemSchema)))]
async fn put_policy(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(document): JsonBody<PolicyDocument>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    if document.id != *path {
        return Err(ApiError::invalid_field("id", format!("the body's id must be the path's id `{path}`")));
    }
    let policy = SlaPolicy::from_document(document).map_err(ApiError::invalid)?;
    let now = state.ctx.clock.now();
    let stored = policy.clone();
    let created = state.ctx.db.write(move |conn| policy_store::put_policy(conn, &stored, now)).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(policy.document()))
}

/// An SLA policy.
///
/// Admins, the call centre and agencies.
#[utoipa::path(get, path = "/api/v1/sla-policies/{id}", tag = "deadline-timer",
    params(("id" = String, Path, description = "The policy's id", pattern = "^[a-z0-9._-]{1,64}$")),
    responses((status = 200, description = "The policy", body = PolicyDocument)))]
async fn get_policy(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin, Scope::CallCenter, Scope::Agency])?;
    let id = path.into_inner();
    let policy = state.ctx.db.run(move |conn| policy_store::find_policy(conn, &id)).await?;
    match policy {
        Some(policy) => Ok(HttpResponse::Ok().json(policy.document())),
        None => Err(ApiError::NotFound("no SLA policy has this id".into())),
    }
}

/// Deletes an SLA policy; running clocks keep it.
///
/// Admins only.
#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "deadline-timer",
    params(("id" = String, Path, description = "The policy's id", pattern = "^[a-z0-9._-]{1,64}$")),
    responses((status = 204, description = "The policy was deleted")))]
async fn delete_policy(
    state: web::Data<DeadlineState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let deleted = state.ctx.db.write(move |conn| policy_store::delete_policy(conn, &id)).await?;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no SLA policy has this id".into()))
    }
}
