//! One scenario's run: a fresh world and stack, the receiver, the policy, the load and the
//! watchers; the scenario injects its faults; then quiescence and reconciliation.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::support::World;
use anyhow::Result;
use chrono::{DateTime, Utc};
use nazer_shared::testing::ADMIN_KEY;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::faults::{Broker, Postgres};
use crate::load::Load;
use crate::progress::{self, Faults};
use crate::receiver::Receiver;
use crate::reconcile::{self, Expect};
use crate::report::Row;
use crate::stack::Stack;
use crate::watch::Watch;

/// The campaign's settings, shared by its scenarios.
pub struct Campaign {
    pub id: String,
    pub short: bool,
    pub messages: usize,
    pub rate: f64,
    /// The respond budget, in seconds; one reminder at half of it.
    pub sla_secs: u64,
    /// Longest delay a killed process may cause (held work), in seconds.
    pub max_delay: f64,
    /// Longest recovery after a fault, in seconds, before it counts as a hang.
    pub recovery_limit: f64,
    /// How long to wait after the load for the flow to be quiet before it counts as a hang.
    pub quiet_limit: Duration,
    pub database_url: String,
    /// The broker URL on the campaign's vhost.
    pub broker_url: String,
    pub broker: Arc<Broker>,
    pub postgres: Postgres,
    pub keep_logs: Option<PathBuf>,
}

impl Campaign {
    /// How long the load of one scenario lasts, in seconds.
    pub fn load_secs(&self) -> f64 {
        self.messages as f64 / self.rate
    }
}

/// Settings of every process: fast loops, few connections each (the server is shared).
const PROCESS_SETTINGS: [(&str, &str); 7] = [
    ("NAZER__OUTBOX__POLL_INTERVAL_MS", "100"),
    ("NAZER__WEBHOOKS__POLL_INTERVAL_MS", "100"),
    ("NAZER__WEBHOOKS__INITIAL_BACKOFF_MS", "200"),
    ("NAZER__WEBHOOKS__MAX_BACKOFF_MS", "2000"),
    ("NAZER__DEADLINES__MAX_IDLE_MS", "500"),
    ("NAZER__DATABASE__POOL_SIZE", "4"),
    ("NAZER__LOG__LEVEL", "info"),
];

/// Disarms its undo when dropped: what it undoes went away by itself.
struct Disarm(Option<crate::cleanup::Token>);

impl Drop for Disarm {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.disarm();
        }
    }
}

/// How a scenario's stack is made.
#[derive(Default)]
pub struct Shape {
    pub deadline_timers: usize,
    /// Settings of every process on top of the world's (the network scenario's broker address).
    pub overrides: Vec<(String, String)>,
    /// Fail a fault that held work longer than the campaign's `max_delay`, and any skipped
    /// reminder (restarts of processes).
    pub held_work_limit: bool,
    pub expect_parked: i64,
}

pub struct Run<'c> {
    pub campaign: &'c Campaign,
    pub name: String,
    pub stack: Stack,
    pub faults: Faults,
    receiver: Receiver,
    load: Load,
    watch: Watch,
    readiness: Arc<RwLock<Vec<(&'static str, String)>>>,
    stop: CancellationToken,
    /// Stops the watchers however the run ends.
    _stop_on_drop: tokio_util::sync::DropGuard,
    /// The world drops its database with it; this only covers an interrupted campaign.
    _database: Disarm,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    load_started: DateTime<Utc>,
    started: tokio::time::Instant,
    shape: Shape,
    pub notes: Vec<String>,
    pub failures: Vec<String>,
}

