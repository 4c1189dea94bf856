//! The five service binaries (deadline-timer possibly as several replicas) in one world: its
//! own database and broker namespace, with restarts that keep each log.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::support::{Endpoints, Process, World};
use anyhow::{Context, Result, bail};
use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::{Db, count_rows};

use crate::cleanup::{self, Token};
use crate::load::Target;

/// How long a (re)started process may take to answer ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One running process of a service.
pub struct Running {
    /// The instance's name: the service, or `deadline-timer-2` for a replica.
    pub name: String,
    /// The binary (and service) it runs.
    pub service: &'static str,
    pub process: Process,
    starts: u32,
    exit: Option<Token>,
}

impl Running {
    fn disarm(&mut self) {
        if let Some(token) = self.exit.take() {
            token.disarm();
        }
    }
}

/// The process is killed with it (`Process`'s own drop): nothing left to undo at exit.
impl Drop for Running {
    fn drop(&mut self) {
        self.disarm();
    }
}

pub struct Stack {
    pub world: World,
    pub running: Vec<Running>,
    /// Intake's address, followed by the load across restarts.
    pub intake: Target,
    /// The campaign's own connections to the world's database.
    pub db: Db,
    /// Settings every process of this stack gets on top of the world's.
    overrides: Vec<(String, String)>,
}

fn spawn(world: &World, name: &str, service: &str, starts: u32, overrides: &[(String, String)]) -> (Process, Token) {
    let label = if starts == 1 { name.to_string() } else { format!("{name}.{starts}") };
    let pairs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let process = world.spawn_with(&label, service, &pairs);
    let pid = process.id().to_string();
    let exit = cleanup::at_exit(&format!("kill {label}"), move || {
        cleanup::run_command("kill", &["-KILL", &pid]);
    });
    (process, exit)
}

impl Stack {
    /// Starts every service (`deadline_timers` replicas of deadline-timer) and waits until each
    /// is ready.
    pub async fn start(world: World, deadline_timers: usize, overrides: Vec<(String, String)>) -> Result<Self> {
        let settings =
            DatabaseSettings { url: Some(world.database.url.clone()), pool_size: 3, connect_timeout_secs: 5 };
        let db = Db::open(&settings).context("the campaign's connection to its database")?;
        let mut instances: Vec<(String, &'static str)> =
            vec![("intake".into(), "intake"), ("routing".into(), "routing")];
        if deadline_timers == 1 {
            instances.push(("deadline-timer".into(), "deadline-timer"));
        } else {
            instances.extend((1..=deadline_timers).map(|i| (format!("deadline-timer-{i}"), "deadline-timer")));
        }
        instances.push(("violation-referral".into(), "violation-referral"));
        instances.push(("notification".into(), "notification"));
        let mut running = Vec::new();
        for (name, service) in instances {
            let (process, exit) = spawn(&world, &name, service, 1, &overrides);
            running.push(Running { name, service, process, starts: 1, exit: Some(exit) });
        }
        let intake = Arc::new(RwLock::new(String::new()));
        let mut stack = Self { world, running, intake, db, overrides };
        for instance in &mut stack.running {
            ready(&mut instance.process).await?;
        }
        let base = stack.instance("intake")?.process.base.clone();
        *stack.intake.write().unwrap_or_else(|p| p.into_inner()) = base;
        Ok(stack)
    }

    pub fn instance(&self, name: &str) -> Result<&Running> {
        self.running.iter().find(|r| r.name == name).with_context(|| format!("no instance {name}"))
    }

    fn instance_mut(&mut self, name: &str) -> Result<&mut Running> {
        self.running.iter_mut().find(|r| r.name == name).with_context(|| format!("no instance {name}"))
    }

    pub fn endpoints(&self) -> Result<Endpoints> {
        Ok(Endpoints {
            intake: self.instance("intake")?.process.base.clone(),
            routing: self.instance("routing")?.process.base.clone(),
            deadline_timer: self
                .running
                .iter()
                .find(|r| r.service == "deadline-timer")
                .context("no deadline-timer")?
                .process
                .base
                .clone(),
            notification: self.instance("notification")?.process.base.clone(),
        })
    }

    /// SIGKILL, as a crash or an OOM kill would do.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let instance = self.instance_mut(name)?;
        instance.process.kill();
        instance.disarm();
        Ok(())
    }

    /// Starts a killed instance again (a fresh port and log) and waits until it is ready.
    pub async fn restart(&mut self, name: &str) -> Result<()> {
        let index = self.running.iter().position(|r| r.name == name).with_context(|| format!("no instance {name}"))?;
        let (service, starts) = (self.running[index].service, self.running[index].starts + 1);
        let (process, exit) = spawn(&self.world, name, service, starts, &self.overrides);
        let instance = &mut self.running[index];
        // The old process is dead already: replacing it only reaps it.
        instance.process = process;
        instance.starts = starts;
        instance.exit = Some(exit);
        ready(&mut instance.process).await?;
        if name == "intake" {
            *self.intake.write().unwrap_or_else(|p| p.into_inner()) = instance.process.base.clone();
        }
        Ok(())
    }

    /// Each instance's name, service and readiness URL.
    pub fn readiness_urls(&self) -> Vec<(String, &'static str, String)> {
        self.running.iter().map(|r| (r.name.clone(), r.service, r.process.url("/readyz"))).collect()
    }

    /// Every log of an instance of `service` so far (restarts included).
    pub fn logs_of(&self, service: &str) -> String {
        let Ok(entries) = std::fs::read_dir(self.world.log_dir()) else { return String::new() };
        let mut logs: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(service) && n.ends_with(".log"))
            })
            .collect();
        logs.sort();
        logs.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect()
    }

    /// One number from the world's database (a `SELECT … AS n` of a bigint).
    pub async fn count(&self, query: String) -> Result<i64> {
        let db = self.db.clone();
        let n = tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            count_rows(&mut conn, &query)
        })
        .await??;
        Ok(n)
    }

    /// Stops every process (SIGTERM, then SIGKILL) and copies the logs to `keep` when given.
    pub fn stop(mut self, keep: Option<&std::path::Path>) {
        for instance in &mut self.running {
            instance.process.terminate();
            instance.disarm();
        }
        if let Some(dir) = keep {
            let copied = std::fs::create_dir_all(dir).and_then(|_| {
                for entry in std::fs::read_dir(self.world.log_dir())?.flatten() {
                    std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
                }
                Ok(())
            });
            match copied {
                Ok(()) => eprintln!("logs kept in {}", dir.display()),
                Err(error) => eprintln!("logs not kept: {error}"),
            }
        }
    }
}

async fn ready(process: &mut Process) -> Result<()> {
    // `wait_ready` panics with the log when the process dies or never answers: that panic
    // ends the scenario (the campaign goes on with the next one).
    let waited = tokio::time::timeout(READY_WITHIN + Duration::from_secs(5), process.wait_ready(READY_WITHIN)).await;
    if waited.is_err() {
        bail!("{} not ready", process.name);
    }
    Ok(())
}
