//! The transactional outbox: a state change and the events it causes are written in one
//! transaction; the relay publishes them afterwards and marks them published only once the bus
//! confirmed them. Replicas share the work: a batch is claimed with `FOR UPDATE SKIP LOCKED` and
//! held for its publish (see [`crate::db::claim`]): on PostgreSQL with a broker by the row locks of
//! a transaction open until the batch is marked, so a relay killed mid-publish frees its rows at
//! once; in one process alone by a lease, freed when the process starts again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusError, BusKind};
use crate::clock::SharedClock;
use crate::config::OutboxSettings;
use crate::db::claim::{Claimed, Hold};
use crate::db::{Db, DbConnection, DbError, to_db_time};
use crate::events::{Envelope, Event};
use crate::metrics;
use crate::schema::outbox;
use crate::telemetry;
use crate::{insert_rows, returning_rows, select_skip_locked};

/// Writes `event` to the outbox inside the caller's transaction.
pub fn enqueue<E: Event>(
    conn: &mut DbConnection,
    producer: &str,
    event: &E,
    now: DateTime<Utc>,
) -> Result<Envelope, DbError> {
    let mut written = enqueue_all(conn, producer, std::slice::from_ref(event), now)?;
    written.pop().ok_or_else(|| DbError::Refused("the outbox wrote nothing".into()))
}

/// Rows per multi-row insert: 8 parameters each, under PostgreSQL's 65,535 bind parameters,
/// so a firing batch's events (at most a few thousand) take one statement.
const INSERT_CHUNK: usize = 8_000;

