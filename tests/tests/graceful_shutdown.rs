//! SIGTERM under load loses nothing: intake, not ready but still serving for its pre-stop
//! delay, then stops taking requests, answers the ones in flight, flushes its outbox and exits
//! well within its grace period; routing, stopped in the middle of a stream of events and
//! started again, assigns every message exactly once. PostgreSQL and RabbitMQ
//! (NAZER_TEST_DATABASE_URL, NAZER_TEST_BROKER_URL); skipped without them, except with CI=true,
//! where their absence fails the run.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use nazer_shared::schema::outbox;
use nazer_shared::testing::{ADMIN_KEY, eventually};
use serde_json::json;
use support::{AGENCY, CATEGORY, World};

const GRACE_SECS: u64 = 10;
const DELAY_SECS: u64 = 1;
/// Well under the grace period: the pre-stop delay, the requests and deliveries in flight and the
/// outbox's flush take a couple of seconds (a stop waiting on something took the whole grace).
const STOP_WITHIN: Duration = Duration::from_secs(5);
const CLIENTS: usize = 8;

/// What one client met.
#[derive(Default)]
struct Outcome {
    /// Tracking codes answered 201.
    codes: Vec<String>,
    /// Of those, answered after the SIGTERM (during the pre-stop delay).
    after_signal: usize,
    /// Attempts refused with 503, and attempts that found no connection.
    unavailable: usize,
    unconnected: usize,
}

