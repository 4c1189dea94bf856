//! Notification: tells the agency concerned what happened — a message assigned to it, a
//! reminder that a deadline nears, a deadline moved by a calendar change, paused or resumed, a warning registered
//! against it (and, once escalated, its parent agency or Special Follow-up) — by HMAC-signed
//! webhooks, retried with backoff, every attempt recorded. SMS and e-mail to people come later through the same deliveries.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::events::{
    CommitteeDecisionRecorded, DeadlineMoved, DeadlinePaused, DeadlineReminderSent, DeadlineResumed, Envelope, Event,
    MessageAssigned, MessageReopened, ViolationClassified, ViolationCulpabilityClosed, ViolationCulpabilityOpened,
    ViolationCulpabilityReferred, ViolationRemedialStep, ViolationVerdict, WarningIssued,
};
use nazer_shared::inbox::{EventHandler, HandlerError, Handlers};
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::sealing::SealingKeys;
use nazer_shared::topology::{NOTIFICATION, unit_recipient};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) mod api;
pub mod egress;
pub(crate) mod openapi;
pub(crate) mod schema;
pub mod sender;
pub mod signature;
pub mod store;

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: NOTIFICATION,
    factory: |ctx| Ok(Arc::new(Notification::new(ctx)?)),
    consumes: || handlers().bindings(),
};

pub struct Notification {
    state: web::Data<api::NotificationState>,
    /// Wakes the sender when a consumed event queued deliveries.
    wake: Arc<Notify>,
    client: sender::WebhookClient,
}

impl Notification {
    /// Refused when `webhooks.allowed_networks` does not parse, or without the sealing keys
    /// (`privacy.reporter_keys`, required with PostgreSQL).
    pub fn new(ctx: ServiceContext) -> Result<Self, String> {
        let policy = egress::EgressPolicy::from_settings(&ctx.settings.webhooks)?;
        let keys = SealingKeys::from_settings(&ctx.settings).map_err(|e| e.to_string())?;
        let client = sender::WebhookClient::from_settings(&ctx.settings.webhooks, keys.clone())?;
        Ok(Self {
            state: web::Data::new(api::NotificationState { ctx, policy, keys }),
            wake: Arc::new(Notify::new()),
            client,
        })
    }
}

/// What notification does with the events it consumes: each is queued for the webhooks of the
/// agencies it addresses.
pub fn handlers() -> Handlers<()> {
    // Clocks of any subject: a remedial stage's warnings are its agency's; a culpability
    // stage's name a counterpart unit (`unit:<id>`), which no agency's webhook is.
    Handlers::new()
        .on::<MessageAssigned>(dispatch)
        .on::<MessageReopened>(dispatch)
        .on_any::<DeadlineReminderSent>(dispatch)
        .on_any::<DeadlineMoved>(dispatch)
        .on_any::<DeadlinePaused>(dispatch)
        .on_any::<DeadlineResumed>(dispatch)
        .on_any::<WarningIssued>(dispatch)
        // A violation case's remedial track is the agency's to act on; its culpability track
        // never reaches agencies.
        .on::<ViolationClassified>(dispatch)
        .on::<ViolationRemedialStep>(dispatch)
        .on::<ViolationVerdict>(dispatch)
        // The culpability track's events are the counterpart unit's (`unit:<id>`), never an
        // agency's.
        .on::<ViolationCulpabilityOpened>(dispatch_to_unit)
        .on::<ViolationCulpabilityReferred>(dispatch_to_unit)
        .on::<CommitteeDecisionRecorded>(dispatch_to_unit)
        .on::<ViolationCulpabilityClosed>(dispatch_to_unit)
}

/// The event types agencies can subscribe to: those this service consumes.
pub fn heard() -> Vec<&'static str> {
    handlers().event_types()
}

/// Whom an event addresses. Every event this service consumes names its agency; an escalated
/// warning also whoever must now act: the parent agency at level 2, Special Follow-up at 3.
#[derive(serde::Deserialize)]
struct Addressed {
    agency_id: String,
    #[serde(default)]
    escalated_to: Option<String>,
}

/// Queues the whole event for every agency it addresses (the decoded event only proves it is
/// well formed).
fn dispatch<E: Event>(
    _: &(),
    conn: &mut DbConnection,
    _: E,
    envelope: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let addressed: Addressed = serde_json::from_value(envelope.payload.clone())
        .map_err(|e| HandlerError::Invalid(format!("{} names no agency: {e}", envelope.event_type)))?;
    let mut recipients: Vec<String> =
        [Some(addressed.agency_id), addressed.escalated_to].into_iter().flatten().collect();
    recipients.dedup();
    for agency_id in recipients {
        store::enqueue_deliveries(conn, envelope, &agency_id, now)?;
    }
    Ok(())
}

/// Queues an event of a case's culpability track for the webhooks of the counterpart unit it
/// names.
fn dispatch_to_unit<E: Event>(
    _: &(),
    conn: &mut DbConnection,
    _: E,
    envelope: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    #[derive(serde::Deserialize)]
    struct Unit {
        unit_id: String,
    }
    let unit: Unit = serde_json::from_value(envelope.payload.clone())
        .map_err(|e| HandlerError::Invalid(format!("{} names no unit: {e}", envelope.event_type)))?;
    store::enqueue_deliveries(conn, envelope, &unit_recipient(&unit.unit_id), now)?;
    Ok(())
}

impl Service for Notification {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        Some(handlers().with_state(()))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        api::routes(cfg, self.state.clone());
    }

    fn workers(&self, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        vec![tokio::spawn(sender::run(self.state.ctx.clone(), self.client.clone(), self.wake.clone(), shutdown))]
    }

    fn after_commit(&self) -> Vec<Arc<Notify>> {
        vec![self.wake.clone()]
    }
}

/// Points every demo agency's webhook at `receiver_base/{agency_id}`, signed with `secret`: the
/// subscription `demo-{agency_id}`, created or updated in place at every seeding, so a demo
/// restarted on another address (or port) stops sending to whoever holds the old one. Active
/// subscriptions of an earlier seeding under other ids, to the same receiver path on another
/// address, are removed.
pub fn seed_demo(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    agencies: &[&str],
    receiver_base: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let existing = store::list_subscriptions(conn, None)?;
    let path_of = |url: &str| url::Url::parse(url).ok().map(|u| u.path().to_string());
    for agency in agencies {
        let id = format!("demo-{agency}");
        let url = format!("{receiver_base}/{agency}");
        store::put_subscription(conn, keys, &id, agency, &url, secret, now)?;
        let path = path_of(&url);
        for earlier in existing.iter().filter(|s| s.agency_id == *agency && s.active && s.id != id) {
            if path.is_some() && path_of(&earlier.url) == path {
                store::deactivate_subscription(conn, &earlier.id, now)?;
            }
        }
    }
    Ok(())
}
