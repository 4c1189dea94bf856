//! The firing loop: sleeps until the earliest due step (or until a newer, earlier deadline is
//! committed here), turns what is due into reminders and warnings, and polls at most every
//! `max_idle_ms` for deadlines other replicas scheduled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nazer_shared::metrics;
use nazer_shared::runtime::ServiceContext;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::deadlines::store as clocks;

pub mod store;

pub async fn run(ctx: ServiceContext, wake: Arc<Notify>, shutdown: CancellationToken) {
    let max_idle = Duration::from_millis(ctx.settings.deadlines.max_idle_ms);
    let batch = ctx.settings.deadlines.batch_size;
    let mut failures = 0u32;
    let mut gauge_read: Option<Instant> = None;
    while !shutdown.is_cancelled() {
        let now = ctx.clock.now();
        let fired = ctx.db.write(move |conn| store::fire_due(conn, now, batch)).await;
        let wait = match fired {
            Ok(fired) => {
                failures = 0;
                for (kind, seconds) in &fired.lags {
                    metrics::fire_lag(kind, *seconds);
                }
                for warning in &fired.warnings {
                    metrics::warnings_issued(warning.level, 1);
                    tracing::info!(warning_id = %warning.warning_id, deadline_id = %warning.deadline_id,
                        message_id = %warning.message_id, warning_level = warning.level, "warning registered");
                }
                for reminder in &fired.reminders {
                    metrics::reminder_sent(&reminder.stage);
                    tracing::info!(deadline_id = %reminder.deadline_id, message_id = %reminder.message_id,
                        fraction = reminder.fraction, "reminder sent");
                }
                if fired.deadlines > 0 {
                    ctx.committed();
                }
                // Counting a million rows is not free: refresh the gauges now and then only,
                // but also while a burst keeps the loop busy.
                if gauge_read.is_none_or(|at| at.elapsed() >= GAUGE_EVERY) {
                    gauge_read = Some(Instant::now());
                    let counted =
                        ctx.db.run(move |conn| Ok((clocks::active_count(conn)?, clocks::due_count(conn, now)?)));
                    if let Ok((active, due)) = counted.await {
                        metrics::deadlines_running(ctx.service, active);
                        metrics::deadlines_due(ctx.service, due);
                    }
                }
                if fired.deadlines as i64 >= batch {
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

const GAUGE_EVERY: Duration = Duration::from_secs(15);

async fn until_next_due(ctx: &ServiceContext, max_idle: Duration) -> Duration {
    let next = ctx.db.run(store::next_due).await;
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
