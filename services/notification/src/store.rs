//! Subscriptions and deliveries. A consumed event becomes one delivery per matching
//! subscription (in the inbox transaction); the sender claims due deliveries, records every
//! attempt, and publishes the final outcome.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time, write_transaction};
use nazer_shared::events::{Envelope, NotificationDelivered, NotificationFailed, NotificationOutcome};
use nazer_shared::http::paging::{self, Cursor};
use nazer_shared::outbox;
use nazer_shared::sealing::{Resealed, SealError, SealingKeys, substr};
use nazer_shared::topology::NOTIFICATION;
use nazer_shared::{select_for_update, select_skip_locked};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{deliveries, delivery_attempts, webhook_subscriptions};

nazer_shared::closed_set! {
    /// A delivery's state.
    pub enum DeliveryState {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
        /// The subscription was removed before the delivery succeeded.
        Cancelled = "cancelled",
    }
}

/// Subscribes to every event type the agency hears about.
pub const ALL_EVENTS: &str = "*";

/// Where an agency receives the events that concern it (its secret is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookSubscription)]
pub struct Subscription {
    pub id: String,
    pub agency_id: String,
    pub url: String,
    /// `*` (all) or the event types delivered.
    pub event_types: Vec<String>,
    /// False once removed.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// The field a subscription's signing secret is sealed for (with the subscription's id).
pub const SECRET_FIELD: &str = "webhook_secret";

/// `secret` sealed for the subscription `id`.
fn seal_secret(keys: &SealingKeys, id: &str, secret: &str) -> Result<String, DbError> {
    keys.seal(id, SECRET_FIELD, secret).map_err(|e| DbError::Encode(e.to_string()))
}

/// The signing secret of subscription `id` as stored: opened when sealed; a plaintext one
/// (stored before secrets were sealed, until the reseal) as it is.
pub fn open_secret(keys: &SealingKeys, id: &str, stored: &str) -> Result<String, SealError> {
    if SealingKeys::is_sealed(stored) { keys.open(id, SECRET_FIELD, stored) } else { Ok(stored.to_string()) }
}

/// Stores a subscription, its signing secret sealed under the active key.
pub fn create_subscription(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    agency_id: &str,
    url: &str,
    secret: &str,
    event_types: &[String],
    now: DateTime<Utc>,
) -> Result<Subscription, DbError> {
    let id = Uuid::now_v7().to_string();
    let at = to_db_time(now);
    let sealed = seal_secret(keys, &id, secret)?;
    diesel::insert_into(webhook_subscriptions::table)
        .values((
            webhook_subscriptions::id.eq(&id),
            webhook_subscriptions::agency_id.eq(agency_id),
            webhook_subscriptions::url.eq(url),
            webhook_subscriptions::secret.eq(&sealed),
            webhook_subscriptions::event_types.eq(event_types.join(" ")),
            webhook_subscriptions::active.eq(true),
            webhook_subscriptions::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(Subscription {
        id,
        agency_id: agency_id.into(),
        url: url.into(),
        event_types: event_types.to_vec(),
        active: true,
        created_at: from_db_time(at),
    })
}

/// Creates the subscription `id` to every event type, or, when it exists, points it at `url`
/// with `secret`, every event type, active again (the demo's own subscriptions, seeded at every
/// start).
pub fn put_subscription(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    id: &str,
    agency_id: &str,
    url: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let sealed = seal_secret(keys, id, secret)?;
    let updated = diesel::update(webhook_subscriptions::table.find(id))
        .set((
            webhook_subscriptions::agency_id.eq(agency_id),
            webhook_subscriptions::url.eq(url),
            webhook_subscriptions::secret.eq(&sealed),
            webhook_subscriptions::event_types.eq(ALL_EVENTS),
            webhook_subscriptions::active.eq(true),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(webhook_subscriptions::table)
            .values((
                webhook_subscriptions::id.eq(id),
                webhook_subscriptions::agency_id.eq(agency_id),
                webhook_subscriptions::url.eq(url),
                webhook_subscriptions::secret.eq(&sealed),
                webhook_subscriptions::event_types.eq(ALL_EVENTS),
                webhook_subscriptions::active.eq(true),
                webhook_subscriptions::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A subscription as stored, without its secret.
#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
struct SubscriptionRow {
    id: String,
    agency_id: String,
    url: String,
    /// Space-separated.
    event_types: String,
    active: bool,
    created_at: NaiveDateTime,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        Self {
            id: row.id,
            agency_id: row.agency_id,
            url: row.url,
            event_types: row.event_types.split_whitespace().map(str::to_string).collect(),
            active: row.active,
            created_at: from_db_time(row.created_at),
        }
    }
}

pub fn list_subscriptions(conn: &mut DbConnection, agency_id: Option<&str>) -> Result<Vec<Subscription>, DbError> {
    let mut query = webhook_subscriptions::table
        .select(SubscriptionRow::as_select())
        .order(webhook_subscriptions::created_at)
        .into_boxed();
    if let Some(agency) = agency_id {
        query = query.filter(webhook_subscriptions::agency_id.eq(agency.to_string()));
    }
    let rows: Vec<SubscriptionRow> = query.load(conn)?;
    Ok(rows.into_iter().map(Subscription::from).collect())
}

/// A subscription's stored secret.
#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
struct StoredSecret {
    id: String,
    secret: String,
}

/// Seals the signing secrets still in plaintext (stored before secrets were sealed) and
/// reseals those an older key sealed, so a retired key can be dropped; in one transaction (a
/// subscription per agency receiver: few rows), reading only the rows that need it. Idempotent.
pub fn reseal_secrets(conn: &mut DbConnection, keys: &SealingKeys) -> Result<Resealed, DbError> {
    let current = keys.current_prefix();
    let n = current.len() as i32;
    write_transaction(conn, |conn| {
        let rows: Vec<StoredSecret> = select_for_update!(
            conn,
            webhook_subscriptions::table
                .filter(substr(webhook_subscriptions::secret.nullable(), 1, n).ne(&current))
                .order(webhook_subscriptions::id)
                .select(StoredSecret::as_select())
        )?;
        let mut done = Resealed::default();
        for StoredSecret { id, secret } in rows {
            match keys.reseal(&id, SECRET_FIELD, &secret) {
                Ok(sealed) => {
                    diesel::update(webhook_subscriptions::table.find(&id))
                        .set(webhook_subscriptions::secret.eq(&sealed))
                        .execute(conn)?;
                    done.rewritten += 1;
                }
                Err(_) => done.unreadable.push(id),
            }
        }
        Ok(done)
    })
}

/// Stops a subscription and cancels what it still had to deliver.
pub fn deactivate_subscription(conn: &mut DbConnection, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let changed = diesel::update(webhook_subscriptions::table.find(id).filter(webhook_subscriptions::active.eq(true)))
        .set(webhook_subscriptions::active.eq(false))
        .execute(conn)?;
    let at = to_db_time(now);
    diesel::update(
        deliveries::table
            .filter(deliveries::subscription_id.eq(id))
            .filter(deliveries::state.eq(DeliveryState::Pending.as_str())),
    )
    .set((
        deliveries::state.eq(DeliveryState::Cancelled.as_str()),
        deliveries::finished_at.eq(Some(at)),
        deliveries::last_error.eq(Some("subscription removed")),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

fn wants(event_types: &str, event_type: &str) -> bool {
    event_types.split_whitespace().any(|t| t == ALL_EVENTS || t == event_type)
}

/// What a subscription wants delivered.
#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
struct Wanted {
    id: String,
    /// Space-separated.
    event_types: String,
}

/// Queues `envelope` for every active subscription of `agency_id` that wants its type.
pub fn enqueue_deliveries(
    conn: &mut DbConnection,
    envelope: &Envelope,
    agency_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let subscriptions: Vec<Wanted> = webhook_subscriptions::table
        .filter(webhook_subscriptions::agency_id.eq(agency_id))
        .filter(webhook_subscriptions::active.eq(true))
        .select(Wanted::as_select())
        .load(conn)?;
    let payload = serde_json::to_string(envelope).map_err(|e| DbError::Encode(e.to_string()))?;
    let at = to_db_time(now);
    // The webhook call, however much later, continues the trace of the event that caused it.
    let trace_context = nazer_shared::telemetry::context::current_traceparent();
    let mut queued = 0;
    for Wanted { id: subscription_id, .. } in
        subscriptions.iter().filter(|s| wants(&s.event_types, &envelope.event_type))
    {
        diesel::insert_into(deliveries::table)
            .values((
                deliveries::id.eq(Uuid::now_v7().to_string()),
                deliveries::subscription_id.eq(subscription_id),
                deliveries::event_id.eq(envelope.event_id.to_string()),
                deliveries::event_type.eq(&envelope.event_type),
                deliveries::payload.eq(&payload),
                deliveries::state.eq(DeliveryState::Pending.as_str()),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(at),
                deliveries::created_at.eq(at),
                deliveries::trace_context.eq(&trace_context),
            ))
            .execute(conn)?;
        queued += 1;
    }
    Ok(queued)
}

/// A delivery claimed for one attempt, with where and how to send it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct DueDelivery {
    pub id: String,
    pub subscription_id: String,
    #[diesel(select_expression = webhook_subscriptions::agency_id)]
    pub agency_id: String,
    #[diesel(select_expression = webhook_subscriptions::url)]
    pub url: String,
    /// Sealed (see [`open_secret`]).
    #[diesel(select_expression = webhook_subscriptions::secret)]
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i32,
    /// The `traceparent` of the work that queued it.
    pub trace_context: Option<String>,
    /// The lease this sender holds, if it leases; recording the attempt needs it to be still ours.
    pub lease_until: Option<NaiveDateTime>,
}

/// Claims up to `limit` due deliveries that no other sender holds, leasing them until
/// `lease_until` when given (see `nazer_shared::db::claim`). Call it in a write transaction.
pub fn claim_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<DueDelivery>, DbError> {
    let now = to_db_time(now);
    let ids: Vec<String> = select_skip_locked!(
        conn,
        deliveries::table
            .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
            .filter(deliveries::next_attempt_at.le(now))
            .filter(deliveries::lease_until.is_null().or(deliveries::lease_until.lt(now)))
            .order(deliveries::next_attempt_at)
            .limit(limit)
            .select(deliveries::id)
    )?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(deliveries::table.filter(deliveries::id.eq_any(&ids)))
        .set(deliveries::lease_until.eq(lease_until.map(to_db_time)))
        .execute(conn)?;
    // The lease just written, read back: recording the attempt compares it as stored.
    Ok(deliveries::table
        .inner_join(webhook_subscriptions::table)
        .filter(deliveries::id.eq_any(&ids))
        .filter(webhook_subscriptions::active.eq(true))
        .select(DueDelivery::as_select())
        .load::<DueDelivery>(conn)?)
}

/// Frees the leases of pending deliveries: for a sender that leases (one process alone) when it
/// starts, as only an earlier run of the same process can have left them.
pub fn release_leases(conn: &mut DbConnection) -> Result<usize, DbError> {
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
            .filter(deliveries::lease_until.is_not_null()),
    )
    .set(deliveries::lease_until.eq(None::<NaiveDateTime>))
    .execute(conn)?)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Retry policy: doubling from `initial_ms`, capped at `max_ms`.
pub fn retry_delay(attempt: i32, initial_ms: i64, max_ms: i64) -> Duration {
    let exponent = (attempt.max(1) - 1).min(20) as u32;
    Duration::milliseconds(initial_ms.saturating_mul(1i64 << exponent).min(max_ms))
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: i32,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
}

/// Records an attempt; on success or on the last failure the delivery is final and its outcome
/// is published. Returns the final state, if it became final.
pub fn record_attempt(
    conn: &mut DbConnection,
    delivery: &DueDelivery,
    result: &AttemptResult,
    policy: RetryPolicy,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryState>, DbError> {
    let attempt = delivery.attempts + 1;
    let at = to_db_time(now);
    diesel::insert_into(delivery_attempts::table)
        .values((
            delivery_attempts::delivery_id.eq(&delivery.id),
            delivery_attempts::attempt.eq(attempt),
            delivery_attempts::attempted_at.eq(at),
            delivery_attempts::status_code.eq(result.status.map(i32::from)),
            delivery_attempts::error.eq(&result.error),
            delivery_attempts::duration_ms.eq(result.duration_ms),
        ))
        .execute(conn)?;
    let final_state = if result.succeeded() {
        Some(DeliveryState::Delivered)
    } else if attempt >= policy.max_attempts {
        Some(DeliveryState::Failed)
    } else {
        None
    };
    let next_attempt = to_db_time(now + retry_delay(attempt, policy.initial_backoff_ms, policy.max_backoff_ms));
    // Only while the delivery is still pending under this sender's claim: a subscription
    // removed meanwhile (cancelled) or a lease that ran out stays as it is. Nobody changes the
    // row between this read and the update: the claim's row lock (PostgreSQL) or the one
    // writer (SQLite) holds it.
    let held: Option<Option<NaiveDateTime>> = deliveries::table
        .find(&delivery.id)
        .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
        .select(deliveries::lease_until)
        .first(conn)
        .optional()?;
    if held != Some(delivery.lease_until) {
        return Ok(None);
    }
    let updated = diesel::update(deliveries::table.find(&delivery.id))
        .set((
            deliveries::attempts.eq(attempt),
            deliveries::state.eq(final_state.unwrap_or(DeliveryState::Pending).as_str()),
            deliveries::next_attempt_at.eq(if final_state.is_some() { at } else { next_attempt }),
            deliveries::lease_until.eq(None::<NaiveDateTime>),
            deliveries::last_status.eq(result.status.map(i32::from)),
            deliveries::last_error.eq(&result.error),
            deliveries::finished_at.eq(final_state.map(|_| at)),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    if let Some(outcome_state) = final_state {
        let outcome = NotificationOutcome {
            delivery_id: delivery.id.clone(),
            subscription_id: delivery.subscription_id.clone(),
            agency_id: delivery.agency_id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            attempts: attempt,
            last_status: result.status.map(i32::from),
            last_error: result.error.clone(),
            finished_at: from_db_time(at),
        };
        if outcome_state == DeliveryState::Delivered {
            outbox::enqueue(conn, NOTIFICATION, &NotificationDelivered(outcome), now)?;
        } else {
            outbox::enqueue(conn, NOTIFICATION, &NotificationFailed(outcome), now)?;
        }
    }
    Ok(final_state)
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct AttemptView {
    /// 1 for the first attempt.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; null when no answer came.
    #[schema(required = true)]
    pub status_code: Option<i32>,
    /// Why the attempt failed; null when it succeeded.
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// One event on its way to one subscription, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryView {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    /// The event's type, e.g. `warning.issued`.
    pub event_type: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status of the last attempt; null before any, or when no answer came.
    #[schema(required = true)]
    pub last_status: Option<i32>,
    /// Why the last attempt failed; null otherwise.
    #[schema(required = true)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered, failed for good or cancelled; null while pending.
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, first first.
    pub attempt_log: Vec<AttemptView>,
}

/// A delivery as the log shows it, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries)]
struct DeliveryRow {
    id: String,
    subscription_id: String,
    event_id: String,
    event_type: String,
    state: String,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
}

/// An attempt as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = delivery_attempts)]
struct AttemptRow {
    delivery_id: String,
    attempt: i32,
    attempted_at: NaiveDateTime,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

impl From<&AttemptRow> for AttemptView {
    fn from(row: &AttemptRow) -> Self {
        Self {
            attempt: row.attempt,
            attempted_at: from_db_time(row.attempted_at),
            status_code: row.status_code,
            error: row.error.clone(),
            duration_ms: row.duration_ms,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct DeliveryFilter {
    pub event_id: Option<String>,
    pub subscription_id: Option<String>,
    /// Only the deliveries to this agency's subscriptions.
    pub agency_id: Option<String>,
    pub state: Option<DeliveryState>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Oldest first; newest first (the default) otherwise.
    pub oldest_first: bool,
    /// Only the deliveries after this one in the order (`created_at`, then `id`).
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// One page of at most `filter.limit` deliveries, ordered by `created_at` then `id` (newest first
/// unless `filter.oldest_first`), each with every attempt; and the cursor of the next page when
/// there is one.
pub fn list_deliveries(
    conn: &mut DbConnection,
    filter: &DeliveryFilter,
) -> Result<(Vec<DeliveryView>, Option<String>), DbError> {
    let mut query = deliveries::table.into_boxed();
    if let Some(event_id) = &filter.event_id {
        query = query.filter(deliveries::event_id.eq(event_id.clone()));
    }
    if let Some(subscription) = &filter.subscription_id {
        query = query.filter(deliveries::subscription_id.eq(subscription.clone()));
    }
    if let Some(agency) = &filter.agency_id {
        let of_agency = webhook_subscriptions::table
            .filter(webhook_subscriptions::agency_id.eq(agency.clone()))
            .select(webhook_subscriptions::id);
        query = query.filter(deliveries::subscription_id.eq_any(of_agency));
    }
    if let Some(state) = &filter.state {
        query = query.filter(deliveries::state.eq(state.as_str()));
    }
    query = nazer_shared::period!(query, deliveries::created_at, filter.from, filter.until);
    let query = nazer_shared::keyset!(
        query,
        deliveries::created_at,
        deliveries::id,
        filter.after.clone(),
        !filter.oldest_first
    );
    let rows: Vec<DeliveryRow> = query.limit(filter.limit + 1).select(DeliveryRow::as_select()).load(conn)?;
    let (rows, next_cursor) =
        paging::page(rows, filter.limit, |r: &DeliveryRow| Cursor { at: r.created_at, id: r.id.clone() });
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let attempts: Vec<AttemptRow> = delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq_any(ids))
        .order((delivery_attempts::delivery_id, delivery_attempts::attempt))
        .select(AttemptRow::as_select())
        .load(conn)?;
    let page = rows
        .into_iter()
        .map(|row| {
            let state = DeliveryState::parse(&row.state)
                .ok_or_else(|| DbError::Refused(format!("unknown delivery state `{}` stored", row.state)))?;
            let attempt_log = attempts.iter().filter(|a| a.delivery_id == row.id).map(AttemptView::from).collect();
            Ok(DeliveryView {
                id: row.id,
                subscription_id: row.subscription_id,
                event_id: row.event_id,
                event_type: row.event_type,
                state,
                attempts: row.attempts,
                next_attempt_at: from_db_time(row.next_attempt_at),
                last_status: row.last_status,
                last_error: row.last_error,
                created_at: from_db_time(row.created_at),
                finished_at: row.finished_at.map(from_db_time),
                attempt_log,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok((page, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_states_are_the_stored_texts() {
        // Pinned as texts: the database and the agencies' systems hold these spellings.
        let schema = serde_json::to_value(<DeliveryState as utoipa::PartialSchema>::schema()).unwrap();
        let documented: Vec<&str> = schema["enum"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(documented, ["pending", "delivered", "failed", "cancelled"]);
    }

    #[test]
    fn retries_double_and_cap() {
        assert_eq!(retry_delay(1, 1_000, 60_000), Duration::seconds(1));
        assert_eq!(retry_delay(2, 1_000, 60_000), Duration::seconds(2));
        assert_eq!(retry_delay(5, 1_000, 60_000), Duration::seconds(16));
        assert_eq!(retry_delay(30, 1_000, 60_000), Duration::seconds(60));
    }

    #[test]
    fn subscriptions_match_their_types_or_everything() {
        assert!(wants("*", "warning.issued"));
        assert!(wants("message.assigned warning.issued", "warning.issued"));
        assert!(!wants("message.assigned", "warning.issued"));
    }
}
