//! Test support: a fresh database (PostgreSQL when `NAZER_TEST_DATABASE_URL` is set, else a
//! SQLite file) and broker namespace (RabbitMQ when `NAZER_TEST_BROKER_URL` is set) per test,
//! so tests run in parallel. With `CI=true`, a missing server fails the test instead of
//! falling back to the embedded backends.

use diesel::prelude::*;
use diesel::sql_query;

use crate::config::Settings;

pub mod fault_proxy;
pub mod fixtures;
pub mod list_contract;
pub mod tokens;

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
        Self { url: crate::db::with_database(admin_url, &name), admin: Some((admin_url.to_string(), name)), _dir: None }
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
    // Quorum queues are heavy for a broker: those a test leaves behind go after a minute.
    settings.broker.queue_expires_ms = Some(60 * 1000);
    settings.outbox.poll_interval_ms = 100;
    settings.deadlines.max_idle_ms = 200;
    settings.webhooks.poll_interval_ms = 100;
    settings.webhooks.initial_backoff_ms = 100;
    // Tests' webhook receivers listen on loopback, which the egress policy otherwise refuses.
    settings.webhooks.allowed_networks = LOOPBACK_NETWORKS.into();
    settings.privacy.reporter_keys = Some(REPORTER_KEYS.into());
    settings.privacy.search_key = Some(SEARCH_KEY.into());
    settings
}

/// The networks test hosts' webhooks may reach: their local receivers.
pub const LOOPBACK_NETWORKS: &str = "127.0.0.0/8,::1/128";

/// The reporter-sealing key of test hosts.
pub const REPORTER_KEYS: &str = "test:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The blind-index key of test hosts.
pub const SEARCH_KEY: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

/// The bootstrap key every test host accepts (call centre and admin).
pub const ADMIN_KEY: &str = "test-bootstrap-key-0123456789";

/// A host started for a test on its own database, with a client to talk to it.
pub struct TestApp {
    pub host: Option<crate::runtime::RunningHost>,
    pub settings: Settings,
    pub base: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
}

impl TestApp {
    /// Starts `entries` on a fresh database; the in-process bus is allowed unless the test
    /// broker is configured.
    pub async fn start(entries: &[crate::runtime::ServiceEntry]) -> Self {
        Self::start_with(entries, |_| {}).await
    }

    pub async fn start_with(entries: &[crate::runtime::ServiceEntry], tune: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(TestDatabase::create(), entries, tune).await
    }

    /// Starts `entries` on `database`, as it is (migrated first).
    pub async fn start_on(
        database: TestDatabase,
        entries: &[crate::runtime::ServiceEntry],
        tune: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut settings = self::settings(&database);
        settings.auth.bootstrap_api_key = Some(ADMIN_KEY.into());
        tune(&mut settings);
        let kept = settings.clone();
        let options = crate::runtime::HostOptions {
            migrate: true,
            in_process_bus: true,
            extra_routes: None,
            seeding: false,
            demo: false,
        };
        let host = crate::runtime::start(settings, entries, options, crate::clock::system_clock())
            .await
            .unwrap_or_else(|e| panic!("test host did not start: {e}"));
        let base = format!("http://{}", host.addr);
        Self { host: Some(host), settings: kept, base, client: reqwest::Client::new(), database }
    }

    pub fn db(&self) -> &crate::db::Db {
        match &self.host {
            Some(host) => &host.db,
            None => panic!("the host was stopped"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `method path` with `key` (and `body` as JSON); the status and the JSON answer.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method.clone(), self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        read(response).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::POST, path, key, Some(body)).await
    }

    pub async fn put(&self, path: &str, key: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::PUT, path, key, Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::DELETE, path, key, None).await
    }

