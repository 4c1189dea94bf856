//! The outbox, the inbox and the relay against the real databases (PostgreSQL when
//! NAZER_TEST_DATABASE_URL is set, and SQLite always).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use nazer_shared::bus::{Bus, BusError, BusKind, ConsumerSpec, DeliverySink, InProcessBus};
use nazer_shared::clock::ManualClock;
use nazer_shared::config::{DatabaseSettings, OutboxSettings};
use nazer_shared::db::{Db, DbConnection, write_transaction};
use nazer_shared::events::{DeadlineMet, Envelope};
use nazer_shared::inbox::{EventHandler, HandlerError, InboxOutcome, apply_once};
use nazer_shared::outbox::{self, OutboxRelay};
use nazer_shared::testing::TestDatabase;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn open(database: &TestDatabase) -> Db {
    let db = Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 6, connect_timeout_secs: 10 })
        .unwrap();
    db.migrate().unwrap();
    db
}

fn databases() -> Vec<TestDatabase> {
    let mut all = vec![TestDatabase::sqlite()];
    if let Some(url) = nazer_shared::testing::postgres_url() {
        all.push(TestDatabase::postgres(&url));
    }
    all
}

fn event(n: usize) -> DeadlineMet {
    DeadlineMet {
        subject: None,
        deadline_id: format!("d{n}"),
        message_id: format!("m{n}"),
        stage: "respond".into(),
        due_at: Utc::now(),
        met_at: Utc::now(),
        answered_late: false,
    }
}

fn enqueue(db: &Db, producer: &str, count: usize) {
    let mut conn = db.get().unwrap();
    write_transaction(&mut conn, |conn| {
        for n in 0..count {
            outbox::enqueue(conn, producer, &event(n), Utc::now())?;
        }
        Ok::<_, nazer_shared::db::DbError>(())
    })
    .unwrap();
}

#[test]
fn migrations_apply_once_on_both_backends() {
    for database in databases() {
        let db = open(&database);
        assert!(!db.has_pending_migrations().unwrap());
        assert_eq!(db.migrate().unwrap(), 0);
    }
}

#[test]
fn outbox_rows_are_leased_until_the_lease_runs_out() {
    for database in databases() {
        let db = open(&database);
        enqueue(&db, "intake", 5);
        enqueue(&db, "routing", 2);
        let mut conn = db.get().unwrap();
        let now = Utc::now();
        let lease = now + Duration::seconds(30);
        let mut claim = |limit, now, lease| {
            write_transaction(&mut conn, |conn| outbox::claim_batch(conn, "intake", limit, now, Some(lease))).unwrap()
        };
        let first = claim(3, now, lease);
        let second = claim(3, now, lease);
        let third = claim(3, now, lease);
        assert_eq!((first.len(), second.len(), third.len()), (3, 2, 0));
        assert!(first.iter().map(|r| r.id).max() < second.iter().map(|r| r.id).min(), "claims follow insertion order");
        let later = lease + Duration::seconds(1);
        let again = claim(10, later, later + Duration::seconds(30));
        assert_eq!(again.len(), 5, "expired leases are claimed again");
        assert_eq!(outbox::backlog(&mut conn, "routing").unwrap(), 2);
    }
}

