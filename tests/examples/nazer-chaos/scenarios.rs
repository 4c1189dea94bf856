//! The scenarios: each a fresh stack under the steady load, its faults at set times, then
//! quiescence and reconciliation (see `run`).

use std::time::Duration;

use anyhow::{Context, Result};

use crate::network::{Degradation, Net};
use crate::report::Row;
use crate::run::{Campaign, Run, Shape};

/// How long a killed process stays down before it is started again.
const DOWN: Duration = Duration::from_secs(1);

const SERVICES: [&str; 5] = ["intake", "routing", "deadline-timer", "violation-referral", "notification"];

/// kill -9 of each service in turn (twice each; once with `--short`), restarted after a moment.
pub async fn kill(c: &Campaign) -> Result<Row> {
    let mut run = Run::start(c, "kill", Shape { held_work_limit: true, ..Shape::default() }).await?;
    let kills = if c.short { SERVICES.len() } else { 2 * SERVICES.len() };
    // Far enough apart to tell which kill caused which delay.
    let spacing = (run.load_secs() / (kills as f64 + 1.0)).max(6.0);
    for k in 0..kills {
        run.at(spacing * (k + 1) as f64).await;
        run.kill_and_restart(SERVICES[k % SERVICES.len()], DOWN).await?;
    }
    run.finish().await
}

/// Every connection of the campaign's vhost closed every 10 s (four times; once with
/// `--short`), then the RabbitMQ application stopped for `down` and started again.
pub async fn broker(c: &Campaign, name: &str, down: Duration) -> Result<Row> {
    let run = Run::start(c, name, Shape::default()).await?;
    let (closes, every) = if c.short { (1, 4.0) } else { (4, 10.0) };
    let first = if c.short { 3.0 } else { 5.0 };
    for i in 0..closes {
        run.at(first + every * i as f64).await;
        let fault = run.faults.begin(&format!("close_all_connections #{}", i + 1));
        let closed = c.broker.close_connections().await;
        run.faults.end(fault);
        closed?;
    }
    run.at(first + every * closes as f64).await;
    let fault = run.faults.begin(&format!("stop_app {} s", down.as_secs()));
    let stopped = c.broker.stop_app_for(down).await;
    run.faults.end(fault);
    stopped?;
    run.finish().await
}

/// Every backend of the campaign's database terminated every 10 s while the load lasts (once
/// with `--short`).
pub async fn pg_terminate(c: &Campaign) -> Result<Row> {
    let mut run = Run::start(c, "pg-terminate", Shape::default()).await?;
    let times = if c.short { 1 } else { ((run.load_secs() - 5.0) / 10.0).ceil().max(1.0) as usize };
    for i in 0..times {
        run.at(5.0 + 10.0 * i as f64).await;
        let fault = run.faults.begin(&format!("pg_terminate_backend #{}", i + 1));
        let terminated = c.postgres.terminate_backends(run.stack.world.database_name()).await;
        run.faults.end(fault);
        run.notes.push(format!("pg_terminate_backend #{}: {} backends", i + 1, terminated?));
    }
    run.finish().await
}

/// PostgreSQL restarted in immediate mode (a crash for its clients) a third into the load.
pub async fn pg_restart(c: &Campaign) -> Result<Row> {
    let run = Run::start(c, "pg-restart", Shape::default()).await?;
    run.at(run.load_secs() / 3.0).await;
    let fault = run.faults.begin("PostgreSQL restart -m immediate");
    let restarted = c.postgres.restart_immediate().await;
    run.faults.end(fault);
    restarted?;
    run.finish().await
}

/// Three deadline-timer replicas; one killed every 10 s (round the three; once with `--short`)
/// and started again, while deadlines come due.
pub async fn replicas(c: &Campaign) -> Result<Row> {
    let shape = Shape { deadline_timers: 3, held_work_limit: true, ..Shape::default() };
    let mut run = Run::start(c, "replicas", shape).await?;
    // Kills while warnings come due: from one SLA into the load until its end.
    let first = (c.sla_secs as f64).min(run.load_secs() / 2.0);
    let times = if c.short { 1 } else { ((run.load_secs() - first) / 10.0).ceil().max(1.0) as usize };
    for i in 0..times {
        run.at(first + 10.0 * i as f64).await;
        run.kill_and_restart(&format!("deadline-timer-{}", i % 3 + 1), DOWN).await?;
    }
    run.finish().await
}

/// The network to RabbitMQ degraded: slow with some loss, then very slow with more loss (one
/// moderate phase with `--short`). Skipped where the machine cannot do it.
pub async fn network(c: &Campaign) -> Result<Row> {
    let url = reqwest::Url::parse(&c.broker_url).context("the broker URL")?;
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5672);
    let broker: std::net::SocketAddr = match tokio::net::lookup_host((host, port)).await?.next() {
        Some(addr) => addr,
        None => return Ok(Row::skipped("network", format!("{host} does not resolve"))),
    };
    let net = match Net::create(&c.id, broker).await {
        Ok(net) => net,
        Err(why) => return Ok(Row::skipped("network", format!("{why:#}"))),
    };
    let mut through = url.clone();
    let moved = through
        .set_ip_host(net.broker_addr.ip())
        .ok()
        .and_then(|_| through.set_port(Some(net.broker_addr.port())).ok());
    if moved.is_none() {
        net.remove().await;
        return Ok(Row::skipped("network", "the broker URL cannot point into the namespace".into()));
    }
    let overrides = vec![("NAZER__BROKER__URL".to_string(), through.to_string())];
    let outcome = degraded(c, &net, overrides).await;
    net.remove().await;
    let mut row = outcome?;
    row.notes.push("only broker traffic crosses the pair; HTTP and PostgreSQL stay on loopback".into());
    Ok(row)
}

async fn degraded(c: &Campaign, net: &Net, overrides: Vec<(String, String)>) -> Result<Row> {
    let run = Run::start(c, "network", Shape { overrides, ..Shape::default() }).await?;
    let phases: Vec<(f64, f64, Degradation)> = if c.short {
        vec![(3.0, 8.0, Degradation { rate_kbit: 1000, latency_ms: 300, loss_percent: 5 })]
    } else {
        vec![
            (5.0, 20.0, Degradation { rate_kbit: 4000, latency_ms: 100, loss_percent: 2 }),
            (35.0, 15.0, Degradation { rate_kbit: 512, latency_ms: 500, loss_percent: 10 }),
        ]
    };
    let mut notes = Vec::new();
    for (at, lasting, how) in phases {
        run.at(at).await;
        let fault = run.faults.begin(&format!("degraded {lasting:.0} s"));
        let shaped = net.degrade(how).await;
        if shaped.is_ok() {
            tokio::time::sleep(Duration::from_secs_f64(lasting)).await;
        }
        let (full, random) = net.dropped().await;
        net.restore().await;
        run.faults.end(fault);
        shaped?;
        notes.push(format!(
            "degraded {lasting:.0} s at {at:.0} s: {how}; {full} packets dropped from a full queue, {random} at random"
        ));
    }
    let mut row = run.finish().await?;
    row.notes.extend(notes);
    Ok(row)
}
