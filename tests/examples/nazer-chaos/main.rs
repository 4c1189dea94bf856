//! `nazer-chaos`: the fault campaign. Runs the five service binaries over PostgreSQL and
//! RabbitMQ under a steady load with idempotency keys and a local webhook receiver, injects
//! faults (kills, broker connection losses and outages, database connection losses and a
//! restart, deadline-timer replicas killed, poison events, a degraded network to the broker),
//! waits for quiescence, reconciles from the database and the receiver, prints a table per
//! scenario and exits non-zero on any loss, doubling, hang or 5xx.
//!
//! It stops RabbitMQ and restarts PostgreSQL for the whole machine (restored on every exit,
//! Ctrl-C and panics included), so it runs alone.

mod cleanup;
mod faults;
mod load;
mod network;
mod poison;
mod progress;
mod receiver;
mod reconcile;
mod report;
mod run;
mod scenarios;
mod stack;
#[path = "../../tests/support/mod.rs"]
mod support;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Row;
use crate::run::Campaign;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// kill -9 of each service in turn, twice each, restarted after a moment.
    Kill,
    /// Poison events published to the exchange: parked, the flow barely delayed.
    Poison,
    /// Three deadline-timer replicas, one killed every 10 s, while deadlines come due.
    Replicas,
    /// pg_terminate_backend of the campaign's database every 10 s.
    PgTerminate,
    /// PostgreSQL restarted in immediate mode under load.
    PgRestart,
    /// The vhost's connections closed every 10 s (×4), then RabbitMQ stopped for 15 s.
    Broker,
    /// As `broker`, with RabbitMQ stopped for 60 s.
    BrokerLong,
    /// The network to RabbitMQ degraded (rate, queueing delay, random loss).
    Network,
}

impl Scenario {
    fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
    }
}