/// Posts messages one after another until `stop`.
async fn post_until(intake: String, signalled: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> Outcome {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let mut outcome = Outcome::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({ "kind": "complaint", "channel": "call_center", "category": CATEGORY,
                           "body": format!("پیام زیر بار {n}"), "province": "tehran" });
        let after_signal = signalled.load(Ordering::SeqCst);
        let sent = client.post(format!("{intake}/api/v1/messages")).bearer_auth(ADMIN_KEY).json(&body).send().await;
        match sent {
            Ok(response) if response.status().as_u16() == 201 => {
                let receipt: serde_json::Value = response.json().await.unwrap_or_default();
                outcome.codes.push(receipt["tracking_code"].as_str().unwrap_or_default().to_string());
                outcome.after_signal += usize::from(after_signal);
                // A busy call centre, not a flood: a few hundred messages a second in all.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // After its pre-stop delay intake stops listening; a request that still reaches it on
            // an open connection is answered 503: either way the client knows to send it again.
            Ok(response) if response.status().as_u16() == 503 => {
                assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
                outcome.unavailable += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(response) => panic!("an answer other than 201 or 503: {}", response.status()),
            Err(_) => {
                outcome.unconnected += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    outcome
}

fn connect(world: &World) -> diesel::PgConnection {
    diesel::PgConnection::establish(&world.database.url).unwrap_or_else(|e| panic!("{e}"))
}

fn stored_codes(world: &World) -> HashSet<String> {
    let mut conn = connect(world);
    diesel::sql_query("SELECT tracking_code FROM messages")
        .load::<Code>(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|c| c.tracking_code)
        .collect()
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tracking_code: String,
}

/// (rows, published) of `producer`'s outbox events of `event_type`, and the distinct messages.
fn outbox_of(world: &World, producer: &str, event_type: &str) -> (usize, usize, usize) {
    let mut conn = connect(world);
    let rows: Vec<(String, Option<chrono::NaiveDateTime>)> = outbox::table
        .filter(outbox::producer.eq(producer))
        .filter(outbox::event_type.eq(event_type))
        .select((outbox::aggregate_id, outbox::published_at))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    let published = rows.iter().filter(|(_, at)| at.is_some()).count();
    let messages: HashSet<&String> = rows.iter().map(|(id, _)| id).collect();
    (rows.len(), published, messages.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_loses_nothing() {
    let Some(world) = World::prepare(&[
        ("NAZER__HTTP__SHUTDOWN_GRACE_SECS", &GRACE_SECS.to_string()),
        ("NAZER__HTTP__SHUTDOWN_DELAY_SECS", &DELAY_SECS.to_string()),
        ("NAZER__OUTBOX__POLL_INTERVAL_MS", "1000"),
    ]) else {
        return;
    };
    let mut intake = world.spawn("intake", "intake");
    let mut routing = world.spawn("routing", "routing");
    intake.wait_ready(Duration::from_secs(30)).await;
    routing.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let category = json!({ "name_fa": "تخلفات ساختمانی", "name_en": "Building", "kinds": ["complaint"] });
    let setup = [
        (client.put(intake.url(&format!("/api/v1/categories/{CATEGORY}"))).json(&category), 200),
        (client.post(routing.url("/api/v1/agencies")).json(&json!({ "id": AGENCY, "name": "شهرداری" })), 201),
        (
            client.post(routing.url("/api/v1/routing-rules")).json(&json!({
                "category": CATEGORY, "province": "tehran", "agency_id": AGENCY })),
            201,
        ),
    ];
    for (request, expected) in setup {
        let response = request.bearer_auth(ADMIN_KEY).send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), expected, "{}", response.text().await.unwrap_or_default());
    }

    // Intake under load from eight clients, then SIGTERM.
    let (signalled, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let clients: Vec<_> =
        (0..CLIENTS).map(|_| tokio::spawn(post_until(intake.base.clone(), signalled.clone(), stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Routing stops in the middle of the stream too (at the same moment), and comes back later.
    signalled.store(true, Ordering::SeqCst);
    let signalled = Instant::now();
    let within = Duration::from_secs(GRACE_SECS + 5);
    let (intake_exit, routing_exit) = tokio::join!(
        async {
            let exit = intake.terminate_within(within).await;
            (exit, signalled.elapsed())
        },
        async {
            let exit = routing.terminate_within(within).await;
            (exit, signalled.elapsed())
        }
    );
    let ((intake_exit, took), (routing_exit, routing_took)) = (intake_exit, routing_exit);
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut after_signal, mut unavailable, mut unconnected) = (Vec::new(), 0, 0, 0);
    for client in clients {
        let outcome = client.await.unwrap_or_else(|e| panic!("{e}"));
        answered.extend(outcome.codes);
        after_signal += outcome.after_signal;
        (unavailable, unconnected) = (unavailable + outcome.unavailable, unconnected + outcome.unconnected);
    }
    println!(
        "intake stopped in {took:?}, routing in {routing_took:?} (grace {GRACE_SECS} s, pre-stop delay {DELAY_SECS} s) \
         under {CLIENTS} clients: {} messages answered 201, {after_signal} of them after the SIGTERM; then \
         {unavailable} answered 503, {unconnected} found no connection",
        answered.len()
    );
    assert!(
        intake_exit.is_some_and(|s| s.success()),
        "intake exits by itself, cleanly: {intake_exit:?}\n{}",
        intake.output()
    );
    assert!(routing_exit.is_some_and(|s| s.success()), "routing exits cleanly: {routing_exit:?}\n{}", routing.output());
    assert!(took < STOP_WITHIN, "well within the grace period: {took:?}");
    // The pre-stop delay was kept: Kubernetes needs it to take the pod out of its endpoints.
    assert!(took >= Duration::from_secs(DELAY_SECS), "intake stopped before its pre-stop delay: {took:?}");
    assert!(routing_took < STOP_WITHIN, "routing well within the grace period: {routing_took:?}");
    assert!(answered.len() > CLIENTS, "the load was real: {} messages", answered.len());
    assert!(after_signal > 0, "intake still served during its pre-stop delay");

    // Every answered message is stored, nothing was stored unanswered, and each has its event,
    // published before the exit (the relay's poll is slow here: commits woke it, and the final
    // flush took the last ones).
    let stored = stored_codes(&world);
    let answered_set: HashSet<String> = answered.iter().cloned().collect();
    assert_eq!(answered_set.len(), answered.len(), "tracking codes are unique");
    assert_eq!(stored, answered_set, "stored exactly what was answered");
    let (events, published, messages) = outbox_of(&world, "intake", "message.received");
    assert_eq!((events, messages), (answered.len(), answered.len()), "one event per message");
    println!("published before the exit: {published} of {events} events");
    assert_eq!(published, events, "the outbox was flushed on the way out");
    let mut intake = world.spawn("intake-again", "intake");
    intake.wait_ready(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(120), "every event published", || async {
        let (_, published, _) = outbox_of(&world, "intake", "message.received");
        (published == events).then_some(())
    })
    .await;

    // Routing, started again, assigns every message exactly once: what was in flight when it
    // stopped was either committed and acknowledged, or handed back to the broker.
    let mut routing = world.spawn("routing-again", "routing");
    routing.wait_ready(Duration::from_secs(30)).await;
    let assigned = eventually(Duration::from_secs(60), "every message assigned", || async {
        let counts = outbox_of(&world, "routing", "message.assigned");
        (counts.2 == answered.len()).then_some(counts)
    })
    .await;
    assert_eq!(assigned.0, answered.len(), "no message assigned twice");
    let _ = routing.terminate_within(Duration::from_secs(GRACE_SECS + 5)).await;
    let _ = intake.terminate_within(Duration::from_secs(GRACE_SECS + 5)).await;
    world.delete_queues().await;
}
