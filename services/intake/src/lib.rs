//! Intake: takes citizens' messages from the 1888 call centre and other channels, gives each a
//! tracking code, announces it (`message.received`), records agencies' answers, and keeps a
//! read model of each message's assignment, deadlines and warnings.

use std::sync::Arc;

use actix_web::web;
use nazer_shared::inbox::EventHandler;
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::topology::INTAKE;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) mod admin_api;
pub(crate) mod api;
pub mod areas;
pub(crate) mod lifecycle;
pub(crate) mod open311;
pub(crate) mod openapi;
pub mod projection;
pub(crate) mod quality;
pub(crate) mod rate_limit;
pub mod schema;
pub mod sealing;
pub mod search;
pub mod store;
pub mod submission;
pub mod timeline;
pub(crate) mod tracking;
pub(crate) mod tracking_api;
pub use nazer_shared::tracking_code;
pub mod view;
pub mod violation_holds;

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: INTAKE,
    factory: |ctx| Intake::new(ctx).map(|s| Arc::new(s) as Arc<dyn Service>),
    consumes: || projection::handlers().bindings(),
};

pub struct Intake {
    state: web::Data<api::IntakeState>,
}

impl Intake {
    /// Refuses to start without the keys that seal reporters' identities and the key of their
    /// blind index.
    pub fn new(ctx: ServiceContext) -> Result<Self, String> {
        let keys = sealing::ReporterKeys::from_settings(&ctx.settings).map_err(|e| e.to_string())?;
        let search_key = search::SearchKey::from_settings(&ctx.settings).map_err(|e| e.to_string())?;
        let areas = Default::default();
        Ok(Self { state: web::Data::new(api::IntakeState { ctx, keys, search_key, areas }) })
    }
}

impl Service for Intake {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        Some(projection::handlers().with_state(projection::Projection))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        api::routes(cfg, self.state.clone());
        cfg.configure(open311::routes);
    }

    fn workers(&self, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        vec![tokio::spawn(forget_ended_windows(self.state.ctx.clone(), shutdown))]
    }
}

/// Drops rate-limit counters whose windows ended long ago (any replica may; it is idempotent).
async fn forget_ended_windows(ctx: ServiceContext, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
        let before = rate_limit::forgettable_before(ctx.clock.now());
        if let Err(error) = ctx.db.write(move |conn| rate_limit::forget_before(conn, before)).await {
            tracing::warn!(%error, "old rate-limit counters could not be dropped; retrying later");
        }
    }
}
