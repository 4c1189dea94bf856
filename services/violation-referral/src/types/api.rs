//! The violation types' REST API: listed and read by any caller with a key or token, created or
//! replaced by admins.

use actix_web::{HttpResponse, web};
use nazer_shared::http::{ApiError, Caller, JsonBody, Scope};
use serde::Serialize;

use super::{ViolationType, ViolationTypeDocument, store};
use crate::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/violation-types", web::get().to(get_types))
        .route("/api/v1/violation-types/{code}", web::get().to(get_type))
        .route("/api/v1/violation-types/{code}", web::put().to(put_type))
        .route("/api/v1/administrative-violations", web::get().to(get_administrative_violations));
}

/// The Law on Investigating Administrative Violations as the cases cite it: the 38 items of
/// Article 8 (the violations) by number and the penalties of Article 9 by clause letter — the
/// letters a culpability outcome's `penalty` names. Each with a short summary where well known,
/// never the article's text; null where only the reference is shipped.
///
/// Any caller with a key or token.
#[utoipa::path(get, path = "/api/v1/administrative-violations", tag = "violation-referral",
    responses((status = 200, description = "Articles 8 and 9", body = super::law::AdministrativeViolationsLaw)))]
pub(crate) async fn get_administrative_violations(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    Ok(HttpResponse::Ok().json(super::law::administrative_violations_law()))
}

/// The violation types, by code.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ViolationTypeList {
    pub violation_types: Vec<ViolationTypeDocument>,
}

/// The catalogue of violation types: their legal bases, remedial actions, counterpart unit and
/// stage budgets.
///
/// Any caller with a key or token.
#[utoipa::path(get, path = "/api/v1/violation-types", tag = "violation-referral",
    responses((status = 200, description = "The violation types, by code", body = ViolationTypeList)))]
pub(crate) async fn get_types(state: web::Data<State>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let types = state.ctx.db.run(store::list_types).await?;
    let violation_types = types.iter().map(|t| t.document().clone()).collect();
    Ok(HttpResponse::Ok().json(ViolationTypeList { violation_types }))
}

/// One violation type.
///
/// Any caller with a key or token.
#[utoipa::path(get, path = "/api/v1/violation-types/{code}", tag = "violation-referral",
    params(("code" = String, Path, description = "The type's code, e.g. `building.unauthorized`", pattern = "^[a-z0-9._-]{1,64}$")),
    responses((status = 200, description = "The violation type", body = ViolationTypeDocument)))]
pub(crate) async fn get_type(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let code = path.into_inner();
    let found = state.ctx.db.run(move |conn| store::find_type(conn, &code)).await?;
    found.map(|t| HttpResponse::Ok().json(t.document())).ok_or_else(|| {
        ApiError::NotFound("no violation type has this code; GET /api/v1/violation-types lists them".into())
    })
}

/// Creates or replaces a violation type — as `nazer import` loads `violation-types.json`.
///
/// Admins only. Cases already classified keep the budgets their clocks started with.
#[utoipa::path(put, path = "/api/v1/violation-types/{code}", tag = "violation-referral",
    params(("code" = String, Path, description = "The type's code: 1–64 lowercase letters, digits, '.', '_' or '-'", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = ViolationTypeDocument, content_type = "application/json"),
    responses(
        (status = 200, description = "The violation type, replaced", body = ViolationTypeDocument),
        (status = 201, description = "The violation type, created", body = ViolationTypeDocument)))]
pub(crate) async fn put_type(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(document): JsonBody<ViolationTypeDocument>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    if document.code.trim() != *path {
        return Err(ApiError::invalid_field("code", format!("the body's code must be the path's code `{path}`")));
    }
    let violation_type = ViolationType::from_document(document).map_err(ApiError::invalid)?;
    let now = state.ctx.clock.now();
    let stored = violation_type.clone();
    let created = state.ctx.db.write(move |conn| store::put_type(conn, &stored, now)).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(violation_type.document()))
}
