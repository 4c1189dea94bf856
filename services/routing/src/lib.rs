//! Routing: sends each received message to the agency responsible (`message.assigned`), by
//! rules of category × area (× city), or to the 1888 triage queue (`message.needs_triage`). It
//! knows the areas intake imports (`areas.imported`) and the areas each agency serves.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::events::{AreasImported, Envelope, MessageDeclined, MessageReceived};
use nazer_shared::inbox::{EventHandler, HandlerError, Handlers};
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::topology::ROUTING;

pub(crate) mod api;
pub(crate) mod openapi;
pub(crate) mod rules;
pub mod schema;
pub mod store;

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: ROUTING,
    factory: |ctx| Ok(Arc::new(Routing::new(ctx))),
    consumes: || handlers().event_types(),
};

pub struct Routing {
    state: web::Data<api::RoutingState>,
}

impl Routing {
    pub fn new(ctx: ServiceContext) -> Self {
        Self { state: web::Data::new(api::RoutingState { ctx }) }
    }
}

/// What routing does with the events it consumes.
pub fn handlers() -> Handlers<()> {
    Handlers::new().on::<MessageReceived>(route).on::<MessageDeclined>(reroute).on::<AreasImported>(record_areas)
}

fn route(
    _: &(),
    conn: &mut DbConnection,
    message: MessageReceived,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    Ok(store::route(conn, &message, now)?)
}

fn reroute(
    _: &(),
    conn: &mut DbConnection,
    declined: MessageDeclined,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    Ok(store::reroute_declined(conn, &declined, now)?)
}

fn record_areas(
    _: &(),
    conn: &mut DbConnection,
    imported: AreasImported,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    Ok(store::record_areas(conn, &imported.areas, now)?)
}

impl Service for Routing {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        Some(handlers().with_state(()))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        api::routes(cfg, self.state.clone());
    }
}

/// The demo agencies (a small tree) and their rules, for `nazer seed --demo`.
pub const DEMO_AGENCIES: [(&str, &str, Option<&str>); 6] = [
    ("tehran-governorate", "استانداری تهران", None),
    ("tehran-municipality", "شهرداری تهران", Some("tehran-governorate")),
    ("isfahan-municipality", "شهرداری اصفهان", None),
    ("food-drug-administration", "سازمان غذا و دارو", None),
    ("tehran-water", "شرکت آب و فاضلاب استان تهران", Some("tehran-governorate")),
    ("tehran-roads", "اداره کل راهداری استان تهران", Some("tehran-governorate")),
];

const DEMO_RULES: [(&str, &str, &str); 6] = [
    ("municipal.building", "tehran", "tehran-municipality"),
    ("municipal.building", "isfahan", "isfahan-municipality"),
    ("municipal.services", "tehran", "tehran-municipality"),
    ("health.pharmacy", rules::ANY, "food-drug-administration"),
    ("utilities.water", "tehran", "tehran-water"),
    ("tenders.procurement", "tehran", "tehran-governorate"),
];

pub fn seed_demo(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), DbError> {
    for (id, name, parent) in DEMO_AGENCIES {
        match store::create_agency(conn, id, name, parent, &[], now) {
            Ok(_) | Err(store::AgencyError::Exists(_)) => {}
            Err(store::AgencyError::Db(error)) => return Err(error),
            Err(other) => return Err(DbError::Refused(other.to_string())),
        }
    }
    for (category, area, agency) in DEMO_RULES {
        let rule = store::NewRule { category, area, province: None, city: rules::ANY, agency_id: agency };
        match store::create_rule(conn, &rule, now) {
            Ok(_) | Err(store::RuleError::Exists(_)) => {}
            Err(store::RuleError::Db(error)) => return Err(error),
            Err(other) => return Err(DbError::Refused(other.to_string())),
        }
    }
    Ok(())
}
