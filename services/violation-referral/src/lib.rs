//! Violation-referral: opens a case for every violation report once it is assigned. Later
//! work follows the two tracks of the case (remedial "effectiveness" and culpability before
//! the compliance committee) and the instructions of direct-contact meetings.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_shared::db::DbConnection;
use nazer_shared::events::{Envelope, MessageAssigned};
use nazer_shared::http::{ApiError, Caller, QueryParams, Scope, page_limit};
use nazer_shared::inbox::{EventHandler, HandlerError};
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::topology::VIOLATION_REFERRAL;
use serde::Deserialize;
use serde_json::json;

pub mod openapi;
pub mod schema;
pub mod store;

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: VIOLATION_REFERRAL,
    factory: |ctx| Ok(Arc::new(ViolationReferral { state: web::Data::new(State { ctx }) })),
};

pub struct State {
    ctx: ServiceContext,
}

pub struct ViolationReferral {
    state: web::Data<State>,
}

struct CaseOpener;

impl EventHandler for CaseOpener {
    fn handle(&self, conn: &mut DbConnection, envelope: &Envelope, now: DateTime<Utc>) -> Result<(), HandlerError> {
        if envelope.is::<MessageAssigned>() {
            let assigned: MessageAssigned = envelope.decode()?;
            store::open_case(conn, &assigned, now)?;
        }
        Ok(())
    }
}

impl Service for ViolationReferral {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        Some(Arc::new(CaseOpener))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.state.clone())
            .route("/api/v1/violation-cases", web::get().to(get_cases))
            .route("/api/v1/violation-cases/{id}", web::get().to(get_case));
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseQuery {
    agency_id: Option<String>,
    limit: Option<i64>,
}

/// The agency a caller is confined to, or `None` for supervisors who see every agency.
fn confined_to(caller: &Caller) -> Result<Option<String>, ApiError> {
    if caller.has(Scope::Admin) { Ok(None) } else { caller.own_agency().map(Some) }
}

async fn get_cases(
    state: web::Data<State>,
    caller: Caller,
    QueryParams(query): QueryParams<CaseQuery>,
) -> Result<HttpResponse, ApiError> {
    let confined = confined_to(&caller)?;
    let limit = page_limit(query.limit)?;
    let agency = confined.or(query.agency_id);
    let cases = state.ctx.db.run(move |conn| store::list_cases(conn, agency.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(json!({ "violation_cases": cases })))
}

async fn get_case(state: web::Data<State>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let confined = confined_to(&caller)?;
    let id = path.into_inner();
    let case = state.ctx.db.run(move |conn| store::find_case(conn, &id)).await?;
    case.filter(|c| confined.as_ref().is_none_or(|a| a == &c.agency_id))
        .map(|c| HttpResponse::Ok().json(c))
        .ok_or_else(|| ApiError::NotFound("no violation case has this id".into()))
}
