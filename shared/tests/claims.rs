//! Outbox claims held for a publish: on PostgreSQL a relay that dies mid-publish (its backend
//! terminated, or its task cancelled) frees its rows at once for another relay, which skips them
//! while the holder lives; on SQLite a restarted relay frees the leases of its earlier run; and a
//! connection handed back with a transaction open never reaches the next user.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use diesel::connection::TransactionManager;
use diesel::prelude::*;
use nazer_shared::bus::{Bus, BusError, BusKind, ConsumerSpec, DeliverySink};
use nazer_shared::clock::system_clock;
use nazer_shared::config::{DatabaseSettings, OutboxSettings};
use nazer_shared::db::{Db, DbConnection, DbError, count_rows, write_transaction};
use nazer_shared::events::{DeadlineMet, Envelope};
use nazer_shared::outbox::{self, OutboxRelay};
use nazer_shared::testing::{TestDatabase, eventually};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn open(database: &TestDatabase) -> Db {
    let db = Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 3, connect_timeout_secs: 10 })
        .unwrap_or_else(|e| panic!("{e}"));
    db.migrate().unwrap_or_else(|e| panic!("{e}"));
    db
}

fn enqueue(db: &Db, count: usize) {
    let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
    write_transaction(&mut conn, |conn| {
        for n in 0..count {
            let met = DeadlineMet {
                subject: None,
                deadline_id: format!("d{n}"),
                message_id: format!("m{n}"),
                stage: "respond".into(),
                due_at: Utc::now(),
                met_at: Utc::now(),
                answered_late: false,
            };
            outbox::enqueue(conn, "intake", &met, Utc::now())?;
        }
        Ok::<_, DbError>(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

async fn backlog(db: &Db) -> i64 {
    db.run(|conn| outbox::backlog(conn, "intake")).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A broker that confirms every event once `release` is notified; `received` counts the events
/// handed to it (a relay mid-publish has handed them over and waits for confirms).
#[derive(Default)]
struct Broker {
    received: AtomicUsize,
    release: Notify,
    hold: bool,
    confirmed: Mutex<Vec<String>>,
}

impl Broker {
    fn holding() -> Arc<Self> {
        Arc::new(Self { hold: true, ..Self::default() })
    }

    fn confirmed(&self) -> Vec<String> {
        self.confirmed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl Bus for Broker {
    fn kind(&self) -> BusKind {
        BusKind::RabbitMq
    }
    async fn publish(&self, _: &Envelope) -> Result<(), BusError> {
        Err(BusError::Unavailable("only batches here".into()))
    }
    async fn publish_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), BusError>> {
        self.received.fetch_add(envelopes.len(), Ordering::SeqCst);
        if self.hold {
            self.release.notified().await;
        }
        let mut confirmed = self.confirmed.lock().unwrap_or_else(PoisonError::into_inner);
        confirmed.extend(envelopes.iter().map(|e| e.aggregate_id.clone()));
        envelopes.iter().map(|_| Ok(())).collect()
    }
    async fn consume(
        &self,
        _: ConsumerSpec,
        _: Arc<dyn DeliverySink>,
        _: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, BusError> {
        Err(BusError::Topology("publish only".into()))
    }
    async fn is_ready(&self) -> bool {
        true
    }
}

fn relay(db: &Db, bus: Arc<Broker>) -> OutboxRelay {
    OutboxRelay {
        db: db.clone(),
        bus,
        producer: "intake",
        settings: OutboxSettings { poll_interval_ms: 50, batch_size: 10, lease_secs: 30 },
        clock: system_clock(),
        wake: Arc::new(Notify::new()),
    }
}

/// Starts a relay on `db` whose broker holds its batch, and waits until it is mid-publish.
async fn relay_mid_publish(db: &Db) -> (Arc<Broker>, tokio::task::JoinHandle<Result<outbox::RelayReport, DbError>>) {
    let broker = Broker::holding();
    let holder = relay(db, broker.clone());
    let task = tokio::spawn(async move { holder.relay_once().await });
    let seen = broker.clone();
    eventually(Duration::from_secs(10), "the first relay mid-publish", || {
        let received = seen.received.load(Ordering::SeqCst);
        async move { (received > 0).then_some(()) }
    })
    .await;
    (broker, task)
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The backends of the test's database holding a transaction open while idle.
fn idle_in_transaction(url: &str) -> Vec<i32> {
    let mut admin = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
    )
    .load::<Pid>(&mut admin)
    .unwrap_or_else(|e| panic!("{e}"))
    .into_iter()
    .map(|p| p.pid)
    .collect()
}

/// Polls `relay` until it has published `expected` events; how long that took.
async fn published_by(relay: &OutboxRelay, expected: usize) -> Duration {
    let started = Instant::now();
    let mut published = 0;
    while published < expected {
        assert!(started.elapsed() < Duration::from_secs(5), "rows not free within 5 s ({published} published)");
        published += relay.relay_once().await.unwrap_or_else(|e| panic!("{e}")).published;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_backend_dies_mid_publish_frees_its_rows_at_once() {
    let Some(url) = nazer_shared::testing::postgres_url() else { return };
    let database = TestDatabase::postgres(&url);
    // Two relays, as in two processes: a pool each.
    let (db_a, db_b) = (open(&database), open(&database));
    enqueue(&db_a, 5);
    let (broker_a, task_a) = relay_mid_publish(&db_a).await;
    let other = relay(&db_b, Arc::new(Broker::default()));

    // While the holder lives, its rows are skipped, not claimed twice.
    let skipped = other.relay_once().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(skipped.published, 0, "rows of a live holder were claimed again");

    let holders = idle_in_transaction(&database.url);
    assert_eq!(holders.len(), 1, "the holder's transaction stays open while it publishes");
    let mut admin = PgConnection::establish(&database.url).unwrap_or_else(|e| panic!("{e}"));
    diesel::sql_query(format!("SELECT pg_terminate_backend({})", holders[0]))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("{e}"));
    let took = published_by(&other, 5).await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(backlog(&db_b).await, 0);

    // The holder's confirms come after all: published twice (consumers are idempotent), and
    // its marking meets the lost connection.
    broker_a.release.notify_one();
    let finished = task_a.await.unwrap_or_else(|e| panic!("{e}"));
    let error = finished.expect_err("the holder's connection was terminated");
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(backlog(&db_a).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_cancelled_mid_publish_frees_its_rows_and_its_pool_stays_usable() {
    let Some(url) = nazer_shared::testing::postgres_url() else { return };
    let database = TestDatabase::postgres(&url);
    let (db_a, db_b) = (open(&database), open(&database));
    enqueue(&db_a, 5);
    let (_broker, task_a) = relay_mid_publish(&db_a).await;
    // Cancelled as at the end of a shutdown's grace period: the claim is dropped unfinished.
    task_a.abort();
    let _ = task_a.await;
    let took = published_by(&relay(&db_b, Arc::new(Broker::default())), 5).await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Its connection went back to the pool with the transaction open: closed, not reused.
    assert!(idle_in_transaction(&database.url).is_empty());
    enqueue(&db_a, 2);
    let broker = Arc::new(Broker::default());
    let again = relay(&db_a, broker.clone()).relay_once().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.published, 2, "the holder's pool works on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_relay_on_sqlite_frees_the_leases_of_its_earlier_run() {
    let database = TestDatabase::sqlite();
    let db = open(&database);
    enqueue(&db, 5);
    let (_broker, task) = relay_mid_publish(&db).await;
    // Killed mid-publish: its lease was committed with the claim and stays.
    task.abort();
    let _ = task.await;
    let restarted =
        Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 3, connect_timeout_secs: 10 })
            .unwrap_or_else(|e| panic!("{e}"));
    let broker = Arc::new(Broker::default());
    let skipped = relay(&restarted, broker.clone()).relay_once().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(skipped.published, 0, "a lease holds the rows until the process restarts");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(relay(&restarted, broker.clone()).run(shutdown.clone()));
    let confirmed = broker.clone();
    eventually(Duration::from_secs(5), "the leased rows published after the restart", || {
        let count = confirmed.confirmed().len();
        async move { (count == 5).then_some(()) }
    })
    .await;
    shutdown.cancel();
    running.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(backlog(&restarted).await, 0);
}

#[tokio::test]
async fn a_connection_handed_back_mid_transaction_never_reaches_the_next_user() {
    let mut databases = vec![TestDatabase::sqlite()];
    if let Some(url) = nazer_shared::testing::postgres_url() {
        databases.push(TestDatabase::postgres(&url));
    }
    for database in databases {
        let db = Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 1, connect_timeout_secs: 5 })
            .unwrap_or_else(|e| panic!("{e}"));
        db.migrate().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
            <DbConnection as Connection>::TransactionManager::begin_transaction(&mut *conn)
                .unwrap_or_else(|e| panic!("{e}"));
            enqueue_in(&mut conn);
            // Dropped with its transaction open, as by a cancelled task or a panic.
        }
        let written = db.write(|conn| count_rows(conn, "SELECT count(*) AS n FROM outbox")).await;
        assert_eq!(written.unwrap_or_else(|e| panic!("{e}")), 0, "the open transaction was rolled back");
    }
}

fn enqueue_in(conn: &mut DbConnection) {
    let met = DeadlineMet {
        subject: None,
        deadline_id: "d".into(),
        message_id: "m".into(),
        stage: "respond".into(),
        due_at: Utc::now(),
        met_at: Utc::now(),
        answered_late: false,
    };
    outbox::enqueue(conn, "intake", &met, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
}
