//! The sender: leases due deliveries, posts them signed, records each attempt. At-least-once:
//! a receiver may see an event twice (after a crash between sending and recording) and
//! recognises it by `X-Nazer-Event-Id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use nazer_shared::runtime::ServiceContext;
use nazer_shared::{metrics, telemetry};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::signature;
use crate::store::{self, AttemptResult, DueDelivery, RetryPolicy};

const BATCH: i64 = 16;

pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        // A webhook URL must not bounce the request elsewhere (SSRF through redirects).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nazer-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

pub async fn run(ctx: ServiceContext, wake: Arc<Notify>, shutdown: CancellationToken) {
    let client = http_client(Duration::from_millis(ctx.settings.webhooks.timeout_ms));
    let poll = Duration::from_millis(ctx.settings.webhooks.poll_interval_ms);
    while !shutdown.is_cancelled() {
        let sent = send_due(&ctx, &client).await;
        if sent as i64 >= BATCH {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Sends one batch; returns how many deliveries were attempted.
pub async fn send_due(ctx: &ServiceContext, client: &reqwest::Client) -> usize {
    let now = ctx.clock.now();
    let lease_until = now + chrono::Duration::seconds(nazer_shared::config::WEBHOOK_LEASE_SECS as i64);
    let due = match ctx.db.run(move |conn| store::claim_due(conn, now, lease_until, BATCH)).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "could not claim due deliveries");
            return 0;
        }
    };
    let count = due.len();
    let attempts = due.into_iter().map(|delivery| async move {
        let (result, span) = attempt(client, &delivery, ctx.clock.now().timestamp()).await;
        (delivery, result, span)
    });
    let policy = RetryPolicy {
        max_attempts: ctx.settings.webhooks.max_attempts,
        initial_backoff_ms: ctx.settings.webhooks.initial_backoff_ms,
        max_backoff_ms: ctx.settings.webhooks.max_backoff_ms,
    };
    let mut finished = false;
    for (delivery, result, span) in join_all(attempts).await {
        metrics::webhook_attempt(if result.succeeded() { "delivered" } else { "failed" });
        let now = ctx.clock.now();
        let delivery_id = delivery.id.clone();
        // Under the attempt's span: the outcome event it may publish stays in the trace.
        let recorded = ctx
            .db
            .write(move |conn| store::record_attempt(conn, &delivery, &result, policy, now))
            .instrument(span)
            .await;
        match recorded {
            Ok(Some(state)) => {
                finished = true;
                metrics::delivery_finished(state);
                tracing::info!(delivery_id, state, "webhook delivery final");
            }
            Ok(None) => tracing::info!(delivery_id, "webhook attempt failed; will retry"),
            Err(error) => {
                tracing::warn!(delivery_id, %error, "attempt not recorded; the lease will expire and it is retried")
            }
        }
    }
    if finished {
        ctx.committed();
    }
    count
}

/// One attempt, in a client span of the trace that queued the delivery; the span is returned
/// so that recording the attempt stays in it.
async fn attempt(client: &reqwest::Client, delivery: &DueDelivery, timestamp: i64) -> (AttemptResult, tracing::Span) {
    let span = tracing::info_span!(
        parent: None,
        "webhook",
        otel.name = format!("POST webhook {}", delivery.event_type),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = "POST",
        http.response.status_code = tracing::field::Empty,
        delivery_id = %delivery.id,
        event_id = %delivery.event_id,
        attempt = delivery.attempts + 1,
    );
    telemetry::context::adopt_traceparent(&span, delivery.trace_context.as_deref());
    let result = send(client, delivery, timestamp).instrument(span.clone()).await;
    if let Some(status) = result.status {
        span.record("http.response.status_code", status);
    }
    if result.error.is_some() {
        span.record("otel.status_code", "ERROR");
    }
    (result, span)
}

/// One signed POST, carrying the trace context so the receiver may join the trace.
async fn send(client: &reqwest::Client, delivery: &DueDelivery, timestamp: i64) -> AttemptResult {
    let started = Instant::now();
    let body = delivery.payload.clone().into_bytes();
    let mut request = client.post(&delivery.url);
    for (name, value) in telemetry::context::current_headers() {
        request = request.header(name, value);
    }
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Nazer-Event-Id", &delivery.event_id)
        .header("X-Nazer-Event-Type", &delivery.event_type)
        .header("X-Nazer-Delivery-Id", &delivery.id)
        .header(signature::HEADER, signature::sign(&delivery.secret, timestamp, &body))
        .body(body)
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let error = (!response.status().is_success()).then(|| format!("receiver answered {status}"));
            AttemptResult { status: Some(status), error, duration_ms }
        }
        Err(error) => AttemptResult { status: None, error: Some(describe(error)), duration_ms },
    }
}

/// The cause of a failed request without the URL (which may carry a token).
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.without_url().to_string()
    }
}
