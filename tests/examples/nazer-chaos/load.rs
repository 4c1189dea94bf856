//! The steady load: `rate` messages a second, each posted with its own `Idempotency-Key` and
//! retried with the same key until it is accepted — after a connection failure, a timeout or
//! any 5xx, honouring `Retry-After` — so that every answer the campaign counts is a real one
//! and a message is lost only if Nazer loses it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::support::CATEGORY;
use serde_json::json;
use tokio::sync::Semaphore;

/// Where intake answers now (a restarted intake listens elsewhere).
pub type Target = Arc<RwLock<String>>;

/// How long one message is retried before the client gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(240);
/// Requests in flight at most; beyond, the load waits (and its rate drops).
const IN_FLIGHT: usize = 256;

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    replayed: AtomicU64,
    connection_errors: AtomicU64,
    /// 503 with `Retry-After`: the designed answer while the database is down.
    unavailable: AtomicU64,
    /// 503 without `Retry-After`.
    unavailable_bare: AtomicU64,
    /// Any other 5xx.
    server_errors: AtomicU64,
    /// 4xx: the load's requests are valid, so each is a bug.
    refused: AtomicU64,
    gave_up: AtomicU64,
}

/// What the load saw, once it is over.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// The idempotency keys of the accepted messages (201, or 200 for a replay).
    pub accepted: Vec<String>,
    pub replayed: u64,
    pub connection_errors: u64,
    pub unavailable: u64,
    pub unavailable_bare: u64,
    pub server_errors: u64,
    pub refused: u64,
    pub gave_up: u64,
    /// A few unexpected answers (status and problem title), for the report.
    pub examples: Vec<String>,
}

impl LoadReport {
    /// The 5xx the campaign fails on: all but a 503 with `Retry-After`.
    pub fn failing_5xx(&self) -> u64 {
        self.server_errors + self.unavailable_bare
    }
}

struct Shared {
    client: reqwest::Client,
    target: Target,
    key: String,
    counters: Counters,
    accepted: Mutex<Vec<String>>,
    examples: Mutex<Vec<String>>,
}

impl Shared {
    fn example(&self, text: String) {
        let mut examples = self.examples.lock().unwrap_or_else(|p| p.into_inner());
        if examples.len() < 6 {
            examples.push(text);
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(|secs| Duration::from_secs(secs.min(10)))
}

/// Posts message `n` until it is accepted (or given up on).
async fn post_one(shared: Arc<Shared>, prefix: String, n: usize) {
    let body = json!({
        "kind": if n.is_multiple_of(2) { "violation_report" } else { "complaint" },
        "channel": "call_center",
        "category": CATEGORY,
        "body": format!("پیام آزمایشی شماره {n}"),
        "province": "tehran",
    });
    let key = format!("{prefix}-{n}");
    let started = tokio::time::Instant::now();
    let counters = &shared.counters;
    while started.elapsed() < GIVE_UP_AFTER {
        let url = format!("{}/api/v1/messages", shared.target.read().unwrap_or_else(|p| p.into_inner()));
        let sent =
            shared.client.post(&url).bearer_auth(&shared.key).header("Idempotency-Key", &key).json(&body).send().await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => {
                counters.connection_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let wait = retry_after(&response);
        match status {
            200 | 201 => {
                if status == 200 {
                    counters.replayed.fetch_add(1, Ordering::Relaxed);
                }
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                shared.accepted.lock().unwrap_or_else(|p| p.into_inner()).push(key);
                return;
            }
            503 => {
                let counter = if wait.is_some() { &counters.unavailable } else { &counters.unavailable_bare };
                counter.fetch_add(1, Ordering::Relaxed);
                if wait.is_none() {
                    shared.example(format!("503 without Retry-After: {}", problem_title(response).await));
                }
                tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))).await;
            }
            500..=599 => {
                counters.server_errors.fetch_add(1, Ordering::Relaxed);
                shared.example(format!("{status}: {}", problem_title(response).await));
                tokio::time::sleep(wait.unwrap_or(Duration::from_millis(500))).await;
            }
            _ => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                shared.example(format!("{status}: {}", problem_title(response).await));
                return;
            }
        }
    }
    counters.gave_up.fetch_add(1, Ordering::Relaxed);
}

/// The problem's title and detail (never a message's content).
async fn problem_title(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    format!("{} — {}", body["title"].as_str().unwrap_or("?"), body["detail"].as_str().unwrap_or(""))
}

/// The load of one scenario, running in the background.
pub struct Load {
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A scenario that ends early stops its load with it.
impl Drop for Load {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Load {
    /// Starts posting `count` messages at `rate` a second to `target`, with keys `<prefix>-<n>`.
    pub fn start(target: Target, key: &str, prefix: &str, count: usize, rate: f64) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let shared = Arc::new(Shared {
            client,
            target,
            key: key.to_string(),
            counters: Counters::default(),
            accepted: Mutex::default(),
            examples: Mutex::default(),
        });
        let (spawner, prefix) = (shared.clone(), prefix.to_string());
        let task = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut posts = tokio::task::JoinSet::new();
            for n in 0..count {
                tick.tick().await;
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let (shared, prefix) = (spawner.clone(), prefix.clone());
                posts.spawn(async move {
                    post_one(shared, prefix, n).await;
                    drop(slot);
                });
            }
            while posts.join_next().await.is_some() {}
        });
        Self { shared, task: Some(task) }
    }

    /// Waits until every message is accepted or given up on.
    pub async fn finish(mut self) -> LoadReport {
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            eprintln!("the load stopped early: {error}");
        }
        let c = &self.shared.counters;
        LoadReport {
            accepted: self.shared.accepted.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            replayed: c.replayed.load(Ordering::Relaxed),
            connection_errors: c.connection_errors.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            unavailable_bare: c.unavailable_bare.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
            examples: self.shared.examples.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