impl<'c> Run<'c> {
    pub async fn start(campaign: &'c Campaign, name: &str, shape: Shape) -> Result<Self> {
        let started = tokio::time::Instant::now();
        let mut settings: Vec<(&str, &str)> = PROCESS_SETTINGS.to_vec();
        settings.push(("NAZER__BROKER__URL", campaign.broker_url.as_str()));
        let (database_url, broker_url) = (campaign.database_url.clone(), campaign.broker_url.clone());
        let owned: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Creating the database and migrating block: off the runtime's threads.
        let world = tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            World::create(&database_url, &broker_url, &pairs)
        })
        .await?;
        let database = Disarm(Some(campaign.postgres.drop_at_exit(world.database_name())));
        let stack = Stack::start(world, shape.deadline_timers.max(1), shape.overrides.clone()).await?;
        let receiver = Receiver::start();
        let sla = campaign.sla_secs;
        let stage = json!({"stage": "respond", "budget": format!("PT{sla}S"), "reminders": [0.5]});
        crate::support::configure_stage(&stack.endpoints()?, ADMIN_KEY, stage, &format!("{}/agency", receiver.url))
            .await;

        let stop = CancellationToken::new();
        let faults = Faults::default();
        let watch = Watch::default();
        let readiness = Arc::new(RwLock::new(Vec::new()));
        let mut tasks = vec![faults.watch(&stack, stop.clone())];
        let urls = readiness.clone();
        tasks.push(watch.start(
            campaign.broker.clone(),
            stack.world.namespace().to_string(),
            move || urls.read().unwrap_or_else(|p| p.into_inner()).clone(),
            stop.clone(),
        ));
        let load = Load::start(stack.intake.clone(), ADMIN_KEY, name, campaign.messages, campaign.rate);
        let mut run = Self {
            campaign,
            name: name.to_string(),
            stack,
            faults,
            receiver,
            load,
            watch,
            readiness,
            _stop_on_drop: stop.clone().drop_guard(),
            _database: database,
            stop,
            tasks,
            load_started: Utc::now(),
            started,
            shape,
            notes: Vec::new(),
            failures: Vec::new(),
        };
        run.refresh_readiness();
        Ok(run)
    }

    fn refresh_readiness(&mut self) {
        let urls = self.stack.readiness_urls().into_iter().map(|(_, service, url)| (service, url)).collect();
        *self.readiness.write().unwrap_or_else(|p| p.into_inner()) = urls;
    }

    pub fn load_secs(&self) -> f64 {
        self.campaign.load_secs()
    }

    /// Waits until `secs` after the load began (at once if that has passed).
    pub async fn at(&self, secs: f64) {
        let when = self.load_started + chrono::Duration::milliseconds((secs * 1000.0) as i64);
        let wait = (when - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }

    /// Kills an instance (SIGKILL), waits `down`, starts it again and waits until it is ready.
    pub async fn kill_and_restart(&mut self, name: &str, down: Duration) -> Result<()> {
        let service = self.stack.instance(name)?.service;
        let fault = self.faults.begin_kill(&format!("kill -9 {name}"), service);
        self.stack.kill(name)?;
        tokio::time::sleep(down).await;
        let restarted = self.stack.restart(name).await;
        self.faults.end(fault);
        self.refresh_readiness();
        restarted
    }

    /// Waits for the load to end and the flow to be quiet, reconciles and stops everything.
    pub async fn finish(self) -> Result<Row> {
        let Self {
            campaign,
            name,
            stack,
            faults,
            receiver,
            load,
            watch,
            stop,
            tasks,
            load_started,
            started,
            shape,
            notes,
            failures,
            ..
        } = self;
        let load = load.finish().await;
        let (mut failures, mut notes) = (failures, notes);
        let quiet_within = campaign.quiet_limit;
        if let Some(backlog) = quiesce(&stack, &faults, &receiver, quiet_within).await? {
            failures.push(format!("hang: not quiet {} s after the load: {backlog}", quiet_within.as_secs()));
            notes.push("counted when the wait ran out: what is missing was not done within it".into());
        }
        stop.cancel();
        for task in tasks {
            let _ = task.await;
        }
        // An outage longer than the reminder's lead over the warning may skip reminders.
        let lead = campaign.sla_secs as f64 / 2.0;
        let longest_outage = faults.all().iter().map(|f| f.lasted_secs()).fold(0.0, f64::max);
        let every_reminder = shape.held_work_limit || longest_outage + 2.0 < lead;
        let expect = Expect { reminders: 1, parked: shape.expect_parked, every_reminder };
        let receipts = receiver.receipts();
        let mut row =
            reconcile::reconcile(&stack, &campaign.broker, &load, &receipts, &faults.all(), load_started, &expect)
                .await?;
        row.scenario = name.clone();
        row.notes.extend(notes);
        row.failures.extend(failures);
        judge(&mut row, campaign, &shape, &watch);
        row.seconds = started.elapsed().as_secs_f64();
        let keep = campaign.keep_logs.as_ref().filter(|_| !row.failures.is_empty()).map(|dir| dir.join(&name));
        stack.world.delete_queues().await;
        stack.stop(keep.as_deref());
        receiver.stop().await;
        Ok(row)
    }
}

