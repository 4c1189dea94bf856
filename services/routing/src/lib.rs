//! Routing: sends each received message to the agency responsible (`message.assigned`), by
//! rules of category × area (× city), or to the 1888 triage queue (`message.needs_triage`). It
//! knows the areas intake imports (`areas.imported`) and the areas each agency serves.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use nazer_shared::db::DbConnection;
use nazer_shared::events::{AreasImported, Envelope, MessageDeclined, MessageReceived};
use nazer_shared::inbox::{EventHandler, HandlerError, Handlers};
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::topology::ROUTING;

pub mod agency;
pub(crate) mod api;
pub(crate) mod openapi;
pub(crate) mod rules;
pub mod schema;
pub mod store;

/// A rule's area or city that stands for every one.
pub use rules::ANY;

pub const SERVICE: ServiceEntry =
    ServiceEntry { name: ROUTING, factory: |ctx| Ok(Arc::new(Routing::new(ctx))), consumes: || handlers().bindings() };

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
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    Ok(store::record_areas(conn, &imported.areas, imported.imported_at)?)
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
