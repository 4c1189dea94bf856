//! Claims of rows for work done outside the database (a publish and its confirms, webhook POSTs),
//! so that no other replica does the same work meanwhile and a dead holder's rows are free again
//! at once. The per-backend seam: PostgreSQL holds the rows by row locks in a transaction that
//! stays open for the work's duration; one process alone (SQLite, or the in-process bus) leases them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};

use super::{Backend, Db, DbConnection, DbError, DbManager, Manager, begin_write, commit, write_transaction};

/// How a claim keeps its rows while its holder works outside the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Row locks (`select_skip_locked!`) in a transaction left open until the work's outcome is
    /// recorded: other replicas skip the rows meanwhile, and a holder that dies drops its
    /// connection, so the server rolls back and frees them at once.
    Locks,
    /// A lease committed with the claim. For one process alone: SQLite (one writer, whose write
    /// lock must not be held across the work), or the in-process bus (whose publish waits for
    /// local consumers, which need connections of the same pool). Its stale leases are freed
    /// when it starts, as no other process can hold them.
    Lease,
}

impl Hold {
    /// The lease a claim writes: `until` when leasing, none when the locks hold the rows.
    pub fn lease(self, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self == Hold::Lease).then_some(until)
    }
}

/// Claimed rows, and what holds them until [`Db::finish`].
pub struct Claimed<R> {
    pub rows: Vec<R>,
    pub held: Held,
}

/// The open transaction holding claimed rows (none for a lease or an empty claim). Dropped
/// without [`Db::finish`] (a cancelled task, a panic), its connection goes back to the pool with
/// the transaction open; the pool closes such a connection (`DbManager::has_broken`), which
/// rolls the transaction back and frees the rows.
pub struct Held {
    conn: Option<PooledConnection<DbManager>>,
}

impl Db {
    /// How this process holds the rows it claims; `single_process` when the work hands events
    /// to consumers of this process (the in-process bus).
    pub fn hold(&self, single_process: bool) -> Hold {
        match self.backend {
            Backend::Postgres if !single_process => Hold::Locks,
            _ => Hold::Lease,
        }
    }

    /// Claims rows with `claim`, which selects them with `select_skip_locked!` and writes the
    /// lease `hold` gives (see [`Hold::lease`]). With [`Hold::Locks`] its transaction stays open
    /// until [`Db::finish`], and the server ends it if it sits idle for `at_most` (a holder
    /// that hangs); with [`Hold::Lease`] it commits at once. An empty claim holds nothing.
    pub async fn claim<R, F>(&self, hold: Hold, at_most: Duration, claim: F) -> Result<Claimed<R>, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<Vec<R>, DbError> + Send + 'static,
    {
        self.blocking(move |pool: &Pool<DbManager>| {
            let mut conn = pool.get()?;
            if hold == Hold::Lease {
                let rows = write_transaction(&mut conn, claim)?;
                return Ok(Claimed { rows, held: Held { conn: None } });
            }
            begin_write(&mut conn)?;
            let claimed = bound_idle_transaction(&mut conn, at_most).and_then(|()| claim(&mut conn));
            match claimed {
                Ok(rows) if !rows.is_empty() => Ok(Claimed { rows, held: Held { conn: Some(conn) } }),
                Ok(rows) => {
                    commit(&mut conn)?;
                    Ok(Claimed { rows, held: Held { conn: None } })
                }
                Err(error) => {
                    let _ = Manager::rollback_transaction(&mut conn);
                    Err(error)
                }
            }
        })
        .await
    }

    /// Records the outcome of the claimed work with `work` and lets the rows go: in the held
    /// transaction, then committed ([`Hold::Locks`]), or in a write transaction of its own
    /// ([`Hold::Lease`], where `work` clears the leases). Never run twice: if the connection is
    /// lost, the work was done but not recorded, and its rows are claimed and done again
    /// (at least once; consumers and receivers recognise a repeat).
    pub async fn finish<T, F>(&self, held: Held, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.blocking(move |pool: &Pool<DbManager>| match held.conn {
            Some(mut conn) => match work(&mut conn) {
                Ok(value) => commit(&mut conn).map(|()| value),
                Err(error) => {
                    let _ = Manager::rollback_transaction(&mut conn);
                    Err(error)
                }
            },
            None => write_transaction(&mut *pool.get()?, work),
        })
        .await
    }
}

/// Bounds how long the server keeps the claim's transaction open while nothing runs in it.
fn bound_idle_transaction(conn: &mut DbConnection, at_most: Duration) -> Result<(), DbError> {
    if let DbConnection::Pg(c) = conn {
        let ms = at_most.as_millis().max(1);
        c.batch_execute(&format!("SET LOCAL idle_in_transaction_session_timeout = {ms}"))?;
    }
    Ok(())
}
