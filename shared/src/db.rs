//! One way to talk to the database: a Diesel multi-connection over PostgreSQL and SQLite,
//! an r2d2 pool, embedded migrations for both backends, and write transactions that behave
//! the same on both (SQLite takes its write lock up front with `BEGIN IMMEDIATE`).

use std::path::Path;

use chrono::Timelike;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{DatabaseSettings, is_postgres_url};

pub mod claim;

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Where Nazer keeps its data when nothing is configured.
pub const EMBEDDED_DATABASE_PATH: &str = "./nazer-data/nazer.db";

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// The per-backend seam: selects ids with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas
/// claim disjoint rows; SQLite has one writer at a time (write transactions begin IMMEDIATE),
/// so the plain select is the same claim there. The query is written once for both.
#[macro_export]
macro_rules! select_skip_locked {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg(c) => $query.for_update().skip_locked().load(c),
            $crate::db::DbConnection::Sqlite(c) => $query.load(c),
        }
    };
}

/// Loads `query` locking its rows until the transaction ends, waiting for rows others hold
/// (PostgreSQL `FOR UPDATE`); on SQLite the write transaction is the lock.
#[macro_export]
macro_rules! select_for_update {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg(c) => $query.for_update().load(c),
            $crate::db::DbConnection::Sqlite(c) => $query.load(c),
        }
    };
}

/// Runs `statement` (an UPDATE or INSERT) and reads back the rows it touched as `$row`, a
/// `Selectable` struct: a RETURNING clause is built per backend, which the two-backend
/// connection needs.
#[macro_export]
macro_rules! returning_rows {
    ($conn:expr, $statement:expr, $row:ty) => {
        match $conn {
            $crate::db::DbConnection::Pg(c) => $statement
                .returning(<$row as diesel::SelectableHelper<diesel::pg::Pg>>::as_returning())
                .get_results::<$row>(c),
            $crate::db::DbConnection::Sqlite(c) => $statement
                .returning(<$row as diesel::SelectableHelper<diesel::sqlite::Sqlite>>::as_returning())
                .get_results::<$row>(c),
        }
    };
}

/// Inserts `rows` (a `Vec` of value tuples) into `table`: one multi-row statement on
/// PostgreSQL, a statement per row on SQLite (one local writer, where a round trip is cheap).
/// Keep a batch under PostgreSQL's 65,535 bind parameters.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg(c) => diesel::insert_into($table).values($rows).execute(c).map(|_| ()),
            $crate::db::DbConnection::Sqlite(c) => {
                $rows.into_iter().try_for_each(|row| diesel::insert_into($table).values(row).execute(c).map(|_| ()))
            }
        }
    };
}

/// `impl From<diesel::result::Error>` for error enums with a `Db(DbError)` variant, so that `?`
/// on a query works in the functions that return them.
#[macro_export]
macro_rules! from_diesel_error {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$crate::diesel::result::Error> for $error {
            fn from(error: $crate::diesel::result::Error) -> Self {
                Self::Db($crate::db::DbError::from(error))
            }
        }
    )+};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] DieselError),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database could not be opened: {0}")]
    Open(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database task was cancelled")]
    Cancelled,
    #[error("event could not be encoded: {0}")]
    Encode(String),
    /// Data the database would accept but the service must not (a broken invariant).
    #[error("refused: {0}")]
    Refused(String),
    /// COMMIT was sent but its answer never came: the change may or may not have been saved,
    /// so it must not be run again blindly.
    #[error("the connection was lost while committing; the change may or may not be saved: {0}")]
    CommitUncertain(DieselError),
}

/// What libpq says when the server or the network dropped the connection, whatever diesel made
/// of it: the kind is `ClosedConnection`/`UnableToSendCommand` for the shapes seen after
/// `pg_terminate_backend` and a server restart, but a FATAL of SQLSTATE 57P01-57P05 or 25P03
/// that arrives before the socket closes keeps its own text and the kind `Unknown`.
const LOST_CONNECTION_MESSAGES: &[&str] = &[
    "server closed the connection unexpectedly",
    "SSL connection has been closed unexpectedly",
    "SSL SYSCALL error",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
];

fn is_lost_connection(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(kind, info) => {
            matches!(kind, DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand)
                || LOST_CONNECTION_MESSAGES.iter().any(|m| info.message().contains(m))
        }
        // The transaction manager gives up on a connection whose ROLLBACK or COMMIT failed.
        DieselError::BrokenTransactionManager => true,
        DieselError::RollbackErrorOnCommit { rollback_error, commit_error } => {
            is_lost_connection(rollback_error) || is_lost_connection(commit_error)
        }
        _ => false,
    }
}

