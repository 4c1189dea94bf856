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

use crate::bus::{Bus, BusError, BusKind, ConsumerSpec, InProcessBus, RabbitBus};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::{Backend, Db, DbError};
use crate::http::auth::{AuthStore, BOOTSTRAP_KEY_ID, KeyBinding, Scope, ensure_key};
use crate::http::body::{self, BodyReadTimeout};
use crate::http::home;
use crate::http::json::MAX_JSON_BODY;
use crate::http::openapi::{self, ApiDocs};
use crate::http::ops::{self, Readiness, Stopping};
use crate::http::problem;
use crate::inbox::{EventHandler, InboxSink};
use crate::outbox::OutboxRelay;

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

    /// Runs `work` in one write transaction (see [`Db::write`]) and, once it committed, wakes
    /// the outbox relay to publish the events it wrote.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnMut(&mut crate::db::DbConnection) -> Result<T, E> + Send + 'static,
    {
        let written = self.db.write(work).await;
        if written.is_ok() {
            self.committed();
        }
        written
    }
}

/// One of the five services, as the host sees it.
pub trait Service: Send + Sync + 'static {
    /// Reacts to the events it consumes (built by [`crate::inbox::Handlers`]); the consumer's
    /// queue is bound to exactly the types it handles.
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

/// A service a host can start: its name (queue, outbox producer, logs), its constructor, and
/// the routing keys it consumes, read off its handler registration without building it (so
/// `nazer migrate` can declare every consumer's queue).
#[derive(Clone, Copy)]
pub struct ServiceEntry {
    pub name: &'static str,
    pub factory: ServiceFactory,
    pub consumes: fn() -> Vec<String>,
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
    /// The caller seeds data once the host runs: `/readyz` says not ready until it calls
    /// [`RunningHost::seeded`], so nobody is let in before the keys it seeds exist.
    pub seeding: bool,
    /// `nazer up --demo`: a trial on one machine, where HS256 sign-in may be switched on even
    /// on PostgreSQL.
    pub demo: bool,
}

/// A started host; dropping it does not stop it, call [`RunningHost::stop`].
pub struct RunningHost {
    pub addr: SocketAddr,
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    server: actix_web::dev::ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    /// Consumers and workers, stopped first.
    loops: Vec<Task>,
    stop_loops: CancellationToken,
    /// The outbox relays, stopped once nothing else can commit an event, each flushing its
    /// outbox on the way out.
    relays: Vec<Task>,
    stop_relays: CancellationToken,
    /// How long stopping may take, from the signal to the exit.
    grace: Duration,
    /// How long, within the grace period, the process stays not ready but serving after SIGTERM.
    delay: Duration,
    stopping: Stopping,
    seeding: Arc<std::sync::atomic::AtomicBool>,
}

impl RunningHost {
    /// The caller's seeding is done: ready from now on (see [`HostOptions::seeding`]).
    pub fn seeded(&self) {
        self.seeding.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Runs until SIGTERM or SIGINT, then stops within the grace period: not ready but still
    /// serving for the pre-stop delay (after SIGTERM only: Ctrl-C has no load balancer to
    /// leave), then no new requests or deliveries, those in flight finished, the outbox flushed.
    pub async fn wait(self) -> Result<(), HostError> {
        self.run_until(termination()).await
    }

    /// Serves until `signal` resolves to its name, then stops as [`RunningHost::wait`] does.
    pub async fn run_until(mut self, signal: impl Future<Output = &'static str>) -> Result<(), HostError> {
        let delay = tokio::select! {
            served = &mut self.server_task => {
                let deadline = tokio::time::Instant::now() + self.grace;
                stop_tasks(&self.stop_loops, self.loops, deadline).await;
                stop_tasks(&self.stop_relays, self.relays, deadline).await;
                return served.map_err(|e| HostError::Refused(e.to_string()))?.map_err(HostError::from);
            }
            signal = signal => {
                tracing::info!(signal, grace_secs = self.grace.as_secs(), "stopping");
                if signal == SIGINT { Duration::ZERO } else { self.delay }
            }
        };
        self.shut_down(delay).await
    }

    /// Stops at once (no pre-stop delay: nothing routes to this host through a load balancer)
    /// and waits until it is done.
    pub async fn stop(self) {
        let _ = self.shut_down(Duration::ZERO).await;
    }

    async fn shut_down(self, delay: Duration) -> Result<(), HostError> {
        let started = tokio::time::Instant::now();
        // Half a second is kept for leaving the process once the waiting is over.
        let deadline = started + self.grace.saturating_sub(Duration::from_millis(500));
        // Not ready from now on, still serving for the delay. Meanwhile consumers take no new
        // deliveries (the one in flight is committed and acknowledged, or handed back) and
        // workers stop.
        self.stopping.begin();
        let (stopping, server, server_task) = (self.stopping.clone(), self.server, self.server_task);
        let http = async {
            if !delay.is_zero() {
                tracing::debug!(
                    delay_ms = delay.as_millis() as u64,
                    "not ready; serving until the pre-stop delay is over"
                );
                tokio::time::sleep(delay).await;
            }
            // No new requests (503, connection closed) nor connections; those in flight finish.
            stopping.refuse();
            let stopped = async {
                server.stop(true).await;
                server_task.await
            };
            let served = match tokio::time::timeout_at(deadline, stopped).await {
                Ok(served) => served.map_err(|e| HostError::Refused(e.to_string()))?.map_err(HostError::from),
                Err(_) => {
                    tracing::warn!("requests still in flight at the end of the grace period");
                    Ok(())
                }
            };
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "HTTP server stopped");
            served
        };
        let served = if self.bus.kind() == BusKind::InProcess {
            // In one process the consumers are the bus's only way out: the relays flush to them
            // before they stop (what they commit meanwhile waits for the next start).
            let served = http.await;
            stop_tasks(&self.stop_relays, self.relays, deadline).await;
            stop_tasks(&self.stop_loops, self.loops, deadline).await;
            served
        } else {
            let (served, ()) = tokio::join!(http, stop_tasks(&self.stop_loops, self.loops, deadline));
            // Only now can nothing add to the outbox: the relays' final flush sees every commit.
            stop_tasks(&self.stop_relays, self.relays, deadline).await;
            served
        };
        tracing::info!(ms = started.elapsed().as_millis() as u64, "stopped");
        served
    }
}