#[derive(Parser)]
#[command(name = "nazer-chaos", about = "Nazer's fault campaign", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Scenarios to run, in order (default: all; with --short, all but broker-long).
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// The CI version: fewer messages, each fault once.
    #[arg(long)]
    short: bool,
    /// Messages per scenario (default 3000; 600 with --short).
    #[arg(long)]
    messages: Option<usize>,
    /// Messages a second (default 50; 20 with --short).
    #[arg(long)]
    rate: Option<f64>,
    /// The respond budget in seconds, one reminder at half of it (default 20; 8 with --short).
    #[arg(long)]
    sla_secs: Option<u64>,
    /// Longest delay a killed process may cause (held work), in seconds.
    #[arg(long, default_value_t = 5.0)]
    max_delay_secs: f64,
    /// Longest recovery after a fault before it counts as a hang, in seconds.
    #[arg(long, default_value_t = 60.0)]
    recovery_limit_secs: f64,
    /// How long to wait after the load for the flow to be quiet before it counts as a hang, in
    /// seconds (default: the respond budget + 180, enough for a webhook's 120 s lease to end;
    /// + 60 with --short).
    #[arg(long)]
    quiet_limit_secs: Option<u64>,
    /// A PostgreSQL server the campaign may create databases on.
    #[arg(long, env = "NAZER_TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
    /// The RabbitMQ broker (its vhost is replaced by the campaign's own).
    #[arg(long, env = "NAZER_TEST_BROKER_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    broker_url: String,
    /// Copy the logs of each failed scenario's processes into DIR/<scenario>/.
    #[arg(long, value_name = "DIR")]
    keep_logs: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Relays TCP connections (the network scenario runs it inside its namespace).
    #[command(hide = true)]
    Forward {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        to: SocketAddr,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Forward { listen, to }) = cli.command {
        return match network::forward(listen, to).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("forward: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    cleanup::install();
    let _guard = cleanup::ExitGuard;
    match campaign(cli).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("nazer-chaos: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the chosen scenarios; true when none failed.
async fn campaign(cli: Cli) -> Result<bool> {
    let started = std::time::Instant::now();
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let vhost = format!("nazer-chaos-{id}");
    let mut broker_url = reqwest::Url::parse(&cli.broker_url).context("--broker-url")?;
    let user = match broker_url.username() {
        "" => "guest".to_string(),
        user => user.to_string(),
    };
    broker_url.set_path(&format!("/{vhost}"));
    let cluster = faults::local_cluster().unwrap_or_else(|| ("15".into(), "main".into()));
    // Built before anything is changed, so a failing build changes nothing.
    tokio::task::spawn_blocking(|| crate::support::binary("nazer")).await?;
    let (broker, _vhost) = faults::Broker::create(&vhost, &user).await.context("the campaign's vhost")?;
    let short = cli.short;
    let sla_secs = cli.sla_secs.unwrap_or(if short { 8 } else { 20 });
    let c = Arc::new(Campaign {
        id,
        short,
        messages: cli.messages.unwrap_or(if short { 600 } else { 3000 }),
        rate: cli.rate.unwrap_or(if short { 20.0 } else { 50.0 }),
        sla_secs,
        max_delay: cli.max_delay_secs,
        recovery_limit: cli.recovery_limit_secs,
        quiet_limit: Duration::from_secs(cli.quiet_limit_secs.unwrap_or(sla_secs + if short { 60 } else { 180 })),
        database_url: cli.database_url.clone(),
        broker_url: broker_url.to_string(),
        broker: Arc::new(broker),
        postgres: faults::Postgres::new(&cli.database_url, cluster)?,
        keep_logs: cli.keep_logs.clone(),
    });
    let scenarios: Vec<Scenario> = if cli.scenarios.is_empty() {
        Scenario::value_variants().iter().copied().filter(|s| !(short && *s == Scenario::BrokerLong)).collect()
    } else {
        cli.scenarios.clone()
    };
    println!(
        "nazer-chaos {}: {} messages at {}/s per scenario, respond budget {} s (reminder at half), vhost {}; scenarios: {}",
        if short { "short" } else { "full" },
        c.messages,
        c.rate,
        c.sla_secs,
        vhost,
        scenarios.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
    );
    let mut rows = Vec::new();
    for scenario in scenarios {
        let name = scenario.name();
        println!("\n== {name}");
        let began = std::time::Instant::now();
        let task = tokio::spawn(run_scenario(c.clone(), scenario));
        let row = match task.await {
            Ok(Ok(row)) => row,
            Ok(Err(error)) => Row::aborted(&name, format!("{error:#}"), began.elapsed().as_secs_f64()),
            Err(panic) => Row::aborted(&name, panic_text(panic), began.elapsed().as_secs_f64()),
        };
        // Whatever the scenario left (it restores its own faults; this is the safety net).
        cleanup::run_all(true);
        println!("{}", report::detail(&row));
        rows.push(row);
        // Let the servers settle between scenarios.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!("\n== summary ({:.0} s)\n{}", started.elapsed().as_secs_f64(), report::summary(&rows));
    Ok(rows.iter().all(|r| r.failures.is_empty()))
}

async fn run_scenario(c: Arc<Campaign>, scenario: Scenario) -> Result<Row> {
    let c = c.as_ref();
    match scenario {
        Scenario::Kill => scenarios::kill(c).await,
        Scenario::Poison => poison::poison(c).await,
        Scenario::Replicas => scenarios::replicas(c).await,
        Scenario::PgTerminate => scenarios::pg_terminate(c).await,
        Scenario::PgRestart => scenarios::pg_restart(c).await,
        Scenario::Broker => scenarios::broker(c, "broker", Duration::from_secs(15)).await,
        Scenario::BrokerLong => scenarios::broker(c, "broker-long", Duration::from_secs(60)).await,
        Scenario::Network => scenarios::network(c).await,
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into()),
        Err(error) => error.to_string(),
    }
}
