//! The sender: claims due deliveries, posts them signed, records each attempt. At-least-once:
//! a receiver may see an event twice (after a crash between sending and recording) and
//! recognises it by `X-Nazer-Event-Id`. On PostgreSQL a batch is held by the row locks of a
//! transaction open from the claim until its attempts are recorded, so a sender killed mid-batch
//! frees it at once; on SQLite by a lease, freed when the process starts again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::Connection;
use futures_util::future::join_all;
use nazer_shared::config::{WEBHOOK_LEASE_SECS, WebhookSettings};
use nazer_shared::db::claim::{Claimed, Hold};
use nazer_shared::runtime::ServiceContext;
use nazer_shared::sealing::SealingKeys;
use nazer_shared::{metrics, telemetry};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::egress::{self, EgressPolicy, PolicyResolver};
use crate::signature;
use crate::store::{self, AttemptResult, DueDelivery, RetryPolicy};

const BATCH: i64 = 16;

/// The HTTP client of the webhooks, bound to the egress policy: names resolve only to allowed
/// addresses, and an address written in the URL is judged before anything is sent.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: Arc<EgressPolicy>,
    /// Open the subscriptions' sealed signing secrets.
    keys: SealingKeys,
}

impl WebhookClient {
    /// Fails only when no TLS backend can be set up; there is no client without the policy.
    pub fn new(timeout: Duration, policy: EgressPolicy, keys: SealingKeys) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // A webhook URL must not bounce the request elsewhere (SSRF through redirects).
            .redirect(reqwest::redirect::Policy::none())
            // Nor go through a proxy, which would resolve and reach what the policy refuses.
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver::new(policy.clone())))
            .user_agent(concat!("nazer-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the webhook client could not be built: {e}"))?;
        Ok(Self { http, policy, keys })
    }

    /// The client of `settings`: its timeout and its allowed networks, with `keys`.
    pub fn from_settings(settings: &WebhookSettings, keys: SealingKeys) -> Result<Self, String> {
        Self::new(Duration::from_millis(settings.timeout_ms), EgressPolicy::from_settings(settings)?, keys)
    }
}

