//! The faults, as commands on the servers: RabbitMQ through `rabbitmqctl` (connections of the
//! campaign's vhost only, or the whole application), PostgreSQL through its own connections
//! (backends of the campaign's database only) or `pg_ctlcluster` (the whole server). A fault
//! that touches a shared server registers its restoration before it is made.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::{Db, count_rows};

use crate::cleanup::{self, Token};

async fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !output.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The campaign's RabbitMQ vhost.
pub struct Broker {
    pub vhost: String,
}

/// One queue as `rabbitmqctl list_queues` shows it.
#[derive(Debug, Clone)]
pub struct QueueState {
    pub name: String,
    pub ready: u64,
    pub consumers: u64,
}

impl Broker {
    /// Creates the vhost, lets `user` use it, and removes it at exit.
    pub async fn create(vhost: &str, user: &str) -> Result<(Self, Token)> {
        run("rabbitmqctl", &["-q", "add_vhost", vhost]).await?;
        let name = vhost.to_string();
        let token = cleanup::at_exit(&format!("delete RabbitMQ vhost {vhost}"), move || {
            cleanup::run_command("rabbitmqctl", &["-q", "delete_vhost", &name]);
        });
        run("rabbitmqctl", &["-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"]).await?;
        Ok((Self { vhost: vhost.to_string() }, token))
    }

    /// Closes every client connection of the campaign's vhost (nobody else's).
    pub async fn close_connections(&self) -> Result<()> {
        run(
            "rabbitmqctl",
            &["-q", "close_all_connections", "--vhost", &self.vhost, "--limit", "10000", "nazer fault campaign"],
        )
        .await
        .map(|_| ())
    }

    /// Stops the RabbitMQ application (for everyone on this machine) for `down`, then starts
    /// it again; started again whatever happens to the campaign in between.
    pub async fn stop_app_for(&self, down: Duration) -> Result<()> {
        let restore = cleanup::restore("start the RabbitMQ application", || {
            cleanup::run_command("rabbitmqctl", &["-q", "start_app"]);
        });
        let stopped = run("rabbitmqctl", &["-q", "stop_app"]).await;
        if stopped.is_ok() {
            tokio::time::sleep(down).await;
        }
        let started = run("rabbitmqctl", &["-q", "start_app"]).await;
        if started.is_ok() {
            restore.disarm();
        } else {
            restore.run();
        }
        stopped?;
        started.map(|_| ())
    }

    /// The campaign's queues: messages ready and consumers, or an error while the broker is away.
    pub async fn queues(&self) -> Result<Vec<QueueState>> {
        let text = run(
            "rabbitmqctl",
            &["-q", "list_queues", "--no-table-headers", "--vhost", &self.vhost, "name", "messages_ready", "consumers"],
        )
        .await?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let name = fields.next()?.to_string();
                let ready = fields.next()?.parse().ok()?;
                let consumers = fields.next()?.parse().ok()?;
                Some(QueueState { name, ready, consumers })
            })
            .collect())
    }
}

/// The PostgreSQL server the campaign's databases live on.
pub struct Postgres {
    admin: Db,
    admin_url: String,
    /// `<version> <cluster>` for `pg_ctlcluster`, e.g. `15 main`.
    cluster: (String, String),
}

impl Postgres {
    pub fn new(admin_url: &str, cluster: (String, String)) -> Result<Self> {
        let settings = DatabaseSettings { url: Some(admin_url.to_string()), pool_size: 1, connect_timeout_secs: 5 };
        let admin = Db::open(&settings).context("the PostgreSQL admin connection")?;
        Ok(Self { admin, admin_url: admin_url.to_string(), cluster })
    }

    /// Drops `database` at exit unless disarmed (a scenario's world drops its own database;
    /// an interrupted campaign does not get that far).
    pub fn drop_at_exit(&self, database: &str) -> Token {
        let (url, name) = (self.admin_url.clone(), database.to_string());
        cleanup::at_exit(&format!("drop database {database}"), move || {
            use diesel::{Connection, RunQueryDsl};
            if let Ok(mut admin) = diesel::PgConnection::establish(&url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
            }
        })
    }

    /// Terminates every backend connected to `database` (the campaign's, never another's);
    /// how many.
    pub async fn terminate_backends(&self, database: &str) -> Result<i64> {
        // The name comes from the campaign's own world (letters, digits and '_').
        anyhow::ensure!(database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "odd database name");
        let query = format!(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        );
        let admin = self.admin.clone();
        let terminated = tokio::task::spawn_blocking(move || {
            let mut conn = admin.get()?;
            count_rows(&mut conn, &query)
        })
        .await??;
        Ok(terminated)
    }

    /// Restarts the whole server in immediate mode (a crash for its clients); started again
    /// whatever happens to the campaign in between.
    pub async fn restart_immediate(&self) -> Result<()> {
        let (version, cluster) = self.cluster.clone();
        let (v, c) = (version.clone(), cluster.clone());
        let restore = cleanup::restore("start PostgreSQL", move || {
            if !cleanup::run_command("pg_isready", &["-q", "-h", "127.0.0.1"]) {
                cleanup::run_command("pg_ctlcluster", &["--skip-systemctl-redirect", &v, &c, "start"]);
            }
        });
        let restarted =
            run("pg_ctlcluster", &["--skip-systemctl-redirect", &version, &cluster, "restart", "-m", "immediate"])
                .await;
        for _ in 0..60 {
            if run("pg_isready", &["-q", "-h", "127.0.0.1"]).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        restore.run();
        restarted.map(|_| ())
    }
}

/// The first cluster `pg_lsclusters` would list: `/etc/postgresql/<version>/<cluster>`.
pub fn local_cluster() -> Option<(String, String)> {
    let mut versions: Vec<_> = std::fs::read_dir("/etc/postgresql").ok()?.flatten().map(|e| e.file_name()).collect();
    versions.sort();
    let version = versions.first()?.to_string_lossy().into_owned();
    let mut clusters: Vec<_> = std::fs::read_dir(format!("/etc/postgresql/{version}"))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    clusters.sort();
    let cluster = if clusters.iter().any(|c| c == "main") { "main".to_string() } else { clusters.first()?.clone() };
    Some((version, cluster))
}
