//! The counterpart units' REST API: listed by any caller with a key or token, created or
//! replaced by admins.

use actix_web::{HttpResponse, web};
use nazer_shared::http::{ApiError, Caller, JsonBody, Scope};
use serde::Serialize;

use super::{CounterpartUnit, list_units, put_unit};
use crate::State;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/counterpart-units", web::get().to(get_units))
        .route("/api/v1/counterpart-units/{id}", web::put().to(put_unit_at));
}

/// The counterpart units, by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CounterpartUnitList {
    pub counterpart_units: Vec<CounterpartUnit>,
}

/// The counterpart units (معاونت‌های نظیر) that examine culpability.
///
/// Any caller with a key or token.
#[utoipa::path(get, path = "/api/v1/counterpart-units", tag = "violation-referral",
    responses((status = 200, description = "The counterpart units, by id", body = CounterpartUnitList)))]
pub(crate) async fn get_units(state: web::Data<State>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let counterpart_units = state.ctx.db.run(list_units).await?;
    Ok(HttpResponse::Ok().json(CounterpartUnitList { counterpart_units }))
}

/// Creates or replaces a counterpart unit — as `nazer import` loads `counterpart-units.json`.
///
/// Admins only.
#[utoipa::path(put, path = "/api/v1/counterpart-units/{id}", tag = "violation-referral",
    params(("id" = String, Path, description = "The unit's id: 1–64 lowercase letters, digits, '.', '_' or '-'", pattern = "^[a-z0-9._-]{1,64}$")),
    request_body(content = CounterpartUnit, content_type = "application/json"),
    responses(
        (status = 200, description = "The unit, replaced", body = CounterpartUnit),
        (status = 201, description = "The unit, created", body = CounterpartUnit)))]
pub(crate) async fn put_unit_at(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(unit): JsonBody<CounterpartUnit>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    if unit.id.trim() != *path {
        return Err(ApiError::invalid_field("id", format!("the body's id must be the path's id `{path}`")));
    }
    let unit = unit.checked().map_err(ApiError::invalid)?;
    let now = state.ctx.clock.now();
    let stored = unit.clone();
    let created = state.ctx.db.write(move |conn| put_unit(conn, &stored, now)).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(unit))
}
