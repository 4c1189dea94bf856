//! Watches for the hang the campaign found by hand: a service's queue holding ready messages
//! with no consumer while that service answers ready. Polls every instance's `/readyz` and the
//! vhost's queues (`rabbitmqctl list_queues`, about a second per call) every few seconds until stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::faults::Broker;

/// How long a queue may hold ready messages without a consumer while its service answers
/// ready before it counts as a hang (consumers reconnect with a backoff of up to 5 s).
pub const STUCK_AFTER: Duration = Duration::from_secs(8);

/// The longest stretch, per service, during which its queue held ready messages without a
/// consumer while the service answered ready; and the most messages it held then.
#[derive(Debug, Clone, Default)]
pub struct Stuck {
    pub seconds: f64,
    pub ready_messages: u64,
}

#[derive(Clone, Default)]
pub struct Watch {
    stuck: Arc<Mutex<HashMap<String, Stuck>>>,
}

impl Watch {
    /// Services whose queue was stuck longer than [`STUCK_AFTER`] while they answered ready.
    pub fn hangs(&self) -> Vec<(String, Stuck)> {
        let stuck = self.stuck.lock().unwrap_or_else(|p| p.into_inner());
        let mut hangs: Vec<_> = stuck
            .iter()
            .filter(|(_, s)| s.seconds >= STUCK_AFTER.as_secs_f64())
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        hangs.sort_by(|a, b| a.0.cmp(&b.0));
        hangs
    }

    /// Polls until `stop`. `instances` yields each instance's service and readiness URL now
    /// (they move when restarted).
    pub fn start(
        &self,
        broker: Arc<Broker>,
        namespace: String,
        instances: impl Fn() -> Vec<(&'static str, String)> + Send + 'static,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let stuck = self.stuck.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new());
            // Since when each service's queue has been stuck while the service answered ready.
            let mut since: HashMap<String, Instant> = HashMap::new();
            while !stop.is_cancelled() {
                let probes = instances().into_iter().map(|(service, url)| {
                    let client = client.clone();
                    async move {
                        let ready = client.get(&url).send().await.is_ok_and(|r| r.status().is_success());
                        (service, ready)
                    }
                });
                let (answers, queues) = tokio::join!(futures_util::future::join_all(probes), broker.queues());
                let now = Instant::now();
                if let Ok(queues) = queues {
                    for queue in queues {
                        let Some(service) = queue.name.strip_prefix(&format!("{namespace}.")) else { continue };
                        if service.ends_with(".parked") {
                            continue;
                        }
                        let ready = answers.iter().any(|(s, ready)| *s == service && *ready);
                        if queue.ready > 0 && queue.consumers == 0 && ready {
                            let first = *since.entry(service.to_string()).or_insert(now);
                            let mut stuck = stuck.lock().unwrap_or_else(|p| p.into_inner());
                            let entry = stuck.entry(service.to_string()).or_default();
                            entry.seconds = entry.seconds.max((now - first).as_secs_f64());
                            entry.ready_messages = entry.ready_messages.max(queue.ready);
                        } else {
                            since.remove(service);
                        }
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    // Each `rabbitmqctl` starts an Erlang VM: polling harder would load the machine.
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        })
    }
}
