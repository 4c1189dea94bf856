//! Deadline-timer replicas as real processes over PostgreSQL and RabbitMQ
//! (NAZER_TEST_DATABASE_URL, NAZER_TEST_BROKER_URL): three racing the same due set register
//! each warning exactly once, and one killed in the middle of a burst and started again loses
//! nothing and doubles nothing. Skipped without them, except with CI=true.

mod support;

use std::time::Duration;

use chrono::Utc;
use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::Db;
use support::{Process, World};

struct Replicas {
    world: World,
    db: Db,
}

impl Replicas {
    fn prepare() -> Option<Self> {
        let world = World::prepare(&[("NAZER__DEADLINES__MAX_IDLE_MS", "200")])?;
        let settings = DatabaseSettings { url: Some(world.database.url.clone()), pool_size: 2, ..Default::default() };
        let db = Db::open(&settings).unwrap();
        Some(Self { world, db })
    }

    async fn spawn(&self, name: &str) -> Process {
        let mut process = self.world.spawn(name, "deadline-timer");
        process.wait_ready(Duration::from_secs(30)).await;
        process
    }

    fn count(&self, query: &str) -> i64 {
        nazer_shared::db::count_rows(&mut self.db.get().unwrap(), query).unwrap()
    }

    /// Waits until no deadline has a step to come and `expected` warnings exist.
    async fn wait_until_fired(&self, expected: i64, replicas: &[&Process]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        loop {
            let left = self.count("SELECT count(*) AS n FROM deadlines WHERE next_fire_at IS NOT NULL");
            let warned = self.count("SELECT count(*) AS n FROM warnings");
            if left == 0 && warned >= expected {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let logs: String = replicas.iter().map(|p| format!("--- {} ---\n{}", p.name, p.output())).collect();
                panic!("{left} deadlines still running, {warned} warnings of {expected}:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Exactly one warning, and one warning.issued event, per deadline.
    fn expect_each_warned_once(&self, expected: i64) {
        assert_eq!(self.count("SELECT count(*) AS n FROM warnings"), expected, "warnings");
        assert_eq!(self.count("SELECT count(DISTINCT deadline_id) AS n FROM warnings"), expected, "warned deadlines");
        assert_eq!(self.count("SELECT count(*) AS n FROM deadlines WHERE state = 'breached'"), expected);
        let events = self.count("SELECT count(*) AS n FROM outbox WHERE event_type = 'warning.issued'");
        assert_eq!(events, expected, "one warning.issued per warning");
        let distinct = self.count(
            "SELECT count(DISTINCT (envelope::json -> 'payload' ->> 'deadline_id')) AS n FROM outbox \
             WHERE event_type = 'warning.issued'",
        );
        assert_eq!(distinct, expected, "no deadline announced twice");
    }
}

/// How many warnings a replica's log says it registered; each complete line names the
/// warning's level (1 to 3) beside the line's own log level.
fn registered_by(process: &Process) -> usize {
    let output = process.output();
    let lines: Vec<&str> = output.lines().filter(|line| line.contains("\"warning registered\"")).collect();
    // The last line may still be being written.
    for line in lines.iter().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()) {
        assert!(matches!(line["warning_level"].as_i64(), Some(1..=3)), "no warning level: {line}");
        assert_eq!(line["level"], "INFO", "{line}");
    }
    lines.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_racing_a_burst_register_each_warning_once() {
    let Some(replicas) = Replicas::prepare() else { return };
    const BURST: i64 = 30_000;
    let mut processes = vec![replicas.spawn("replica-1").await, replicas.spawn("replica-2").await];
    processes.push(replicas.spawn("replica-3").await);
    // Due in two seconds, so all three are polling when it comes.
    let due = Utc::now() + chrono::Duration::seconds(2);
    nazer_deadline_timer::seeding::insert_due_deadlines(&mut replicas.db.get().unwrap(), "race", BURST, due).unwrap();
    replicas.wait_until_fired(BURST, &processes.iter().collect::<Vec<_>>()).await;
    replicas.expect_each_warned_once(BURST);
    // A replica logs each warning after its batch commits: give the last lines time to land.
    let mut shares: Vec<usize> = processes.iter().map(registered_by).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (shares.iter().sum::<usize>() as i64) < BURST && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        shares = processes.iter().map(registered_by).collect();
    }
    assert_eq!(shares.iter().sum::<usize>() as i64, BURST, "the replicas' own accounts add up: {shares:?}");
    assert!(shares.iter().filter(|&&n| n > 0).count() >= 2, "the replicas shared the burst: {shares:?}");
    for process in &mut processes {
        process.terminate();
    }
    replicas.world.delete_queues().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_burst_and_restarted_loses_and_doubles_nothing() {
    let Some(replicas) = Replicas::prepare() else { return };
    const BURST: i64 = 60_000;
    let mut first = replicas.spawn("replica-before").await;
    nazer_deadline_timer::seeding::insert_due_deadlines(&mut replicas.db.get().unwrap(), "kill", BURST, Utc::now())
        .unwrap();
    // Killed once the burst is under way, with most of it still to fire.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while replicas.count("SELECT count(*) AS n FROM warnings") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the burst never started:\n{}", first.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let at_kill = replicas.count("SELECT count(*) AS n FROM warnings");
    assert!(at_kill < BURST, "the replica finished the burst before it could be killed ({at_kill})");

    let mut second = replicas.spawn("replica-after").await;
    replicas.wait_until_fired(BURST, &[&first, &second]).await;
    replicas.expect_each_warned_once(BURST);
    assert!(registered_by(&second) > 0, "the restarted replica took over");
    eprintln!(
        "killed after {at_kill} of {BURST} warnings; the restarted replica registered {}",
        registered_by(&second)
    );
    second.terminate();
    replicas.world.delete_queues().await;
}
