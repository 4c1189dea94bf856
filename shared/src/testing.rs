//! Test support: a fresh database (PostgreSQL when `NAZER_TEST_DATABASE_URL` is set, else a
//! SQLite file) and broker namespace (RabbitMQ when `NAZER_TEST_BROKER_URL` is set) per test,
//! so tests run in parallel. With `CI=true`, a missing server fails the test instead of
//! falling back to the embedded backends.

use diesel::prelude::*;
use diesel::sql_query;

use crate::config::Settings;

pub const DATABASE_VAR: &str = "NAZER_TEST_DATABASE_URL";
pub const BROKER_VAR: &str = "NAZER_TEST_BROKER_URL";

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

fn required(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if in_ci() => panic!("CI=true but {var} is not set: this test needs the real server"),
        _ => None,
    }
}

/// The PostgreSQL test server, if configured.
pub fn postgres_url() -> Option<String> {
    required(DATABASE_VAR)
}

/// The RabbitMQ test broker, if configured.
pub fn broker_url() -> Option<String> {
    required(BROKER_VAR)
}

/// A database of its own for one test; dropped with it.
pub struct TestDatabase {
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// PostgreSQL when configured, otherwise a SQLite file in a temporary directory.
    pub fn create() -> Self {
        match postgres_url() {
            Some(admin_url) => Self::postgres(&admin_url),
            None => Self::sqlite(),
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let url = dir.path().join("nazer-test.db").display().to_string();
        Self { url, admin: None, _dir: Some(dir) }
    }

    pub fn postgres(admin_url: &str) -> Self {
        let name = format!("nazer_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("{DATABASE_VAR} ({admin_url}) is unreachable: {e}"));
        sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
        Self { url: with_database(admin_url, &name), admin: Some((admin_url.to_string(), name)), _dir: None }
    }

    pub fn is_postgres(&self) -> bool {
        self.admin.is_some()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.admin
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
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

/// Settings for a test host: its own database, the test broker (or the in-process bus) under
/// a namespace of its own, an ephemeral port and fast loops.
pub fn settings(database: &TestDatabase) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = Some(database.url.clone());
    settings.database.pool_size = 6;
    settings.http.addr = "127.0.0.1:0".into();
    settings.http.workers = 1;
    settings.broker.url = broker_url();
    settings.broker.namespace = format!("nazer-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    settings.broker.queue_expires_ms = Some(10 * 60 * 1000);
    settings.outbox.poll_interval_ms = 100;
    settings.deadlines.max_idle_ms = 200;
    settings.webhooks.poll_interval_ms = 100;
    settings.webhooks.initial_backoff_ms = 100;
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced_keeping_the_query() {
        assert_eq!(with_database("postgres://p@h:5432/test", "x"), "postgres://p@h:5432/x");
        assert_eq!(with_database("postgres://p@h/test?sslmode=disable", "x"), "postgres://p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}
