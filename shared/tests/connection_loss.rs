//! A lost database connection (terminated by `pg_terminate_backend`, as when PostgreSQL restarts
//! or a proxy drops it): recognised in every shape diesel and libpq give it, a transaction it
//! interrupted runs again on a fresh connection, and a consumer waits instead of parking.
//! PostgreSQL only (NAZER_TEST_DATABASE_URL); each test terminates backends of its own database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use nazer_shared::bus::{Bus, ConsumerSpec, InProcessBus};
use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::{Db, DbConnection, DbError, count_rows};
use nazer_shared::events::{DeadlineMet, Envelope};
use nazer_shared::http::ApiError;
use nazer_shared::inbox::{EventHandler, HandlerError, InboxSink};
use nazer_shared::testing::TestDatabase;
use tokio_util::sync::CancellationToken;

fn postgres() -> Option<(TestDatabase, Db)> {
    let database = TestDatabase::postgres(&nazer_shared::testing::postgres_url()?);
    let db = Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 4, connect_timeout_secs: 10 })
        .unwrap_or_else(|e| panic!("{e}"));
    db.migrate().unwrap_or_else(|e| panic!("{e}"));
    Some((database, db))
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

fn backend_pid(conn: &mut PgConnection) -> i32 {
    diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(conn).unwrap_or_else(|e| panic!("{e}")).pid
}

fn pg(conn: &mut DbConnection) -> &mut PgConnection {
    match conn {
        DbConnection::Pg(c) => c,
        DbConnection::Sqlite(_) => panic!("PostgreSQL expected"),
    }
}