impl DbError {
    /// True when an insert hit a unique key: the idempotency guard of inboxes and warnings.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))
    }

    /// True when the connection the work ran on was lost (terminated, server restarted, network
    /// gone): nothing the work did is committed unless it was committing.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            DbError::Query(error) | DbError::CommitUncertain(error) => is_lost_connection(error),
            _ => false,
        }
    }

    /// True when the database is out of reach or busy rather than refusing the work: worth
    /// waiting for, never a reason to give up on an event.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Cancelled | DbError::CommitUncertain(_) => true,
            DbError::Query(DieselError::DatabaseError(_, info)) if info.message().contains("database is locked") => {
                true
            }
            other => other.is_connection_lost(),
        }
    }
}

/// Opens connections of the configured backend directly (the derive's `establish` would try
/// each backend in turn).
#[derive(Debug, Clone)]
pub struct DbManager {
    url: String,
    backend: Backend,
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match self.backend {
            Backend::Postgres => {
                PgConnection::establish(&self.url).map(DbConnection::Pg).map_err(diesel::r2d2::Error::ConnectionError)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url).map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the one writer; the busy timeout makes writers
                // queue instead of failing. The timeout comes first: switching a new database
                // to WAL takes a lock, and without it a connection opened while another writes
                // (a demo seeding at start) failed at once with "database is locked".
                conn.batch_execute(
                    "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    /// A connection handed back with a transaction still open (its task was cancelled, or it
    /// panicked) or whose transaction manager gave up is closed, not reused: closing it rolls
    /// the transaction back and frees what it locked.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// The pool, cheap to clone; every service holds one.
#[derive(Clone)]
pub struct Db {
    pool: Pool<DbManager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish()
    }
}

/// Creates a missing SQLite file readable and writable by its owner only (it holds sealed
/// identities and every message); SQLite gives its journal files the same mode. An existing file,
/// or an in-memory database, is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with(':') {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

impl Db {
    /// Opens the configured database, or the embedded SQLite file when none is configured.
    pub fn open(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let url = settings.url.clone().unwrap_or_else(|| EMBEDDED_DATABASE_PATH.to_string());
        let (backend, url) = if is_postgres_url(&url) {
            (Backend::Postgres, url)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(&url).to_string();
            if let Some(parent) = Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| DbError::Open(format!("cannot create {}: {e}", parent.display())))?;
            }
            create_private(Path::new(&path))
                .map_err(|e| DbError::Open(format!("cannot create {}: {e}", Path::new(&path).display())))?;
            (Backend::Sqlite, path)
        };
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .build(DbManager { url, backend })
            .map_err(|e| DbError::Open(e.to_string()))?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(&self) -> Result<PooledConnection<DbManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Applies every pending migration of this backend; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConnection::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        };
        applied.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// True when the schema is current, so a service refuses to start on an old schema.
    pub fn has_pending_migrations(&self) -> Result<bool, DbError> {
        let mut conn = self.get()?;
        let pending = match &mut *conn {
            DbConnection::Pg(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        };
        pending.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Runs blocking database work off the async runtime, in autocommit. Not run again when the
    /// connection is lost: a lone statement may have been applied before its answer was lost.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        // The caller's span follows the work onto the blocking thread: its logs keep their
        // ids, and events written to the outbox there keep the caller's trace.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// Runs reads that must agree with each other (a view built from several queries) on one
    /// snapshot, off the async runtime; run once more on a fresh connection if the first one
    /// was lost (reads change nothing).
    pub async fn read<T, F>(&self, mut work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.blocking(move |pool| {
            retry_once_if_lost(pool, |conn| {
                let outcome = read_snapshot(conn, &mut work);
                match outcome {
                    Err(error) if error.is_connection_lost() || conn.is_broken() => Attempt::Lost(error),
                    done => Attempt::Done(done),
                }
            })
        })
        .await
    }

    /// Runs `work` in one write transaction off the async runtime. If the connection is lost
    /// before COMMIT was sent (terminated, a server restart), nothing was committed and `work`
    /// runs once more on a fresh connection; a connection lost during COMMIT leaves the outcome
    /// unknown, so that is never run again ([`DbError::CommitUncertain`]).
    pub async fn write<T, E, F>(&self, mut work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        self.blocking(move |pool| retry_once_if_lost(pool, |conn| write_attempt(conn, &mut work))).await
    }

    /// Runs `job` on a blocking thread with the pool, in the caller's span.
    async fn blocking<T, E, J>(&self, job: J) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        J: FnOnce(&Pool<DbManager>) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            job(&pool)
        })
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
    }

    /// True when a trivial query answers (readiness).
    pub async fn is_reachable(&self) -> bool {
        self.run(|conn| conn.ping().map_err(DbError::from)).await.is_ok()
    }
}