const SIGINT: &str = "SIGINT";

/// SIGTERM (Kubernetes, `docker stop`) or SIGINT (Ctrl-C); its name.
async fn termination() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => SIGINT,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    SIGINT
}

/// Tells `tasks` to stop and waits for them until `deadline` (at least a moment): a consumer
/// commits and acknowledges the delivery in flight or hands it back to the broker; a relay
/// flushes its outbox.
async fn stop_tasks(stop: &CancellationToken, tasks: Vec<Task>, deadline: tokio::time::Instant) {
    use futures_util::StreamExt;
    let started = tokio::time::Instant::now();
    stop.cancel();
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
    let until = deadline.max(started + Duration::from_millis(200));
    if tokio::time::timeout_at(until, all).await.is_err() {
        tracing::warn!(still_running = ?left, "background tasks did not stop within the grace period");
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

/// HS256 tokens are signed with a secret every verifier holds, which suits one developer's
/// machine: the embedded SQLite default, or a demo. A deployment on PostgreSQL refuses them.
fn refuse_development_sign_in(settings: &Settings, backend: Backend, demo: bool) -> Result<(), HostError> {
    if settings.auth.jwt.hs256_secret.is_some() && backend == Backend::Postgres && !demo {
        return Err(HostError::Refused(
            "auth.jwt.hs256_secret: HS256 sign-in is for local development (the embedded SQLite database or \
             `nazer up --demo`) and is refused on PostgreSQL; sign people in through the provider's JWKS \
             (auth.jwt.jwks_url) and remove the HS256 secret"
                .into(),
        ));
    }
    Ok(())
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
    refuse_development_sign_in(&settings, db.backend(), options.demo)?;
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
            ensure_key(
                conn,
                BOOTSTRAP_KEY_ID,
                "bootstrap key",
                &secret,
                &[Scope::CallCenter, Scope::Admin],
                KeyBinding::default(),
                now,
            )
        })
        .await?;
    }
    let (stop_loops, stop_relays) = (CancellationToken::new(), CancellationToken::new());
    let mut loops = Vec::new();
    let mut outboxes = Vec::new();
    let mut specs = Vec::new();
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
            let bindings = handler.bindings();
            if bindings != (entry.consumes)() {
                return Err(HostError::Refused(format!(
                    "{}: its handler is bound to {bindings:?}, its entry declares {:?}",
                    entry.name,
                    (entry.consumes)()
                )));
            }
            let spec = ConsumerSpec { consumer: entry.name, bindings };
            specs.push(spec.clone());
            let mut after_commit = vec![context.outbox_wake.clone()];
            after_commit.extend(service.after_commit());
            let sink = Arc::new(InboxSink {
                consumer: entry.name,
                db: db.clone(),
                handler,
                clock: clock.clone(),
                after_commit,
            });
            loops.push(Task::new(entry.name, "consumer", bus.consume(spec, sink, stop_loops.child_token()).await?));
        }
        outboxes.push(OutboxRelay {
            db: db.clone(),
            bus: bus.clone(),
            producer: entry.name,
            settings: settings.outbox.clone(),
            clock: clock.clone(),
            wake: context.outbox_wake.clone(),
        });
        loops.extend(service.workers(stop_loops.child_token()).into_iter().map(|h| Task::new(entry.name, "worker", h)));
        services.push(service);
    }
    // The local consumers' queues exist before the first event is published (their sessions
    // declare them too, but may connect after the relays publish); the others' are declared by
    // `nazer migrate`.
    if let Err(error) = bus.declare(&specs).await {
        tracing::warn!(%error, "queues not declared at start; each consumer declares its own when it connects");
    }
    // Relays start once every local consumer is registered, so the in-process bus has
    // somewhere to deliver from the first event on.
    let mut relays = Vec::new();
    for relay in outboxes {
        let producer = relay.producer;
        relays.push(Task::new(producer, "outbox", tokio::spawn(relay.run(stop_relays.child_token()))));
    }
    if bus.kind() == BusKind::InProcess {
        tracing::info!("events travel on the in-process bus");
    }

    let described: Vec<(&'static str, utoipa::openapi::OpenApi)> =
        entries.iter().zip(&services).map(|(entry, service)| (entry.name, service.openapi())).collect();
    let docs = Arc::new(ApiDocs::new(&described).map_err(|e| HostError::Refused(format!("API document: {e}")))?);
    let stopping = Stopping::default();
    let seeding = Arc::new(std::sync::atomic::AtomicBool::new(options.seeding));
    let readiness =
        Readiness { db: db.clone(), bus: bus.clone(), stopping: stopping.clone(), seeding: seeding.clone() };
    let jwt = crate::http::jwt::JwtVerifier::from_settings(&settings.auth.jwt).map(Arc::new);
    let auth = AuthStore { db: db.clone(), jwt };
    let app_services = services.clone();
    let extra_routes = options.extra_routes;
    let hosted: Arc<[&'static str]> = entries.iter().map(|entry| entry.name).collect();
    let body_read_timeout = BodyReadTimeout(Duration::from_secs(settings.http.body_read_timeout_secs));
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(web::Data::new(auth.clone()))
            .app_data(web::PayloadConfig::new(MAX_JSON_BODY))
            .app_data(web::PathConfig::default().error_handler(problem::path_error))
            .app_data(web::Data::new(body_read_timeout))
            .wrap(middleware::from_fn(body::read_body_in_time))
            .wrap(middleware::from_fn(ops::refuse_control_characters))
            .wrap(middleware::from_fn(ops::when_stopping))
            .wrap(middleware::from_fn(ops::observe))
            .configure(|cfg| ops::configure(cfg, readiness.clone()))
            .configure(|cfg| openapi::configure(cfg, docs.clone()))
            .configure(|cfg| home::configure(cfg, &hosted));
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
    let delay = Duration::from_secs(settings.http.shutdown_delay());
    Ok(RunningHost {
        addr,
        db,
        bus,
        server: handle,
        server_task,
        loops,
        stop_loops,
        relays,
        stop_relays,
        grace,
        delay,
        stopping,
        seeding,
    })
}

/// The `main` of a service binary: one service, configured from `nazer.toml` and the
/// environment, on RabbitMQ, until SIGTERM.
pub async fn serve_alone(entry: ServiceEntry) -> Result<(), HostError> {
    let settings = Settings::load(None).map_err(|e| HostError::Refused(e.to_string()))?;
    let telemetry = crate::telemetry::init(&settings, &format!("nazer-{}", entry.name));
    let options =
        HostOptions { migrate: false, in_process_bus: false, extra_routes: None, seeding: false, demo: false };
    let stopped = match start(settings, &[entry], options, crate::clock::system_clock()).await {
        Ok(host) => host.wait().await,
        Err(error) => {
            tracing::error!(%error, service = entry.name, "cannot start");
            Err(error)
        }
    };
    telemetry.shutdown(TELEMETRY_FLUSH).await;
    stopped
}

/// The last spans' export, inside the half second [`RunningHost::wait`] keeps for leaving.
pub const TELEMETRY_FLUSH: Duration = Duration::from_millis(400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_sign_in_is_refused_on_postgresql_outside_the_demo() {
        let mut settings = Settings::default();
        assert!(refuse_development_sign_in(&settings, Backend::Postgres, false).is_ok(), "no HS256, nothing refused");
        settings.auth.jwt.hs256_secret = Some("local-development-secret-0123456789abcdef".into());
        settings.auth.jwt.allow_hs256_development = true;
        let refused = refuse_development_sign_in(&settings, Backend::Postgres, false).unwrap_err().to_string();
        assert!(refused.contains("auth.jwt.hs256_secret") && refused.contains("PostgreSQL"), "{refused}");
        assert!(refuse_development_sign_in(&settings, Backend::Postgres, true).is_ok(), "`nazer up --demo`");
        assert!(refuse_development_sign_in(&settings, Backend::Sqlite, false).is_ok(), "the embedded default");
    }
}
