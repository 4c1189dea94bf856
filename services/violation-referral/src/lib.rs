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
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CaseQuery {
    /// Only this agency's cases (its id); ignored for agencies, who see only their own.
    #[param(required = false, value_type = String)]
    agency_id: Option<String>,
    /// How many cases at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// Violation cases, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ViolationCaseList {
    violation_cases: Vec<store::CaseView>,
}

/// Who follows violation reports across agencies: supervisors of the Inspection Organization,
/// special follow-up, admins. The call centre takes reports but does not follow cases.
const OVERSEERS: [Scope; 3] = [Scope::Supervisor, Scope::SpecialFollowUp, Scope::Admin];

/// The agency a caller is confined to, or `None` for those who see every agency's cases.
fn confined_to(caller: &Caller) -> Result<Option<String>, ApiError> {
    if OVERSEERS.iter().any(|s| caller.has(*s)) { Ok(None) } else { caller.own_agency().map(Some) }
}

/// Lists violation cases, newest first. Supervisors, special follow-up and admins (every agency), agencies (their own).
#[utoipa::path(get, path = "/api/v1/violation-cases", tag = "violation-referral",
    params(CaseQuery),
    responses((status = 200, description = "The cases, newest first", body = ViolationCaseList)))]
pub(crate) async fn get_cases(
    state: web::Data<State>,
    caller: Caller,
    QueryParams(query): QueryParams<CaseQuery>,
) -> Result<HttpResponse, ApiError> {
    let confined = confined_to(&caller)?;
    let limit = page_limit(query.limit)?;
    let agency = confined.or(query.agency_id);
    let cases = state.ctx.db.run(move |conn| store::list_cases(conn, agency.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(ViolationCaseList { violation_cases: cases }))
}

/// Reads one violation case. Supervisors, special follow-up and admins, and the agency the case belongs to.
#[utoipa::path(get, path = "/api/v1/violation-cases/{id}", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    responses((status = 200, description = "The case", body = store::CaseView)))]
pub(crate) async fn get_case(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let confined = confined_to(&caller)?;
    let id = path.into_inner();
    let case = state.ctx.db.run(move |conn| store::find_case(conn, &id)).await?;
    case.filter(|c| confined.as_ref().is_none_or(|a| a == &c.agency_id))
        .map(|c| HttpResponse::Ok().json(c))
        .ok_or_else(|| ApiError::NotFound("no violation case has this id".into()))
}
