//! The host that runs one or more services in a process: database, bus, each service's
//! consumer, outbox relay and workers, and one HTTP server carrying every service's routes
//! (their paths are disjoint, exactly as behind an Ingress).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, middleware, web};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, BusError, BusKind, InProcessBus, RabbitBus};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{Db, DbError};
use crate::http::auth::{AuthStore, BOOTSTRAP_KEY_ID, Scope, ensure_key};
use crate::http::json::MAX_JSON_BODY;
use crate::http::openapi::{self, ApiDocs};
use crate::http::ops::{self, Readiness, Stopping};
use crate::http::problem;
use crate::inbox::{EventHandler, InboxSink};
use crate::outbox::OutboxRelay;
use crate::topology;

/// Everything a service needs from its host.
#[derive(Clone)]
pub struct ServiceContext {
    pub service: &'static str,
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
    /// Wakes this service's outbox relay; call [`ServiceContext::committed`] after a commit.
    pub outbox_wake: Arc<Notify>,
}

impl ServiceContext {
    pub fn committed(&self) {
        self.outbox_wake.notify_one();
    }
}

/// One of the five services, as the host sees it.
pub trait Service: Send + Sync + 'static {
    /// Reacts to the events `topology::consumed_by(name)` lists.
    fn handler(&self) -> Option<Arc<dyn EventHandler>>;

    /// Registers this service's routes (full paths; never a shared scope such as `/api/v1`,
    /// which would hide the other services' routes in one process).
    fn routes(&self, cfg: &mut web::ServiceConfig);

    /// Background loops (deadline firing, webhook delivery).
    fn workers(&self, _shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        Vec::new()
    }

    /// This service's operations, described (served at `/api/v1/openapi.json`).
    fn openapi(&self) -> utoipa::openapi::OpenApi;

    /// Notified after each consumed event commits, besides the outbox relay.
    fn after_commit(&self) -> Vec<Arc<Notify>> {
        Vec::new()
    }
}

/// Builds a service, or says why it cannot start (a missing key, say).
pub type ServiceFactory = fn(ServiceContext) -> Result<Arc<dyn Service>, String>;

/// A service a host can start: its name (queue, outbox producer, logs) and its constructor.
#[derive(Clone, Copy)]
pub struct ServiceEntry {
    pub name: &'static str,
    pub factory: ServiceFactory,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("{0}")]
    Refused(String),
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

#[derive(Clone, Copy)]
pub struct HostOptions {
    /// Apply pending migrations at start (the embedded default); otherwise refuse to start
    /// on an old schema.
    pub migrate: bool,
    /// Accept the in-process bus: only when every service runs in this one process.
    pub in_process_bus: bool,
    /// Routes that belong to no service (the demo webhook receiver of `nazer up --demo`).
    pub extra_routes: Option<fn(&mut web::ServiceConfig)>,
}

/// A started host; dropping it does not stop it, call [`RunningHost::stop`].
pub struct RunningHost {
    pub addr: SocketAddr,
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    shutdown: CancellationToken,
    server: actix_web::dev::ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    tasks: Vec<Task>,
    /// How long stopping may take, from the signal to the exit.
    grace: Duration,
    stopping: Stopping,
}

impl RunningHost {
    /// Runs until SIGTERM or SIGINT, then stops within the grace period: no new requests or
    /// deliveries, those in flight finished, the outbox flushed.
    pub async fn wait(self) -> Result<(), HostError> {
        let RunningHost { shutdown, server, mut server_task, tasks, grace, stopping, .. } = self;
        tokio::select! {
            served = &mut server_task => {
                drain(shutdown, tasks, grace).await;
                return served.map_err(|e| HostError::Refused(e.to_string()))?.map_err(HostError::from);
            }
            signal = termination() => tracing::info!(signal, grace_secs = grace.as_secs(), "stopping"),
        }
        let signalled = std::time::Instant::now();
        // Half a second is kept for leaving the process once the waiting is over.
        let deadline = tokio::time::Instant::now() + grace.saturating_sub(Duration::from_millis(500));
        // No new requests (503, connection closed) nor connections; those in flight finish.
        stopping.begin();
        server.stop(true).await;
        let served = server_task.await.map_err(|e| HostError::Refused(e.to_string()))?;
        tracing::debug!(ms = signalled.elapsed().as_millis() as u64, "HTTP server stopped");
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(200));
        drain(shutdown, tasks, left).await;
        tracing::info!(ms = signalled.elapsed().as_millis() as u64, "stopped");
        served.map_err(HostError::from)
    }

    /// Stops taking requests, then stops consumers and workers and flushes the outboxes.
    pub async fn stop(self) {
        self.stopping.begin();
        self.server.stop(true).await;
        let _ = self.server_task.await;
        drain(self.shutdown, self.tasks, self.grace).await;
    }
}