    /// Every event of `event_type` in the outbox, published or not, oldest first; each must
    /// have been written by `producer`.
    pub fn outbox_events(&self, producer: &str, event_type: &str) -> Vec<crate::events::Envelope> {
        use crate::schema::outbox;
        #[derive(Queryable, Selectable)]
        #[diesel(table_name = outbox)]
        struct Written {
            producer: String,
            envelope: String,
        }
        let mut conn = self.db().get().unwrap_or_else(|e| panic!("test database: {e}"));
        let rows: Vec<Written> = outbox::table
            .filter(outbox::event_type.eq(event_type))
            .order(outbox::id)
            .select(Written::as_select())
            .load(&mut *conn)
            .unwrap_or_else(|e| panic!("outbox: {e}"));
        rows.into_iter()
            .map(|row| {
                assert_eq!(row.producer, producer, "{event_type} written by an unexpected producer");
                serde_json::from_str(&row.envelope).unwrap_or_else(|e| panic!("{e}: {}", row.envelope))
            })
            .collect()
    }

    /// Stops the host and deletes its broker queues.
    pub async fn stop(&mut self) {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
        if let Some(url) = &self.settings.broker.url {
            let bus = crate::bus::RabbitBus::new(url, &self.settings.broker);
            if let Err(error) = bus.delete_topology().await {
                eprintln!("test queues not deleted (they expire): {error}");
            }
        }
    }
}

pub async fn read(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, body)
}

/// The fields a problem document names (`errors[].field`), in order.
pub fn problem_fields(body: &serde_json::Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no `errors` in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Follows `next_cursor` from `path` (whose query carries `limit=2`), starting at `cursor`, to
/// the last page: the `id_field` of each item of the `list` array, page by page. Every page but
/// the last is full and `next_cursor` is always sent (a string, null on the last page).
pub async fn page_through(
    app: &TestApp,
    path: &str,
    key: &str,
    (list, id_field): (&str, &str),
    mut cursor: Option<String>,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    for _ in 0..20 {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_string(),
        };
        let (status, body) = app.get(&url, key).await;
        assert_eq!(status, 200, "{url}: {body}");
        let items = body[list].as_array().cloned().unwrap_or_else(|| panic!("no `{list}` in {body}"));
        let ids: Vec<String> = items
            .iter()
            .map(|item| item[id_field].as_str().unwrap_or_else(|| panic!("no `{id_field}` in {body}")).to_string())
            .collect();
        pages.push(ids);
        match &body["next_cursor"] {
            serde_json::Value::String(next) => {
                assert_eq!(items.len(), 2, "a page followed by another is full: {body}");
                cursor = Some(next.clone());
            }
            serde_json::Value::Null if body.get("next_cursor").is_some() => {
                assert!(items.len() <= 2, "{body}");
                return pages;
            }
            other => panic!("next_cursor is always sent, a string or null, not {other}: {body}"),
        }
    }
    panic!("{path}: more than 20 pages")
}

/// Polls `probe` every 50 ms until it yields a value or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A local HTTP server for a test (a webhook receiver, a JWKS endpoint, an OTLP receiver): the
/// routes `configure` gives, one worker, an ephemeral port on 127.0.0.1.
pub struct LocalServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    handle: actix_web::dev::ServerHandle,
}

impl LocalServer {
    pub fn start(configure: impl Fn(&mut actix_web::web::ServiceConfig) + Send + Clone + 'static) -> Self {
        let server = actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("test server bind: {e}"));
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url: format!("http://{addr}"), handle }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// One request a [`WebhookReceiver`] got.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedWebhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A local HTTP receiver for webhooks: answers with the status the test sets (204 by
/// default) and records the requests it answered with a 2xx.
pub struct WebhookReceiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<ReceivedWebhook>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    server: LocalServer,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        use actix_web::{HttpRequest, HttpResponse, web};
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(204));
        let (store, answer) = (received.clone(), status.clone());
        let server = LocalServer::start(move |cfg| {
            let (store, answer) = (store.clone(), answer.clone());
            cfg.default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (store, answer) = (store.clone(), answer.clone());
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect();
                    let code = answer.load(std::sync::atomic::Ordering::SeqCst);
                    if (200..300).contains(&code) {
                        store.lock().unwrap_or_else(|p| p.into_inner()).push(ReceivedWebhook {
                            path: req.path().to_string(),
                            headers,
                            body: body.to_vec(),
                        });
                    }
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::OK),
                    )
                    .finish()
                }
            }));
        });
        Self { url: server.url.clone(), received, status, server }
    }

    /// Every request answered with a 2xx so far.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, std::sync::atomic::Ordering::SeqCst);
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