/// The failures beyond counting: recoveries too slow, held work, a hang while ready.
fn judge(row: &mut Row, campaign: &Campaign, shape: &Shape, watch: &Watch) {
    for fault in &row.faults {
        match fault.recovery {
            None => row.failures.push(format!("hang: the flow never caught up after `{}`", fault.label)),
            Some(s) if s > campaign.recovery_limit => row.failures.push(format!(
                "hang: the flow caught up {s:.1} s after `{}` (limit {:.0} s)",
                fault.label, campaign.recovery_limit
            )),
            Some(_) => {}
        }
        let Some(killed) = fault.killed.filter(|_| shape.held_work_limit) else { continue };
        let (longest, what) = fault.delays.held(killed);
        if longest > campaign.max_delay {
            row.failures.push(format!(
                "`{}` held work for {longest:.1} s ({what}; target {:.0} s)",
                fault.label, campaign.max_delay
            ));
        }
    }
    for (service, stuck) in watch.hangs() {
        row.failures.push(format!(
            "ready while not consuming: {service}'s queue held up to {} ready messages with no consumer for {:.0} s \
             while {service} answered ready",
            stuck.ready_messages, stuck.seconds
        ));
    }
}

/// Waits until nothing is left to do (every message assigned, every event published and
/// consumed, no step to come, no webhook pending, each event's webhook received) and every
/// fault recovered; what is left when `within` runs out.
async fn quiesce(stack: &Stack, faults: &Faults, receiver: &Receiver, within: Duration) -> Result<Option<String>> {
    let began = tokio::time::Instant::now();
    let deadline = began + within;
    let mut told = began;
    let webhook_events = reconcile::webhook_events_query();
    loop {
        let mut left = Vec::new();
        for (what, query) in progress::backlog_queries() {
            let n = stack.count(query).await.unwrap_or(-1);
            if n != 0 {
                left.push(format!("{n} {what}"));
            }
        }
        let expected = stack.count(webhook_events.replace("event_id, created_at", "count(*) AS n")).await.unwrap_or(-1);
        let received: std::collections::HashSet<String> = receiver.receipts().into_iter().map(|r| r.event_id).collect();
        if (received.len() as i64) < expected {
            left.push(format!("{} webhooks not received", expected - received.len() as i64));
        }
        if !faults.all_recovered() {
            left.push("a fault not recovered".into());
        }
        if left.is_empty() {
            println!("  quiet {:.0} s after the load", began.elapsed().as_secs_f64());
            return Ok(None);
        }
        if told.elapsed() >= Duration::from_secs(20) {
            told = tokio::time::Instant::now();
            println!("  waiting for quiet ({:.0} s): {}", began.elapsed().as_secs_f64(), left.join(", "));
        }
        if tokio::time::Instant::now() > deadline {
            return Ok(Some(left.join(", ")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
