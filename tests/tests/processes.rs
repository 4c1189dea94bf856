//! The production shape: the five service binaries as separate processes over PostgreSQL and
//! RabbitMQ (NAZER_TEST_DATABASE_URL, NAZER_TEST_BROKER_URL). Skipped without them, except
//! with CI=true, where their absence fails the run.

mod support;

use std::time::Duration;

use nazer_shared::testing::{ADMIN_KEY, WebhookReceiver, eventually};
use support::{
    Endpoints, Process, World, configure, expect_assigned_and_warned_once, expect_one_warning_per_message,
    expect_signed_webhooks, post_messages,
};

struct Stack {
    world: World,
    intake: Process,
    routing: Process,
    deadline_timer: Process,
    violation_referral: Process,
    notification: Process,
}

impl Stack {
    fn endpoints(&self) -> Endpoints {
        Endpoints {
            intake: self.intake.base.clone(),
            routing: self.routing.base.clone(),
            deadline_timer: self.deadline_timer.base.clone(),
            notification: self.notification.base.clone(),
        }
    }

    fn processes(&mut self) -> [&mut Process; 5] {
        [
            &mut self.intake,
            &mut self.routing,
            &mut self.deadline_timer,
            &mut self.violation_referral,
            &mut self.notification,
        ]
    }

    /// Migrates, then starts the five binaries and waits until each is ready.
    async fn start() -> Option<Self> {
        let world = World::prepare(&[
            ("NAZER__OUTBOX__POLL_INTERVAL_MS", "100"),
            ("NAZER__WEBHOOKS__POLL_INTERVAL_MS", "100"),
            ("NAZER__WEBHOOKS__INITIAL_BACKOFF_MS", "200"),
            ("NAZER__WEBHOOKS__MAX_BACKOFF_MS", "2000"),
            ("NAZER__DEADLINES__MAX_IDLE_MS", "500"),
        ])?;
        let spawn = |name: &str| world.spawn(name, name);
        let (intake, routing, deadline_timer) = (spawn("intake"), spawn("routing"), spawn("deadline-timer"));
        let (violation_referral, notification) = (spawn("violation-referral"), spawn("notification"));
        let mut stack = Self { intake, routing, deadline_timer, violation_referral, notification, world };
        for process in stack.processes() {
            process.wait_ready(Duration::from_secs(30)).await;
        }
        Some(stack)
    }

    /// Stops the five processes and deletes the test's queues.
    async fn stop(mut self) {
        for process in self.processes() {
            process.terminate();
        }
        self.world.delete_queues().await;
    }

    fn dump_logs(&self) -> String {
        [&self.intake, &self.routing, &self.deadline_timer, &self.violation_referral, &self.notification]
            .iter()
            .map(|p| format!("--- {} ---\n{}", p.name, p.output()))
            .collect()
    }
}

async fn wait_for_warning_webhooks(receiver: &WebhookReceiver, count: usize) {
    eventually(Duration::from_secs(60), "a warning webhook per message", || async {
        let received = receiver.received();
        let warned = received.iter().filter(|r| r.header("x-nazer-event-type") == Some("warning.issued")).count();
        (warned >= count).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_processes_route_warn_once_and_notify() {
    let Some(stack) = Stack::start().await else { return };
    let receiver = WebhookReceiver::start().await;
    let endpoints = stack.endpoints();
    configure(&endpoints, ADMIN_KEY, "PT3S", &format!("{}/agency", receiver.url)).await;
    let codes = post_messages(&endpoints.intake, ADMIN_KEY, 20).await;
    expect_assigned_and_warned_once(&endpoints.intake, ADMIN_KEY, &codes, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    expect_one_warning_per_message(&endpoints.deadline_timer, ADMIN_KEY, codes.len()).await;
    wait_for_warning_webhooks(&receiver, codes.len()).await;
    expect_signed_webhooks(&receiver.received(), codes.len());
    stack.stop().await;
    receiver.stop().await;
}

fn rabbitmqctl(action: &str) {
    let status =
        std::process::Command::new("rabbitmqctl").arg(action).status().unwrap_or_else(|e| panic!("rabbitmqctl: {e}"));
    assert!(status.success(), "rabbitmqctl {action} failed");
}

/// Stops the broker's application in the middle of the flow and starts it again: nothing is
/// lost and no warning is doubled. It stops RabbitMQ for everyone, so it runs alone
/// (`.ci/run` runs it after the rest): `cargo test -p nazer-e2e --test processes -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops RabbitMQ for the whole machine; run alone (see .ci/run)"]
async fn five_processes_survive_a_broker_restart_mid_flow() {
    let Some(stack) = Stack::start().await else { return };
    let receiver = WebhookReceiver::start().await;
    let endpoints = stack.endpoints();
    configure(&endpoints, ADMIN_KEY, "PT3S", &format!("{}/agency", receiver.url)).await;

    let mut codes = post_messages(&endpoints.intake, ADMIN_KEY, 10).await;
    rabbitmqctl("stop_app");
    // Intake keeps taking messages: they wait in its outbox.
    codes.extend(post_messages(&endpoints.intake, ADMIN_KEY, 10).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    rabbitmqctl("start_app");

    let flow = async {
        expect_assigned_and_warned_once(&endpoints.intake, ADMIN_KEY, &codes, Duration::from_secs(120)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        expect_one_warning_per_message(&endpoints.deadline_timer, ADMIN_KEY, codes.len()).await;
        wait_for_warning_webhooks(&receiver, codes.len()).await;
    };
    if tokio::time::timeout(Duration::from_secs(240), flow).await.is_err() {
        panic!("the flow did not complete after the broker restart:\n{}", stack.dump_logs());
    }
    expect_signed_webhooks(&receiver.received(), codes.len());
    stack.stop().await;
    receiver.stop().await;
}
