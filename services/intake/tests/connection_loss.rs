//! Intake over PostgreSQL whose database connections are terminated (`pg_terminate_backend`,
//! as in a failover or a proxy restart): a POST caught mid-transaction is run again on a fresh
//! connection and answered 201, not 500. PostgreSQL only (NAZER_TEST_DATABASE_URL).

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
use serde_json::json;

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// Backends of the test's database other than `admin`'s own and `except`; `waiting` keeps
/// only those waiting for a lock. (`admin` stays out of transactions: pg_stat_activity is read
/// once per transaction.)
fn backends(admin: &mut PgConnection, except: i32, waiting: bool) -> Vec<i32> {
    let filter = if waiting { "AND wait_event_type = 'Lock'" } else { "" };
    diesel::sql_query(format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND pid <> {except} {filter}"
    ))
    .load::<Pid>(admin)
    .unwrap_or_else(|e| panic!("{e}"))
    .into_iter()
    .map(|p| p.pid)
    .collect()
}

/// Terminates every backend of the test's database but `admin` and `except`: the host's pool.
fn terminate_all(admin: &mut PgConnection, except: i32) -> Vec<i32> {
    let pids = backends(admin, except, false);
    for pid in &pids {
        admin.batch_execute(&format!("SELECT pg_terminate_backend({pid})")).unwrap_or_else(|e| panic!("{e}"));
    }
    pids
}

fn a_message() -> serde_json::Value {
    json!({
        "kind": "violation_report",
        "channel": "call_center",
        "category": "municipal.building",
        "subject": "ساخت و ساز شبانه",
        "body": "ساخت و ساز غیرمجاز در کوچهٔ شمارهٔ ۳",
        "province": "tehran",
        "city": "تهران",
        "reporter": { "full_name": "Reza Citizen", "mobile": "+98 912 123 4567", "confidential": true },
    })
}

#[tokio::test]
async fn a_post_whose_connection_is_terminated_mid_transaction_is_answered_201() {
    let app = TestApp::start(&[nazer_intake::SERVICE]).await;
    if !app.database.is_postgres() {
        return;
    }
    let category = json!({
        "name_fa": "تخلفات ساختمانی", "name_en": "Building", "kinds": ["complaint", "violation_report"], "active": true,
    });
    let (status, reply) = app.put("/api/v1/categories/municipal.building", ADMIN_KEY, &category).await;
    assert_eq!(status, 200, "{reply}");
    let mut admin = PgConnection::establish(&app.database.url).unwrap_or_else(|e| panic!("{e}"));

    // Idle pooled connections, all terminated: the next request still gets a live one.
    terminate_all(&mut admin, 0);
    let (status, reply) = app.post("/api/v1/messages", ADMIN_KEY, &a_message()).await;
    assert_eq!(status, 201, "after the idle pool was terminated: {reply}");

    // A POST held mid-transaction by a lock on its first read, then its connection terminated.
    let mut locker = PgConnection::establish(&app.database.url).unwrap_or_else(|e| panic!("{e}"));
    let locker_pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(&mut locker)
        .unwrap_or_else(|e| panic!("{e}"))
        .pid;
    locker.batch_execute("BEGIN; LOCK TABLE categories IN ACCESS EXCLUSIVE MODE").unwrap_or_else(|e| panic!("{e}"));
    let post = {
        let (client, url) = (app.client.clone(), app.url("/api/v1/messages"));
        tokio::spawn(async move { client.post(url).bearer_auth(ADMIN_KEY).json(&a_message()).send().await })
    };
    let held = eventually(Duration::from_secs(10), "the POST waiting on the lock", || {
        let waiting = backends(&mut admin, locker_pid, true);
        async move { waiting.first().copied() }
    })
    .await;
    let terminated = terminate_all(&mut admin, locker_pid);
    assert!(terminated.contains(&held));
    // Its transaction runs again on a fresh connection, and waits on the lock once more.
    eventually(Duration::from_secs(10), "the POST running again on a fresh connection", || {
        let again = backends(&mut admin, locker_pid, true).iter().any(|pid| !terminated.contains(pid));
        async move { again.then_some(()) }
    })
    .await;
    locker.batch_execute("COMMIT").unwrap_or_else(|e| panic!("{e}"));
    let response = post.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    let (status, reply) = nazer_shared::testing::read(response).await;
    assert_eq!(status, 201, "after its connection was terminated mid-transaction: {reply}");
    let stored = app
        .db()
        .run(|conn| nazer_shared::db::count_rows(conn, "SELECT count(*) AS n FROM messages"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, 2, "each POST stored once");
}