/// SIGTERM (Kubernetes, `docker stop`) or SIGINT (Ctrl-C); its name.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Stops consumers (a delivery in flight is committed and acknowledged, or handed back to the
/// broker) and workers, and lets each outbox relay flush what was committed.
async fn drain(shutdown: CancellationToken, tasks: Vec<Task>, within: Duration) {
    use futures_util::StreamExt;
    let started = std::time::Instant::now();
    shutdown.cancel();
    let mut left: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    let mut running: futures_util::stream::FuturesUnordered<_> =
        tasks.into_iter().map(|t| async move { (t.handle.await, t.name) }).collect();
    let all = async {
        while let Some((joined, name)) = running.next().await {
            left.retain(|n| *n != name);
            let ms = started.elapsed().as_millis() as u64;
            tracing::debug!(task = %name, ms, panicked = joined.is_err(), "background task stopped");
        }
    };
    if tokio::time::timeout(within, all).await.is_err() {
        tracing::warn!(secs = within.as_secs(), still_running = ?left, "background tasks did not stop within the grace period");
    }
}

/// A background loop of the host, named in the logs of a shutdown.
struct Task {
    name: String,
    handle: JoinHandle<()>,
}

impl Task {
    fn new(service: &str, role: &str, handle: JoinHandle<()>) -> Self {
        Self { name: format!("{service}.{role}"), handle }
    }
}

/// Opens the bus the settings ask for.
pub fn open_bus(settings: &Settings, in_process_allowed: bool, services: &[&str]) -> Result<Arc<dyn Bus>, HostError> {
    match &settings.broker.url {
        Some(url) => Ok(RabbitBus::new(url, &settings.broker)),
        None if in_process_allowed => Ok(InProcessBus::new(settings.broker.delivery_limit)),
        None => Err(HostError::Refused(format!(
            "NAZER__BROKER__URL is not set: the {} service runs in its own process, and the in-process \
             bus only links services inside one `nazer up`; set NAZER__BROKER__URL=amqp://… (RabbitMQ)",
            services.join(", ")
        ))),
    }
}

