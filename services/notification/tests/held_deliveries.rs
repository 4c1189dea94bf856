//! A sender that dies mid-batch on PostgreSQL: its deliveries, held by the row locks of its open
//! transaction, are skipped by another sender while it lives and sent by that sender at once
//! when its backend is terminated, not after a lease. PostgreSQL only (NAZER_TEST_DATABASE_URL).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use chrono::Utc;
use diesel::prelude::*;
use nazer_notification::egress::EgressPolicy;
use nazer_notification::{sender, store};
use nazer_shared::bus::InProcessBus;
use nazer_shared::clock::ManualClock;
use nazer_shared::config::{DatabaseSettings, parse_networks};
use nazer_shared::db::Db;
use nazer_shared::runtime::ServiceContext;
use nazer_shared::sealing::SealingKeys;
use nazer_shared::testing::fixtures::{self, message_assigned, write};
use nazer_shared::testing::{ADMIN_KEY, LOOPBACK_NETWORKS, LocalServer, REPORTER_KEYS, TestApp, eventually};
use serde_json::json;
use tokio::sync::Notify;

/// A receiver that keeps its first request waiting until `release`, and answers 204 at once to
/// every later one; `answered` counts the 204s.
struct Receiver {
    server: LocalServer,
    requests: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    release: Arc<Notify>,
}

