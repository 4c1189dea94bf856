//! The idempotent inbox: a consumer records each event id in the same transaction as the
//! state change it causes, so a redelivered event is recognised and only acknowledged.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::bus::{DeliveryError, DeliverySink};
use crate::clock::SharedClock;
use crate::db::{Db, DbConnection, DbError, to_db_time};
use crate::events::{Envelope, EventError};
use crate::metrics;
use crate::schema::{inbox, parked_events};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// The event can never be applied (bad payload, broken invariant): it is parked.
    #[error("event cannot be applied: {0}")]
    Invalid(String),
}

crate::from_diesel_error!(HandlerError);

impl From<EventError> for HandlerError {
    fn from(error: EventError) -> Self {
        HandlerError::Invalid(error.to_string())
    }
}

mod handlers;

pub use handlers::{Handle, Handlers};

/// A service's reaction to the events it consumes; runs inside the inbox transaction. Built by
/// [`Handlers`], which declares the event types the consumer is bound to.
pub trait EventHandler: Send + Sync + 'static {
    /// The routing keys the consumer's queue is bound to: the handled types, each for the
    /// subjects its handler follows.
    fn bindings(&self) -> Vec<String>;

    fn handle(&self, conn: &mut DbConnection, envelope: &Envelope, now: DateTime<Utc>) -> Result<(), HandlerError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxOutcome {
    Applied,
    Duplicate,
}

/// Applies `envelope` once: returns `Duplicate` without touching anything if already seen.
pub fn apply_once(
    conn: &mut DbConnection,
    consumer: &str,
    envelope: &Envelope,
    now: DateTime<Utc>,
    handler: &dyn EventHandler,
) -> Result<InboxOutcome, HandlerError> {
    let event_id = envelope.event_id.to_string();
    let seen: i64 = inbox::table
        .filter(inbox::consumer.eq(consumer))
        .filter(inbox::event_id.eq(&event_id))
        .count()
        .get_result(conn)?;
    if seen > 0 {
        return Ok(InboxOutcome::Duplicate);
    }
    // Two replicas racing on one redelivered event: the loser's insert fails on the key and
    // its whole transaction rolls back.
    diesel::insert_into(inbox::table)
        .values((
            inbox::consumer.eq(consumer),
            inbox::event_id.eq(&event_id),
            inbox::event_type.eq(&envelope.event_type),
            inbox::processed_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    handler.handle(conn, envelope, now)?;
    Ok(InboxOutcome::Applied)
}

/// Connects a bus consumer to a handler through the inbox.
pub struct InboxSink {
    pub consumer: &'static str,
    pub db: Db,
    pub handler: Arc<dyn EventHandler>,
    pub clock: SharedClock,
    /// Woken after each commit: the service's outbox relay and anything else waiting on it.
    pub after_commit: Vec<Arc<Notify>>,
}

#[async_trait]
impl DeliverySink for InboxSink {
    async fn deliver(&self, envelope: &Envelope, attempt: u32) -> Result<(), DeliveryError> {
        let span = tracing::info_span!(
            parent: None,
            "consume",
            otel.name = format!("consume {}", envelope.event_type),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            consumer = self.consumer,
            event_id = %envelope.event_id,
            event_type = %envelope.event_type,
            aggregate_id = %envelope.aggregate_id,
            attempt
        );
        // A child of the publisher's span: one message, one trace across the services.
        telemetry::context::adopt_traceparent(&span, envelope.trace_parent.as_deref());
        let (consumer, handler, now) = (self.consumer, self.handler.clone(), self.clock.now());
        let owned = envelope.clone();
        let outcome = self
            .db
            .write(move |conn| apply_once(conn, consumer, &owned, now, handler.as_ref()))
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match outcome {
            Ok(InboxOutcome::Applied) => {
                metrics::events_consumed(self.consumer, &envelope.event_type, "applied");
                for wake in &self.after_commit {
                    wake.notify_one();
                }
                Ok(())
            }
            Ok(InboxOutcome::Duplicate) => {
                metrics::events_consumed(self.consumer, &envelope.event_type, "duplicate");
                tracing::debug!("duplicate delivery acknowledged");
                Ok(())
            }
            Err(HandlerError::Invalid(reason)) => {
                span.record("otel.status_code", "ERROR");
                Err(DeliveryError::Permanent(reason))
            }
            Err(HandlerError::Db(error)) => {
                span.record("otel.status_code", "ERROR");
                metrics::events_consumed(self.consumer, &envelope.event_type, "retried");
                if error.is_unavailable() {
                    Err(DeliveryError::Unavailable(error.to_string()))
                } else {
                    Err(DeliveryError::Transient(error.to_string()))
                }
            }
        }
    }

    async fn park(&self, envelope: &Envelope, error: &str) -> bool {
        metrics::events_consumed(self.consumer, &envelope.event_type, "parked");
        tracing::error!(consumer = self.consumer, event_id = %envelope.event_id, %error, "event parked");
        let consumer = self.consumer;
        let now = to_db_time(self.clock.now());
        let (envelope, error) = (envelope.clone(), error.to_string());
        let stored = self
            .db
            .run(move |conn| {
                diesel::insert_into(parked_events::table)
                    .values((
                        parked_events::consumer.eq(consumer),
                        parked_events::event_id.eq(envelope.event_id.to_string()),
                        parked_events::event_type.eq(&envelope.event_type),
                        parked_events::envelope.eq(serde_json::to_string(&envelope).unwrap_or_default()),
                        parked_events::error.eq(error),
                        parked_events::parked_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        match stored {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(consumer, %error, "parked event could not be stored; it stays unacknowledged");
                false
            }
        }
    }
}