/// What one attempt at a transaction came to.
enum Attempt<T, E> {
    Done(Result<T, E>),
    /// The connection was lost before anything was committed: safe to run again.
    Lost(E),
}

/// Runs `attempt` on a pooled connection, and once more on a fresh one if that connection was
/// lost; the lost one is discarded (the pool drops a broken connection).
fn retry_once_if_lost<T, E, A>(pool: &Pool<DbManager>, mut attempt: A) -> Result<T, E>
where
    E: From<DbError>,
    A: FnMut(&mut DbConnection) -> Attempt<T, E>,
{
    let mut conn = pool.get().map_err(DbError::from)?;
    match attempt(&mut conn) {
        Attempt::Done(outcome) => outcome,
        Attempt::Lost(_) => {
            drop(conn);
            tracing::warn!("database connection lost before commit; running the transaction again on a fresh one");
            let mut conn = pool.get().map_err(DbError::from)?;
            match attempt(&mut conn) {
                Attempt::Done(outcome) => outcome,
                Attempt::Lost(error) => Err(error),
            }
        }
    }
}

fn begin_write(conn: &mut DbConnection) -> Result<(), DbError> {
    let begun = match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction(c),
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
    };
    Ok(begun?)
}

type Manager = <DbConnection as Connection>::TransactionManager;

/// Commits the open transaction; a connection lost during COMMIT leaves it unknown whether the
/// server committed.
fn commit(conn: &mut DbConnection) -> Result<(), DbError> {
    Manager::commit_transaction(conn).map_err(|commit_error| {
        let _ = Manager::rollback_transaction(conn);
        if is_lost_connection(&commit_error) {
            DbError::CommitUncertain(commit_error)
        } else {
            DbError::from(commit_error)
        }
    })
}

/// One write transaction; `Lost` when the connection went before COMMIT was sent. A failed
/// work whose connection cannot even roll back has lost it, whatever error the work made of it.
fn write_attempt<T, E, F>(conn: &mut DbConnection, work: &mut F) -> Attempt<T, E>
where
    E: From<DbError>,
    F: FnMut(&mut DbConnection) -> Result<T, E>,
{
    if let Err(error) = begin_write(conn) {
        let lost = error.is_connection_lost() || conn.is_broken();
        return if lost { Attempt::Lost(error.into()) } else { Attempt::Done(Err(error.into())) };
    }
    match work(conn) {
        Ok(value) => Attempt::Done(commit(conn).map(|()| value).map_err(E::from)),
        Err(error) => {
            let _ = Manager::rollback_transaction(conn);
            if conn.is_broken() { Attempt::Lost(error) } else { Attempt::Done(Err(error)) }
        }
    }
}

/// One write transaction; on SQLite it starts with `BEGIN IMMEDIATE` so two writers queue on
/// the busy timeout instead of one failing when it upgrades a read snapshot.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    E: From<DbError>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    begin_write(conn)?;
    match work(conn) {
        Ok(value) => {
            commit(conn)?;
            Ok(value)
        }
        Err(error) => {
            let _ = Manager::rollback_transaction(conn);
            Err(error)
        }
    }
}

/// Runs `work` in a read-only transaction on one snapshot. PostgreSQL's default isolation takes
/// a new snapshot per statement, so a view read in several queries could mix a state from
/// before a commit with rows from after it; REPEATABLE READ keeps one. SQLite's deferred
/// transaction keeps its first read's snapshot anyway.
pub fn read_snapshot<T, F>(conn: &mut DbConnection, work: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
{
    conn.transaction(|conn| {
        if let DbConnection::Pg(c) = conn {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        work(conn)
    })
}

/// Serialises, until the end of the current transaction, every transaction that takes the same
/// `key` (e.g. a message id), so two handlers reading and then writing the same facts cannot
/// interleave. PostgreSQL: a transaction-scoped advisory lock. SQLite: write transactions
/// already run one at a time.
pub fn lock_key(conn: &mut DbConnection, key: &str) -> Result<(), DbError> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(c)?;
    }
    Ok(())
}