impl Receiver {
    fn start() -> Self {
        let (requests, answered, release) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
        let shared = (requests.clone(), answered.clone(), release.clone());
        let server = LocalServer::start(move |cfg| {
            let shared = shared.clone();
            cfg.default_service(web::to(move || {
                let (requests, answered, release) = shared.clone();
                async move {
                    if requests.fetch_add(1, Ordering::SeqCst) == 0 {
                        release.notified().await;
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                    HttpResponse::NoContent().finish()
                }
            }));
        });
        Self { server, requests, answered, release }
    }
}

/// A sender's client that may reach the test's local receiver.
fn client(timeout: Duration) -> sender::WebhookClient {
    let loopback = parse_networks(LOOPBACK_NETWORKS).unwrap_or_else(|e| panic!("{e}"));
    sender::WebhookClient::new(timeout, EgressPolicy::new(loopback), keys()).unwrap_or_else(|e| panic!("{e}"))
}

/// The sealing keys of test hosts.
fn keys() -> SealingKeys {
    SealingKeys::parse(REPORTER_KEYS).unwrap_or_else(|e| panic!("{e}"))
}

/// A sender of its own (a pool of its own, as another process) whose clock says `now`.
fn another_sender(app: &TestApp, now: chrono::DateTime<Utc>) -> ServiceContext {
    let settings = DatabaseSettings { url: Some(app.database.url.clone()), pool_size: 2, connect_timeout_secs: 10 };
    ServiceContext {
        service: "notification",
        db: Db::open(&settings).unwrap_or_else(|e| panic!("{e}")),
        bus: InProcessBus::new(1),
        settings: Arc::new(app.settings.clone()),
        clock: ManualClock::new(now),
        outbox_wake: Arc::new(Notify::new()),
    }
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_of_a_sender_killed_mid_batch_are_sent_by_another_at_once() {
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    if !app.database.is_postgres() {
        app.stop().await;
        return;
    }
    let receiver = Receiver::start();
    let body =
        json!({ "agency_id": "agency-a", "url": format!("{}/hooks", receiver.server.url), "event_types": ["*"] });
    let (status, reply) = app.post("/api/v1/webhook-subscriptions", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{reply}");
    // Due in an hour, so this host's own sender leaves it to the two senders of the test.
    let later = Utc::now() + chrono::Duration::hours(1);
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(write(&app, |conn| store::enqueue_deliveries(conn, &envelope, "agency-a", later)), 1);

    let holder = another_sender(&app, later);
    let holding = tokio::spawn(async move { sender::send_due(&holder, &client(Duration::from_secs(60))).await });
    let requests = receiver.requests.clone();
    eventually(Duration::from_secs(10), "the first sender's POST", || {
        let seen = requests.load(Ordering::SeqCst);
        async move { (seen > 0).then_some(()) }
    })
    .await;

    // While the holder lives, the delivery is skipped, not sent twice.
    let other = another_sender(&app, later);
    let client = client(Duration::from_secs(5));
    assert_eq!(sender::send_due(&other, &client).await, 0, "a live sender's delivery was claimed again");

    let mut admin = PgConnection::establish(&app.database.url).unwrap_or_else(|e| panic!("{e}"));
    // (This host's own sender opens a transaction briefly now and then; the holder's stays.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held: Vec<Pid> = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'idle in transaction' AND state_change < now() - interval '200 milliseconds'",
    )
    .load(&mut admin)
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(held.len(), 1, "the holder's transaction stays open while it posts");
    diesel::sql_query(format!("SELECT pg_terminate_backend({})", held[0].pid))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("{e}"));
    let terminated = Instant::now();
    loop {
        if sender::send_due(&other, &client).await == 1 {
            break;
        }
        assert!(terminated.elapsed() < Duration::from_secs(5), "the delivery was not free within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(terminated.elapsed() < Duration::from_secs(2), "took {:?}", terminated.elapsed());
    assert_eq!(receiver.answered.load(Ordering::SeqCst), 1, "the second sender's POST was answered");

    // The first POST is answered after all; its attempt cannot be recorded any more.
    receiver.release.notify_one();
    holding.await.unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = app.get(&format!("/api/v1/deliveries?event_id={}", envelope.event_id), ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    let delivery = &body["deliveries"][0];
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "only the second sender's attempt was recorded: {delivery}");
    app.stop().await;
    receiver.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sender_on_sqlite_frees_the_leases_of_its_earlier_run() {
    let database = nazer_shared::testing::TestDatabase::sqlite();
    let settings = nazer_shared::testing::settings(&database);
    let open = || {
        let db = Db::open(&settings.database).unwrap_or_else(|e| panic!("{e}"));
        db.migrate().unwrap_or_else(|e| panic!("{e}"));
        db
    };
    let context = |db: Db| ServiceContext {
        service: "notification",
        db,
        bus: InProcessBus::new(1),
        settings: Arc::new(settings.clone()),
        clock: nazer_shared::clock::system_clock(),
        outbox_wake: Arc::new(Notify::new()),
    };
    let receiver = Receiver::start();
    let first = context(open());
    let url = format!("{}/hooks", receiver.server.url);
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    first
        .db
        .write(move |conn| {
            store::create_subscription(conn, &keys(), "agency-a", &url, "secret", &["*".to_string()], Utc::now())?;
            store::enqueue_deliveries(conn, &envelope, "agency-a", Utc::now())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let holding = tokio::spawn(async move { sender::send_due(&first, &client(Duration::from_secs(60))).await });
    let requests = receiver.requests.clone();
    eventually(Duration::from_secs(10), "the first run's POST", || {
        let seen = requests.load(Ordering::SeqCst);
        async move { (seen > 0).then_some(()) }
    })
    .await;
    // Killed mid-POST: the lease it committed with its claim stays.
    holding.abort();
    let _ = holding.await;

    let restarted = context(open());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running =
        tokio::spawn(sender::run(restarted, client(Duration::from_secs(5)), Arc::new(Notify::new()), shutdown.clone()));
    let answered = receiver.answered.clone();
    eventually(Duration::from_secs(5), "the delivery sent after the restart", || {
        let count = answered.load(Ordering::SeqCst);
        async move { (count == 1).then_some(()) }
    })
    .await;
    shutdown.cancel();
    running.await.unwrap_or_else(|e| panic!("{e}"));
    receiver.release.notify_one();
    receiver.server.stop().await;
}
