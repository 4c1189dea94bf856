//! The firing loop: sleeps until the earliest pending due instant (or until a newer, earlier
//! deadline is committed here), turns what is due into warnings, and polls at most every
//! `max_idle_ms` for deadlines other replicas scheduled.

use std::sync::Arc;
use std::time::Duration;

use nazer_shared::metrics;
use nazer_shared::runtime::ServiceContext;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store;

pub async fn run(ctx: ServiceContext, wake: Arc<Notify>, shutdown: CancellationToken) {
    let max_idle = Duration::from_millis(ctx.settings.deadlines.max_idle_ms);
    let batch = ctx.settings.deadlines.batch_size;
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let now = ctx.clock.now();
        let fired = ctx.db.write(move |conn| store::fire_due(conn, now, batch)).await;
        let wait = match fired {
            Ok(warnings) => {
                failures = 0;
                if !warnings.is_empty() {
                    metrics::warnings_issued(1, warnings.len() as u64);
                    for warning in &warnings {
                        tracing::info!(warning_id = %warning.warning_id, deadline_id = %warning.deadline_id,
                            message_id = %warning.message_id, level = warning.level, "warning registered");
                    }
                    ctx.committed();
                }
                if warnings.len() as i64 >= batch {
                    continue;
                }
                until_next_due(&ctx, max_idle).await
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "firing due deadlines failed; retrying");
                Duration::from_millis((100u64 << failures.min(6)).min(5_000))
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn until_next_due(ctx: &ServiceContext, max_idle: Duration) -> Duration {
    let next = ctx.db.run(store::next_due).await;
    let pending = ctx.db.run(store::pending_count).await;
    if let Ok(pending) = pending {
        metrics::set_gauge("deadlines_pending", ctx.service, pending);
    }
    match next {
        Ok(Some(due)) => {
            let millis = (due - ctx.clock.now()).num_milliseconds();
            // One extra millisecond so the wake-up is never just before the due instant.
            Duration::from_millis(millis.max(0) as u64 + 1).min(max_idle)
        }
        Ok(None) => max_idle,
        Err(_) => max_idle,
    }
}