pub async fn run(ctx: ServiceContext, client: WebhookClient, wake: Arc<Notify>, shutdown: CancellationToken) {
    let poll = Duration::from_millis(ctx.settings.webhooks.poll_interval_ms);
    if ctx.db.hold(false) == Hold::Lease {
        // One process alone: a crash-restart does not wait out the leases of its previous run.
        match ctx.db.write(store::release_leases).await {
            Ok(0) => {}
            Ok(freed) => tracing::info!(freed, "webhook delivery leases of an earlier run freed"),
            Err(error) => tracing::warn!(%error, "webhook delivery leases of an earlier run not freed"),
        }
    }
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

/// Sends one batch; returns how many deliveries were attempted. The batch stays claimed while
/// its POSTs run (each bounded by `webhooks.timeout_ms`) and until their attempts are recorded.
pub async fn send_due(ctx: &ServiceContext, client: &WebhookClient) -> usize {
    let now = ctx.clock.now();
    // The webhook sender posts to agencies, not to consumers of this process.
    let hold = ctx.db.hold(false);
    let lease_until = hold.lease(now + chrono::Duration::seconds(WEBHOOK_LEASE_SECS as i64));
    let at_most = Duration::from_secs(WEBHOOK_LEASE_SECS);
    let claimed = ctx.db.claim(hold, at_most, move |conn| store::claim_due(conn, now, lease_until, BATCH)).await;
    let Claimed { rows: due, held } = match claimed {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "could not claim due deliveries");
            return 0;
        }
    };
    let count = due.len();
    if count == 0 {
        return 0;
    }
    let attempts = due.into_iter().map(|delivery| async move {
        let (result, span) = attempt(client, &delivery, ctx.clock.now().timestamp()).await;
        (delivery, result, span)
    });
    let attempted = join_all(attempts).await;
    for (_, result, _) in &attempted {
        metrics::webhook_attempt(if result.succeeded() { "delivered" } else { "failed" });
    }
    let policy = RetryPolicy {
        max_attempts: ctx.settings.webhooks.max_attempts,
        initial_backoff_ms: ctx.settings.webhooks.initial_backoff_ms,
        max_backoff_ms: ctx.settings.webhooks.max_backoff_ms,
    };
    let ids: Vec<String> = attempted.iter().map(|(delivery, _, _)| delivery.id.clone()).collect();
    let clock = ctx.clock.clone();
    let recorded = ctx
        .db
        .finish(held, move |conn| {
            Ok(attempted
                .into_iter()
                .map(|(delivery, result, span)| {
                    // Under the attempt's span: the outcome event it may publish stays in the
                    // trace. A savepoint each, so one attempt that cannot be recorded leaves the
                    // others recorded.
                    let _entered = span.enter();
                    let now = clock.now();
                    let outcome = conn.transaction(|conn| store::record_attempt(conn, &delivery, &result, policy, now));
                    (delivery.id, outcome)
                })
                .collect::<Vec<_>>())
        })
        .await;
    let outcomes = match recorded {
        Ok(outcomes) => outcomes,
        Err(error) => {
            for delivery_id in ids {
                tracing::warn!(delivery_id, %error, "attempt not recorded; the delivery is claimed and sent again");
            }
            return count;
        }
    };
    let mut finished = false;
    for (delivery_id, outcome) in outcomes {
        match outcome {
            Ok(Some(state)) => {
                finished = true;
                metrics::delivery_finished(state.as_str());
                tracing::info!(delivery_id, state = state.as_str(), "webhook delivery final");
            }
            Ok(None) => tracing::info!(delivery_id, "webhook attempt failed; will retry"),
            Err(error) => {
                tracing::warn!(delivery_id, %error, "attempt not recorded; the delivery is claimed and sent again")
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
async fn attempt(client: &WebhookClient, delivery: &DueDelivery, timestamp: i64) -> (AttemptResult, tracing::Span) {
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
async fn send(client: &WebhookClient, delivery: &DueDelivery, timestamp: i64) -> AttemptResult {
    let started = Instant::now();
    // The URL as stored is judged again: a row may predate the policy or its allowed networks.
    if client.policy.check_url(&delivery.url).is_err() {
        return refused(started);
    }
    let secret = match store::open_secret(&client.keys, &delivery.subscription_id, &delivery.secret) {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(subscription_id = %delivery.subscription_id, %error, "a webhook signing secret does not open");
            let error = "the signing secret does not open: restore the key that sealed it".to_string();
            return AttemptResult { status: None, error: Some(error), duration_ms: 0 };
        }
    };
    let body = delivery.payload.clone().into_bytes();
    let mut request = client.http.post(&delivery.url);
    for (name, value) in telemetry::context::current_headers() {
        request = request.header(name, value);
    }
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Nazer-Event-Id", &delivery.event_id)
        .header("X-Nazer-Event-Type", &delivery.event_type)
        .header("X-Nazer-Delivery-Id", &delivery.id)
        .header(signature::HEADER, signature::sign(&secret, timestamp, &body))
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
        Err(error) if egress::is_refusal(&error) => refused(started),
        Err(error) => AttemptResult { status: None, error: Some(describe(error)), duration_ms },
    }
}

/// An attempt the egress policy stopped: one text whatever the target, nothing of how far it got.
fn refused(started: Instant) -> AttemptResult {
    AttemptResult {
        status: None,
        error: Some(egress::REFUSED.into()),
        duration_ms: started.elapsed().as_millis() as i64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_the_resolver_refuses_is_recognised_as_the_policy_refusal() {
        let keys = SealingKeys::parse(nazer_shared::testing::REPORTER_KEYS).unwrap();
        let client = WebhookClient::new(Duration::from_secs(5), EgressPolicy::default(), keys).unwrap();
        // Past the URL check: what the resolver does when a name resolves inside.
        let error = match client.http.post("http://localhost:9/hooks").send().await {
            Ok(response) => panic!("sent: {}", response.status()),
            Err(error) => error,
        };
        assert!(egress::is_refusal(&error), "{error:?}");
    }
}