/// Terminates backend `pid` from a connection of its own, and waits until it is gone.
fn terminate(url: &str, pid: i32) {
    let mut admin = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..100 {
        let gone = count_rows_pg(&mut admin, &format!("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = {pid}"));
        if gone == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("backend {pid} still there");
}

fn count_rows_pg(conn: &mut PgConnection, query: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(query).get_result::<Count>(conn).unwrap_or_else(|e| panic!("{e}")).n
}

fn lost(error: diesel::result::Error) -> DbError {
    let error = DbError::from(error);
    assert!(error.is_connection_lost(), "not recognised as a lost connection: {error:?}");
    assert!(error.is_unavailable(), "not recognised as unavailable: {error:?}");
    error
}

#[test]
fn every_shape_a_terminated_connection_takes_is_recognised() {
    let Some((database, _db)) = postgres() else { return };
    let url = &database.url;
    // Idle, then a statement; then the next one.
    let mut conn = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    terminate(url, backend_pid(&mut conn));
    lost(conn.batch_execute("SELECT 1").unwrap_err());
    lost(conn.batch_execute("SELECT 1").unwrap_err());
    // Idle in a transaction, then a statement, then ROLLBACK; and COMMIT on another.
    let mut conn = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    AnsiTransactionManager::begin_transaction(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    terminate(url, backend_pid(&mut conn));
    lost(conn.batch_execute("SELECT 1").unwrap_err());
    lost(AnsiTransactionManager::rollback_transaction(&mut conn).unwrap_err());
    let mut conn = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    AnsiTransactionManager::begin_transaction(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    terminate(url, backend_pid(&mut conn));
    lost(AnsiTransactionManager::commit_transaction(&mut conn).unwrap_err());
    // Ended by the server's own bound on an idle transaction.
    let mut conn = PgConnection::establish(url).unwrap_or_else(|e| panic!("{e}"));
    conn.batch_execute("BEGIN; SET LOCAL idle_in_transaction_session_timeout = 100").unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(std::time::Duration::from_millis(600));
    lost(conn.batch_execute("SELECT 1").unwrap_err());
}

/// Runs `statement` in `work`'s transaction after terminating the transaction's own backend on
/// the first `kills` calls; counts the calls.
fn insert_after_kills(
    url: String,
    kills: usize,
    calls: Arc<AtomicUsize>,
) -> impl FnMut(&mut DbConnection) -> Result<(), DbError> + Send + 'static {
    move |conn| {
        let call = calls.fetch_add(1, Ordering::SeqCst);
        let conn = pg(conn);
        if call < kills {
            terminate(&url, backend_pid(conn));
        }
        conn.batch_execute("INSERT INTO rate_limits (bucket, window_start, hits) VALUES ('b', now(), 1)")?;
        Ok(())
    }
}

#[tokio::test]
async fn a_write_whose_connection_is_terminated_runs_again_on_a_fresh_one_and_commits_once() {
    let Some((database, db)) = postgres() else { return };
    let calls = Arc::new(AtomicUsize::new(0));
    db.write(insert_after_kills(database.url.clone(), 1, calls.clone())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "run once more after the connection was lost");
    let rows = db.run(|conn| count_rows(conn, "SELECT count(*) AS n FROM rate_limits")).await.unwrap();
    assert_eq!(rows, 1, "the interrupted attempt committed nothing");
}

#[tokio::test]
async fn a_write_that_loses_its_connection_twice_is_unavailable_not_an_error() {
    let Some((database, db)) = postgres() else { return };
    let calls = Arc::new(AtomicUsize::new(0));
    let error = db.write(insert_after_kills(database.url.clone(), 2, calls.clone())).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "retried once, not more");
    assert!(error.is_unavailable(), "{error:?}");
    let status = actix_web::ResponseError::status_code(&ApiError::from(error));
    assert_eq!(status.as_u16(), 503);
}

#[tokio::test]
async fn a_snapshot_read_whose_connection_is_terminated_runs_again() {
    let Some((database, db)) = postgres() else { return };
    let (calls, url) = (Arc::new(AtomicUsize::new(0)), database.url.clone());
    let counted = {
        let calls = calls.clone();
        db.read(move |conn| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                terminate(&url, backend_pid(pg(conn)));
            }
            count_rows(conn, "SELECT count(*) AS n FROM outbox")
        })
        .await
    };
    assert_eq!(counted.unwrap_or_else(|e| panic!("{e}")), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Applies every event, after terminating its own connection on the first `kills` calls.
struct KillingHandler {
    url: String,
    kills: usize,
    calls: AtomicUsize,
    applied: AtomicUsize,
}

impl EventHandler for KillingHandler {
    fn bindings(&self) -> Vec<String> {
        vec!["message.received".into()]
    }

    fn handle(&self, conn: &mut DbConnection, _: &Envelope, _: DateTime<Utc>) -> Result<(), HandlerError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.kills {
            let conn = pg(conn);
            terminate(&self.url, backend_pid(conn));
            conn.batch_execute("SELECT 1")?;
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_consumer_meeting_terminated_connections_waits_and_applies_never_parks() {
    let Some((database, db)) = postgres() else { return };
    // A delivery limit of 1: any failure taken for a transient one would park the event at once.
    let bus = InProcessBus::new(1);
    // Both runs of the first delivery's transaction lose their connection; the bus waits.
    let handler = Arc::new(KillingHandler {
        url: database.url.clone(),
        kills: 2,
        calls: AtomicUsize::new(0),
        applied: AtomicUsize::new(0),
    });
    let sink = Arc::new(InboxSink {
        consumer: "intake",
        db: db.clone(),
        handler: handler.clone(),
        clock: nazer_shared::clock::system_clock(),
        after_commit: Vec::new(),
    });
    let spec = ConsumerSpec { consumer: "intake", bindings: vec!["deadline.met".into()] };
    bus.consume(spec, sink, CancellationToken::new()).await.unwrap_or_else(|e| panic!("{e}"));
    let met = DeadlineMet {
        subject: None,
        deadline_id: "d1".into(),
        message_id: "m1".into(),
        stage: "respond".into(),
        due_at: Utc::now(),
        met_at: Utc::now(),
        answered_late: false,
    };
    let envelope = Envelope::new("deadline-timer", &met, Utc::now()).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(std::time::Duration::from_secs(20), bus.publish(&envelope))
        .await
        .unwrap_or_else(|_| panic!("the event was neither applied nor parked"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3, "two lost runs, then applied");
    assert_eq!(handler.applied.load(Ordering::SeqCst), 1);
    let (parked, inbox) = db
        .run(|conn| {
            Ok((
                count_rows(conn, "SELECT count(*) AS n FROM parked_events")?,
                count_rows(conn, "SELECT count(*) AS n FROM inbox")?,
            ))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((parked, inbox), (0, 1), "applied once, never parked");
}