/// Writes `events` to the outbox inside the caller's transaction, in order, with as few
/// statements as the database allows (a burst of warnings is thousands of events).
pub fn enqueue_all<E: Event>(
    conn: &mut DbConnection,
    producer: &str,
    events: &[E],
    now: DateTime<Utc>,
) -> Result<Vec<Envelope>, DbError> {
    let envelopes = events
        .iter()
        .map(|event| Envelope::new(producer, event, now).map_err(|e| DbError::Encode(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let at = to_db_time(now);
    // Every event of one change continues the trace of the request or delivery that made it.
    let trace_context = telemetry::context::current_traceparent();
    for chunk in envelopes.chunks(INSERT_CHUNK) {
        let rows = chunk
            .iter()
            .map(|envelope| {
                let text = serde_json::to_string(envelope).map_err(|e| DbError::Encode(e.to_string()))?;
                Ok((
                    outbox::event_id.eq(envelope.event_id.to_string()),
                    outbox::producer.eq(producer),
                    outbox::event_type.eq(envelope.event_type.clone()),
                    outbox::aggregate_id.eq(envelope.aggregate_id.clone()),
                    outbox::envelope.eq(text),
                    outbox::created_at.eq(at),
                    outbox::publish_attempts.eq(0),
                    outbox::trace_context.eq(trace_context.clone()),
                ))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        insert_rows!(conn, outbox::table, rows)?;
    }
    Ok(envelopes)
}

/// One claimed outbox row: its id, the envelope as stored, and the trace it continues.
/// One claimed outbox row: the event as stored and the trace it continues.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct ClaimedRow {
    pub id: i64,
    /// The envelope, as JSON.
    pub envelope: String,
    /// The `traceparent` of the work that wrote it.
    pub trace_context: Option<String>,
}

/// Claims up to `limit` unpublished rows of `producer`, neither locked nor leased by another
/// relay, leasing them until `lease_until` when given. Call it in a write transaction.
pub fn claim_batch(
    conn: &mut DbConnection,
    producer: &str,
    limit: i64,
    now: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
) -> Result<Vec<ClaimedRow>, DbError> {
    let now = to_db_time(now);
    let ids: Vec<i64> = select_skip_locked!(
        conn,
        outbox::table
            .filter(outbox::producer.eq(producer))
            .filter(outbox::published_at.is_null())
            .filter(outbox::lease_until.is_null().or(outbox::lease_until.lt(now)))
            .order(outbox::id)
            .limit(limit)
            .select(outbox::id)
    )?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let claimed = diesel::update(outbox::table.filter(outbox::id.eq_any(&ids))).set((
        outbox::lease_until.eq(lease_until.map(to_db_time)),
        outbox::publish_attempts.eq(outbox::publish_attempts + 1),
    ));
    let mut rows = returning_rows!(conn, claimed, ClaimedRow)?;
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

/// Frees the leases of `producer`'s unpublished rows: for a relay that leases (one process
/// alone) when it starts, as only an earlier run of the same process can have left them.
pub fn release_leases(conn: &mut DbConnection, producer: &str) -> Result<usize, DbError> {
    Ok(diesel::update(
        outbox::table
            .filter(outbox::producer.eq(producer))
            .filter(outbox::published_at.is_null())
            .filter(outbox::lease_until.is_not_null()),
    )
    .set(outbox::lease_until.eq(None::<chrono::NaiveDateTime>))
    .execute(conn)?)
}

pub struct OutboxRelay {
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    pub producer: &'static str,
    pub settings: OutboxSettings,
    pub clock: SharedClock,
    pub wake: Arc<Notify>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
}

impl OutboxRelay {
    /// How this relay holds the rows it publishes: the in-process bus hands them to consumers
    /// of this process, so it is one process alone.
    fn hold(&self) -> Hold {
        self.db.hold(self.bus.kind() == BusKind::InProcess)
    }

    /// Publishes until `shutdown`, waking on commits of this process and polling for the rest.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        if self.hold() == Hold::Lease {
            // A crash-restart does not wait out the leases of its previous run.
            let producer = self.producer;
            match self.db.write(move |conn| release_leases(conn, producer)).await {
                Ok(0) => {}
                Ok(freed) => tracing::info!(producer, freed, "outbox leases of an earlier run freed"),
                Err(error) => tracing::warn!(producer, %error, "outbox leases of an earlier run not freed"),
            }
        }
        let mut failures = 0u32;
        let mut reported = std::time::Instant::now();
        while !shutdown.is_cancelled() {
            let outcome = self.relay_once().await;
            // The gauges move while a backlog drains or the broker is away, not only when idle.
            let idle = matches!(&outcome, Ok(report) if report.failed == 0 && (report.published as i64) < self.settings.batch_size);
            if idle || reported.elapsed() >= BACKLOG_REPORT_EVERY {
                reported = std::time::Instant::now();
                self.report_backlog().await;
            }
            let wait = match outcome {
                Ok(report) if report.failed > 0 => {
                    failures += 1;
                    Duration::from_millis((200u64 << failures.min(5)).min(5_000))
                }
                // A full batch suggests more is waiting.
                Ok(report) if report.published as i64 >= self.settings.batch_size => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    poll
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(producer = self.producer, %error, "outbox relay could not read its rows");
                    Duration::from_millis((200u64 << failures.min(5)).min(5_000))
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified(), if failures == 0 => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Flush everything committed before the shutdown, while the bus is still there (the
        // host stops waiting at the end of its grace period; what is left waits for the next start).
        let started = std::time::Instant::now();
        let mut flushed = 0;
        loop {
            match self.relay_once().await {
                Ok(report) if report.published > 0 && report.failed == 0 => flushed += report.published,
                Ok(report) => {
                    let ms = started.elapsed().as_millis() as u64;
                    tracing::debug!(
                        producer = self.producer,
                        flushed,
                        failed = report.failed,
                        ms,
                        "final outbox flush ended"
                    );
                    break;
                }
                Err(error) => {
                    tracing::warn!(producer = self.producer, %error, "final outbox flush failed; rows stay for the next start");
                    break;
                }
            }
        }
    }

    async fn report_backlog(&self) {
        let producer = self.producer;
        let read = self.db.run(move |conn| backlog_and_oldest(conn, producer)).await;
        if let Ok((rows, oldest)) = read {
            metrics::outbox_backlog(producer, rows);
            let age = oldest.map(|at| (self.clock.now().naive_utc() - at).num_milliseconds() as f64 / 1000.0);
            metrics::outbox_oldest_age(producer, age.unwrap_or(0.0));
        }
    }

    /// Claims one batch and publishes it in one go (see [`Bus::publish_batch`]); a row is marked
    /// published once its event was confirmed, and every other row is released for a later
    /// attempt, as is one whose envelope no longer decodes. The claim holds the rows until they
    /// are marked; `outbox.lease_secs` bounds how long.
    pub async fn relay_once(&self) -> Result<RelayReport, DbError> {
        let now = self.clock.now();
        let hold = self.hold();
        let lease_until = hold.lease(now + chrono::Duration::seconds(self.settings.lease_secs));
        let at_most = Duration::from_secs(self.settings.lease_secs.unsigned_abs());
        let (producer, limit) = (self.producer, self.settings.batch_size);
        let started = std::time::Instant::now();
        let Claimed { rows, held } =
            self.db.claim(hold, at_most, move |conn| claim_batch(conn, producer, limit, now, lease_until)).await?;
        if rows.is_empty() {
            return Ok(RelayReport::default());
        }
        let claimed_ms = started.elapsed().as_millis() as u64;
        let mut published = Vec::with_capacity(rows.len());
        let mut unpublished = Vec::new();
        let mut last_error = None;
        let (mut ids, mut envelopes) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
        // One producer span per event, a child of the work that wrote it, open until its
        // confirm (or failure) is known; the consumer's span becomes its child.
        let mut spans = Vec::with_capacity(rows.len());
        for ClaimedRow { id, envelope: text, trace_context } in rows {
            match serde_json::from_str::<Envelope>(&text) {
                Ok(envelope) => {
                    let span = publish_span(&envelope, trace_context.as_deref());
                    let trace_parent = span.in_scope(telemetry::context::current_traceparent);
                    ids.push(id);
                    envelopes.push(Envelope { trace_parent, ..envelope });
                    spans.push(span);
                }
                Err(error) => {
                    let error = BusError::Encode(error.to_string());
                    tracing::error!(producer, outbox_id = id, %error, "outbox row cannot be decoded; kept back");
                    last_error = Some(error.to_string());
                    unpublished.push(id);
                }
            }
        }
        let mut outcomes = self.bus.publish_batch(&envelopes).await.into_iter();
        let mut first_failure = true;
        for ((id, envelope), span) in ids.into_iter().zip(&envelopes).zip(&spans) {
            match outcomes.next().unwrap_or_else(|| Err(BusError::Unavailable("the bus reported no outcome".into()))) {
                Ok(()) => {
                    metrics::event_published(producer, &envelope.event_type);
                    published.push(id);
                }
                Err(error) => {
                    span.record("otel.status_code", "ERROR");
                    metrics::publish_failed(producer);
                    if first_failure {
                        tracing::warn!(producer, outbox_id = id, %error, "publish failed; will retry");
                        first_failure = false;
                    }
                    last_error = Some(error.to_string());
                    unpublished.push(id);
                }
            }
        }
        let report = RelayReport { published: published.len(), failed: unpublished.len() };
        let published_ms = started.elapsed().as_millis() as u64;
        let done_at = to_db_time(self.clock.now());
        self.db
            .finish(held, move |conn| {
                if !published.is_empty() {
                    diesel::update(outbox::table.filter(outbox::id.eq_any(&published)))
                        .set((
                            outbox::published_at.eq(Some(done_at)),
                            outbox::lease_until.eq(None::<chrono::NaiveDateTime>),
                        ))
                        .execute(conn)?;
                }
                if !unpublished.is_empty() {
                    diesel::update(outbox::table.filter(outbox::id.eq_any(&unpublished)))
                        .set((outbox::lease_until.eq(None::<chrono::NaiveDateTime>), outbox::last_error.eq(last_error)))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await?;
        let ms = started.elapsed().as_millis() as u64;
        let (published, failed) = (report.published, report.failed);
        tracing::debug!(producer, published, failed, claimed_ms, published_ms, ms, "outbox batch relayed");
        Ok(report)
    }
}

/// The producer span of one event, a child of the work that wrote it; the consumer's span
/// will be its child in turn.
fn publish_span(envelope: &Envelope, trace_context: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "publish",
        otel.name = format!("publish {}", envelope.event_type),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        event_type = %envelope.event_type,
        event_id = %envelope.event_id,
        aggregate_id = %envelope.aggregate_id,
    );
    telemetry::context::adopt_traceparent(&span, trace_context);
    span
}

/// How often a relay busy with a backlog refreshes the backlog gauges.
const BACKLOG_REPORT_EVERY: Duration = Duration::from_secs(5);

/// Rows not yet published for `producer` (the backlog an operator watches).
pub fn backlog(conn: &mut DbConnection, producer: &str) -> Result<i64, DbError> {
    Ok(backlog_and_oldest(conn, producer)?.0)
}

/// The backlog of `producer` and when its oldest row was written, in one query.
pub fn backlog_and_oldest(
    conn: &mut DbConnection,
    producer: &str,
) -> Result<(i64, Option<chrono::NaiveDateTime>), DbError> {
    Ok(outbox::table
        .filter(outbox::producer.eq(producer))
        .filter(outbox::published_at.is_null())
        .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
        .first(conn)?)
}