/// Like `lock_key`, but shared: holders of the shared lock run together and exclude only the
/// holder of the exclusive one (clocks started on a calendar, against a change of it).
pub fn lock_key_shared(conn: &mut DbConnection, key: &str) -> Result<(), DbError> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(key)
            .execute(c)?;
    }
    Ok(())
}

/// `postgres://u@h:p/old?x` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// The number a counting query written as SQL answers (`SELECT count(*) AS n …`): for
/// benchmarks, tests and operators' checks, never with input from a request.
pub fn count_rows(conn: &mut DbConnection, query: &str) -> Result<i64, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let counted: Count = match conn {
        DbConnection::Pg(c) => diesel::sql_query(query).get_result(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(query).get_result(c)?,
    };
    Ok(counted.n)
}

/// The current instant as stored: UTC, without offset, at microsecond precision (what
/// PostgreSQL keeps), so a value read back equals the value written.
pub fn to_db_time(instant: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    let naive = instant.naive_utc();
    let micros = naive.and_utc().timestamp_subsec_micros();
    naive.with_nanosecond(micros * 1_000).unwrap_or(naive)
}

pub fn from_db_time(stored: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    stored.and_utc()
}

/// `text` for a LIKE pattern escaped with `\\`: its `%`, `_` and `\\` match only themselves.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A `LIKE` pattern (escape character `\`) matching an area path, stored as a JSON array of
/// codes, that holds `code`.
pub fn area_path_pattern(code: &str) -> String {
    format!("%{}%", escape_like(&serde_json::Value::from(code).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DbError {
        DbError::Query(DieselError::DatabaseError(kind, Box::new(message.to_string())))
    }

    /// The shapes diesel 2.3 with the bundled libpq gave on PostgreSQL 15 after
    /// `pg_terminate_backend` (idle, idle in a transaction, mid-query, at COMMIT, with and
    /// without TLS), after `idle_in_transaction_session_timeout`, and across a server restart;
    /// and the FATAL texts a server sends before it closes the socket.
    #[test]
    fn every_shape_of_a_lost_connection_is_recognised() {
        use DatabaseErrorKind::{ClosedConnection, UnableToSendCommand, Unknown};
        let lost = [
            database_error(ClosedConnection, "SSL connection has been closed unexpectedly\n"),
            database_error(
                ClosedConnection,
                "server closed the connection unexpectedly\n\tThis probably means the server terminated \
                 abnormally\n\tbefore or while processing the request.\n",
            ),
            database_error(UnableToSendCommand, "no connection to the server\n"),
            DbError::Query(DieselError::BrokenTransactionManager),
            database_error(Unknown, "terminating connection due to administrator command"),
            database_error(Unknown, "terminating connection due to idle-in-transaction timeout"),
            database_error(Unknown, "the database system is shutting down"),
            database_error(Unknown, "SSL SYSCALL error: EOF detected"),
            database_error(Unknown, "could not receive data from server: Connection reset by peer"),
            DbError::Query(DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(DieselError::BrokenTransactionManager),
                commit_error: Box::new(DieselError::DatabaseError(
                    ClosedConnection,
                    Box::new("server closed the connection unexpectedly".to_string()),
                )),
            }),
        ];
        for error in lost {
            assert!(error.is_connection_lost(), "{error:?}");
            assert!(error.is_unavailable(), "{error:?}");
        }
        let uncertain = DbError::CommitUncertain(DieselError::BrokenTransactionManager);
        assert!(uncertain.is_unavailable());
        assert!(database_error(Unknown, "database is locked").is_unavailable());
    }

    #[test]
    fn refusals_are_not_taken_for_an_outage() {
        for error in [
            database_error(DatabaseErrorKind::UniqueViolation, "duplicate key value violates unique constraint"),
            database_error(DatabaseErrorKind::Unknown, "relation \"x\" does not exist"),
            database_error(DatabaseErrorKind::SerializationFailure, "could not serialize access"),
            DbError::Query(DieselError::NotFound),
            DbError::Refused("broken invariant".into()),
        ] {
            assert!(!error.is_connection_lost(), "{error:?}");
            assert!(!error.is_unavailable(), "{error:?}");
        }
    }

    #[test]
    fn database_name_is_replaced_keeping_the_query() {
        assert_eq!(with_database("postgres://p@h:5432/test", "x"), "postgres://p@h:5432/x");
        assert_eq!(with_database("postgres://p@h/test?sslmode=disable", "x"), "postgres://p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}