/// Starts `entries` in this process and returns once the HTTP address is bound.
pub async fn start(
    settings: Settings,
    entries: &[ServiceEntry],
    options: HostOptions,
    clock: SharedClock,
) -> Result<RunningHost, HostError> {
    let settings = Arc::new(settings);
    let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    let bus = open_bus(&settings, options.in_process_bus, &names)?;
    let db = Db::open(&settings.database)?;
    if options.migrate {
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
    } else if db.has_pending_migrations()? {
        return Err(HostError::Refused("the database schema is behind this version: run `nazer migrate` first".into()));
    }
    let mut services: Vec<Arc<dyn Service>> = Vec::new();
    if let Some(secret) = settings.auth.bootstrap_api_key.clone() {
        let now = clock.now();
        db.run(move |conn| {
            ensure_key(conn, BOOTSTRAP_KEY_ID, "bootstrap key", &secret, &[Scope::CallCenter, Scope::Admin], None, now)
        })
        .await?;
    }
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut relays = Vec::new();
    for entry in entries {
        let context = ServiceContext {
            service: entry.name,
            db: db.clone(),
            bus: bus.clone(),
            settings: settings.clone(),
            clock: clock.clone(),
            outbox_wake: Arc::new(Notify::new()),
        };
        let service =
            (entry.factory)(context.clone()).map_err(|e| HostError::Refused(format!("{}: {e}", entry.name)))?;
        if let Some(handler) = service.handler() {
            let mut after_commit = vec![context.outbox_wake.clone()];
            after_commit.extend(service.after_commit());
            let sink = Arc::new(InboxSink {
                consumer: entry.name,
                db: db.clone(),
                handler,
                clock: clock.clone(),
                after_commit,
            });
            let spec = topology::consumer_spec(entry.name);
            tasks.push(Task::new(entry.name, "consumer", bus.consume(spec, sink, shutdown.child_token()).await?));
        }
        relays.push(OutboxRelay {
            db: db.clone(),
            bus: bus.clone(),
            producer: entry.name,
            settings: settings.outbox.clone(),
            clock: clock.clone(),
            wake: context.outbox_wake.clone(),
        });
        tasks.extend(service.workers(shutdown.child_token()).into_iter().map(|h| Task::new(entry.name, "worker", h)));
        services.push(service);
    }
    // Relays start once every local consumer is registered, so the in-process bus has
    // somewhere to deliver from the first event on.
    for relay in relays {
        let producer = relay.producer;
        tasks.push(Task::new(producer, "outbox", tokio::spawn(relay.run(shutdown.child_token()))));
    }
    if bus.kind() == BusKind::InProcess {
        tracing::info!("events travel on the in-process bus");
    }

    let described: Vec<(&'static str, utoipa::openapi::OpenApi)> =
        entries.iter().zip(&services).map(|(entry, service)| (entry.name, service.openapi())).collect();
    let docs = Arc::new(ApiDocs::new(&described).map_err(|e| HostError::Refused(format!("API document: {e}")))?);
    let stopping = Stopping::default();
    let readiness = Readiness { db: db.clone(), bus: bus.clone(), stopping: stopping.clone() };
    let jwt = crate::http::jwt::JwtVerifier::from_settings(&settings.auth.jwt).map(Arc::new);
    let auth = AuthStore { db: db.clone(), jwt };
    let app_services = services.clone();
    let extra_routes = options.extra_routes;
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(web::Data::new(auth.clone()))
            .app_data(web::PayloadConfig::new(MAX_JSON_BODY))
            .app_data(web::PathConfig::default().error_handler(problem::path_error))
            .wrap(middleware::from_fn(ops::refuse_control_characters))
            .wrap(middleware::from_fn(ops::refuse_when_stopping))
            .wrap(middleware::from_fn(ops::observe))
            .configure(|cfg| ops::configure(cfg, readiness.clone()))
            .configure(|cfg| openapi::configure(cfg, docs.clone()));
        for service in &app_services {
            app = app.configure(|cfg| service.routes(cfg));
        }
        if let Some(extra) = extra_routes {
            app = app.configure(extra);
        }
        app
    })
    .workers(settings.http.workers)
    // Signals are this host's to handle (`RunningHost::wait`): one grace period for everything.
    .disable_signals()
    .shutdown_timeout(settings.http.shutdown_grace_secs)
    .bind(settings.http.addr.as_str())?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| HostError::Refused(format!("could not bind {}", settings.http.addr)))?;
    let server = server.run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(%addr, services = ?names, "nazer is listening");
    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    Ok(RunningHost { addr, db, bus, shutdown, server: handle, server_task, tasks, grace, stopping })
}

/// The `main` of a service binary: one service, configured from `nazer.toml` and the
/// environment, on RabbitMQ, until SIGTERM.
pub async fn serve_alone(entry: ServiceEntry) -> Result<(), HostError> {
    let settings = Settings::load(None).map_err(|e| HostError::Refused(e.to_string()))?;
    crate::telemetry::init(&settings.log);
    let options = HostOptions { migrate: false, in_process_bus: false, extra_routes: None };
    let host = match start(settings, &[entry], options, crate::clock::system_clock()).await {
        Ok(host) => host,
        Err(error) => {
            tracing::error!(%error, service = entry.name, "cannot start");
            return Err(error);
        }
    };
    host.wait().await
}