#[test]
fn concurrent_relays_never_claim_the_same_row() {
    for database in databases() {
        let db = open(&database);
        enqueue(&db, "intake", 300);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (db, seen) = (db.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    loop {
                        let now = Utc::now();
                        let lease = Some(now + Duration::seconds(60));
                        let rows =
                            write_transaction(&mut conn, |conn| outbox::claim_batch(conn, "intake", 7, now, lease))
                                .unwrap();
                        if rows.is_empty() {
                            break;
                        }
                        seen.lock().unwrap().extend(rows.into_iter().map(|r| r.id));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(seen.len(), 300, "every row claimed");
        assert_eq!(unique.len(), 300, "no row claimed twice");
    }
}

struct Counting(AtomicUsize);

impl EventHandler for Counting {
    fn bindings(&self) -> Vec<String> {
        vec!["deadline.met".into()]
    }

    fn handle(&self, _: &mut DbConnection, _: &Envelope, _: DateTime<Utc>) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn the_inbox_applies_an_event_once_per_consumer() {
    for database in databases() {
        let db = open(&database);
        let handler = Counting(AtomicUsize::new(0));
        let envelope = Envelope::new("deadline-timer", &event(1), Utc::now()).unwrap();
        let mut conn = db.get().unwrap();
        let mut apply = |consumer: &str| {
            write_transaction(&mut conn, |conn| apply_once(conn, consumer, &envelope, Utc::now(), &handler)).unwrap()
        };
        assert_eq!(apply("intake"), InboxOutcome::Applied);
        assert_eq!(apply("intake"), InboxOutcome::Duplicate);
        assert_eq!(apply("notification"), InboxOutcome::Applied);
        assert_eq!(handler.0.load(Ordering::SeqCst), 2);
    }
}

/// A bus that refuses the first `fail` publishes, then records what it is given.
struct FlakyBus {
    fail: AtomicUsize,
    published: Mutex<Vec<String>>,
}

#[async_trait]
impl Bus for FlakyBus {
    fn kind(&self) -> BusKind {
        BusKind::InProcess
    }
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        if self.fail.load(Ordering::SeqCst) > 0 {
            self.fail.fetch_sub(1, Ordering::SeqCst);
            return Err(BusError::Unavailable("down".into()));
        }
        self.published.lock().unwrap().push(envelope.aggregate_id.clone());
        Ok(())
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

#[tokio::test]
async fn the_relay_keeps_what_the_bus_refused_and_publishes_it_in_order_later() {
    for database in databases() {
        let db = open(&database);
        enqueue(&db, "intake", 6);
        let bus = Arc::new(FlakyBus { fail: AtomicUsize::new(1), published: Mutex::new(Vec::new()) });
        let clock = ManualClock::new(Utc::now());
        let relay = OutboxRelay {
            db: db.clone(),
            bus: bus.clone(),
            producer: "intake",
            settings: OutboxSettings { poll_interval_ms: 10, batch_size: 4, lease_secs: 30 },
            clock: clock.clone(),
            wake: Arc::new(Notify::new()),
        };
        let failed = relay.relay_once().await.unwrap();
        assert_eq!((failed.published, failed.failed), (0, 4));
        assert_eq!(outbox::backlog(&mut db.get().unwrap(), "intake").unwrap(), 6);
        let mut total = 0;
        while total < 6 {
            let report = relay.relay_once().await.unwrap();
            assert_eq!(report.failed, 0);
            assert!(report.published > 0);
            total += report.published;
        }
        let expected: Vec<String> = (0..6).map(|n| format!("m{n}")).collect();
        assert_eq!(*bus.published.lock().unwrap(), expected);
        assert_eq!(outbox::backlog(&mut db.get().unwrap(), "intake").unwrap(), 0);
    }
}

/// A bus whose first batch has every other event unconfirmed (as when the broker nacks some of
/// a batch's events), and whose later batches are all confirmed.
#[derive(Default)]
struct HalfConfirmingBus {
    batches: AtomicUsize,
    confirmed: Mutex<Vec<String>>,
}

#[async_trait]
impl Bus for HalfConfirmingBus {
    fn kind(&self) -> BusKind {
        BusKind::RabbitMq
    }
    async fn publish(&self, _: &Envelope) -> Result<(), BusError> {
        Err(BusError::Unavailable("only batches here".into()))
    }
    async fn publish_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), BusError>> {
        let first = self.batches.fetch_add(1, Ordering::SeqCst) == 0;
        let mut confirmed = self.confirmed.lock().unwrap();
        (0..envelopes.len())
            .map(|n| {
                if first && n % 2 == 0 {
                    return Err(BusError::Rejected("nacked".into()));
                }
                confirmed.push(envelopes[n].aggregate_id.clone());
                Ok(())
            })
            .collect()
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

#[tokio::test]
async fn the_relay_marks_only_confirmed_events_of_a_batch_and_publishes_the_rest_again() {
    for database in databases() {
        let db = open(&database);
        enqueue(&db, "intake", 6);
        let bus = Arc::new(HalfConfirmingBus::default());
        let relay = OutboxRelay {
            db: db.clone(),
            bus: bus.clone(),
            producer: "intake",
            settings: OutboxSettings { poll_interval_ms: 10, batch_size: 10, lease_secs: 30 },
            clock: ManualClock::new(Utc::now()),
            wake: Arc::new(Notify::new()),
        };
        let first = relay.relay_once().await.unwrap();
        assert_eq!((first.published, first.failed), (3, 3));
        assert_eq!(outbox::backlog(&mut db.get().unwrap(), "intake").unwrap(), 3, "the unconfirmed rows wait");
        let second = relay.relay_once().await.unwrap();
        assert_eq!((second.published, second.failed), (3, 0), "only the unconfirmed rows again");
        assert_eq!(outbox::backlog(&mut db.get().unwrap(), "intake").unwrap(), 0);
        let confirmed = bus.confirmed.lock().unwrap().clone();
        let expected: Vec<String> = ["m1", "m3", "m5", "m0", "m2", "m4"].map(String::from).to_vec();
        assert_eq!(confirmed, expected, "each event confirmed once");
    }
}

#[tokio::test]
async fn an_in_process_publish_returns_after_the_consumer_committed() {
    let database = TestDatabase::sqlite();
    let db = open(&database);
    let bus = InProcessBus::new(3);
    let handler = Arc::new(Counting(AtomicUsize::new(0)));
    let sink = Arc::new(nazer_shared::inbox::InboxSink {
        consumer: "intake",
        db: db.clone(),
        handler: handler.clone(),
        clock: nazer_shared::clock::system_clock(),
        after_commit: Vec::new(),
    });
    bus.consume(
        ConsumerSpec { consumer: "intake", bindings: vec!["deadline.met".into()] },
        sink,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let envelope = Envelope::new("deadline-timer", &event(7), Utc::now()).unwrap();
    bus.publish(&envelope).await.unwrap();
    assert_eq!(handler.0.load(Ordering::SeqCst), 1);
    bus.publish(&envelope).await.unwrap();
    assert_eq!(handler.0.load(Ordering::SeqCst), 1, "a republished event is a duplicate");
}

#[test]
fn a_revoked_configured_key_stays_revoked_until_its_secret_changes() {
    use nazer_shared::http::Scope;
    use nazer_shared::http::auth::{ensure_key, find_caller, revoke_key};
    for database in databases() {
        let db = open(&database);
        let mut conn = db.get().unwrap();
        let scopes = [Scope::CallCenter, Scope::Admin];
        let ensure = |conn: &mut DbConnection, secret: &str| {
            ensure_key(conn, "bootstrap", "bootstrap", secret, &scopes, Default::default(), Utc::now()).unwrap()
        };
        ensure(&mut conn, "first-secret-0123456789");
        assert!(find_caller(&mut conn, "first-secret-0123456789").unwrap().is_some());
        assert!(revoke_key(&mut conn, "bootstrap", Utc::now()).unwrap());
        ensure(&mut conn, "first-secret-0123456789");
        assert!(
            find_caller(&mut conn, "first-secret-0123456789").unwrap().is_none(),
            "a restart must not undo a revocation"
        );
        ensure(&mut conn, "second-secret-0123456789");
        assert!(find_caller(&mut conn, "second-secret-0123456789").unwrap().is_some(), "a new secret is a rotation");
        assert!(find_caller(&mut conn, "first-secret-0123456789").unwrap().is_none());
    }
}

#[test]
fn a_snapshot_read_does_not_see_commits_made_while_it_runs() {
    use nazer_shared::db::read_snapshot;
    for database in databases() {
        let db = open(&database);
        enqueue(&db, "intake", 1);
        let mut conn = db.get().unwrap();
        let count = |conn: &mut DbConnection| outbox::backlog(conn, "intake").unwrap();
        let commit_elsewhere = || {
            let db = db.clone();
            std::thread::spawn(move || enqueue(&db, "intake", 1)).join().unwrap();
        };
        let (before, after) = read_snapshot(&mut conn, |conn| {
            let before = count(conn);
            commit_elsewhere();
            Ok((before, count(conn)))
        })
        .unwrap();
        assert_eq!(before, after, "one snapshot for the whole read");
        // Without it, the second statement sees the other commit.
        let before = count(&mut conn);
        commit_elsewhere();
        assert_eq!(count(&mut conn), before + 1);
    }
}
