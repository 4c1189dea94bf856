//! What operators and Kubernetes touch: `/healthz`, `/readyz`, `/metrics`, and request metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use tracing::Instrument;

use super::problem::{ApiError, PROBLEM_JSON};
use crate::bus::Bus;
use crate::db::Db;
use crate::metrics;
use crate::telemetry::context;

/// What readiness depends on.
#[derive(Clone)]
pub struct Readiness {
    pub db: Db,
    pub bus: Arc<dyn Bus>,
    pub stopping: Stopping,
    /// True while the launcher still seeds what callers need (keys, reference data).
    pub seeding: Arc<std::sync::atomic::AtomicBool>,
}

/// How far a process is in stopping. Told to stop, it first reports itself not ready (so
/// Kubernetes takes it out of its Service's endpoints) but still serves for the pre-stop delay,
/// since proxies and kube-proxy learn of the change a moment later; each answer then closes its
/// connection, so clients come back on a fresh one, by then to another replica. After the delay
/// it takes no new requests: one still arriving on an open connection is answered 503.
#[derive(Clone, Default)]
pub struct Stopping(Arc<AtomicU8>);

const SERVING: u8 = 0;
const LEAVING: u8 = 1;
const REFUSING: u8 = 2;

impl Stopping {
    /// Not ready from now on; requests are still served, each connection closed after its answer.
    pub fn begin(&self) {
        self.0.fetch_max(LEAVING, Ordering::SeqCst);
    }

    /// No new requests from now on (503 with Retry-After, connection closed).
    pub fn refuse(&self) {
        self.0.store(REFUSING, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst) > SERVING
    }

    pub fn is_refusing(&self) -> bool {
        self.0.load(Ordering::SeqCst) == REFUSING
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, readiness: Readiness) {
    cfg.app_data(web::Data::new(readiness))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text));
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive", body = Health)))]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Ready: the database and the broker are reachable, and the process is not stopping.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "A dependency is unreachable, or the process is stopping", content_type = "application/problem+json", body = NotReady)))]
pub(crate) async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    // Stopping, the answer is known: no probe (one could reopen a publisher on the way out).
    let stopping = readiness.stopping.is_set();
    let seeding = readiness.seeding.load(Ordering::SeqCst);
    let (database, broker) =
        if stopping { (false, false) } else { tokio::join!(readiness.db.is_reachable(), readiness.bus.is_ready()) };
    let checks = Checks { database, broker };
    if database && broker && !seeding {
        HttpResponse::Ok().json(Ready { status: "ready".into(), checks })
    } else {
        HttpResponse::ServiceUnavailable().content_type(PROBLEM_JSON).json(NotReady {
            problem_type: "urn:nazer:problem:not-ready".into(),
            title: "Not ready".into(),
            status: 503,
            detail: if stopping {
                "this instance is stopping"
            } else if seeding {
                "this instance is still seeding its data"
            } else {
                "a dependency is unreachable; see checks"
            }
            .into(),
            checks,
        })
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Metrics in the Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics::render())
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Checks {
    database: bool,
    broker: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Ready {
    /// `ready`.
    status: String,
    checks: Checks,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NotReady {
    #[serde(rename = "type")]
    problem_type: String,
    title: String,
    status: u16,
    detail: String,
    checks: Checks,
}

/// Counts and times every request by its route pattern (never by its concrete path, which
/// would carry tracking codes).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    // The route pattern is known before routing (the resource map matches the path).
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let span = request_span(&req, &method, &route);
    let response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    metrics::http_request(&method, &route, status, started.elapsed().as_secs_f64());
    Ok(response)
}

/// The server span of one request, continuing the caller's trace when it sent a
/// `traceparent`. Probes and scrapes get none: they would bury the traces that matter.
fn request_span(req: &ServiceRequest, method: &str, route: &str) -> tracing::Span {
    if matches!(req.path(), "/healthz" | "/readyz" | "/metrics") {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    let headers: HashMap<String, String> = [context::TRACEPARENT, context::TRACESTATE]
        .into_iter()
        .filter_map(|name| Some((name.to_string(), req.headers().get(name)?.to_str().ok()?.to_string())))
        .collect();
    if is_public(req.path()) {
        // Anyone may call these: their trace context is remembered, never obeyed (it would
        // choose the trace id and force sampling).
        context::link_to(&span, &headers);
    } else {
        context::adopt_parent(&span, &headers);
    }
    span
}

/// Routes open to citizens and Open311 clients rather than to the organisation's systems.
fn is_public(path: &str) -> bool {
    path.starts_with("/api/v1/track/") || path.starts_with("/open311/")
}

/// True when the raw path carries a percent-escaped control character (`%00`–`%1F`, `%7F`).
fn has_escaped_control(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && (matches!(w[1], b'0' | b'1') && w[2].is_ascii_hexdigit()
                || (w[1] == b'7' && matches!(w[2], b'f' | b'F')))
    })
}

/// Once stopping: while leaving, serves and closes each connection after its answer; once
/// refusing, answers 503 with Retry-After and closes the connection, so the requests in flight
/// finish and no keep-alive connection holds the process open. `/healthz` is always answered.
pub async fn when_stopping(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let stopping = req.app_data::<web::Data<Readiness>>().map(|r| r.stopping.clone()).unwrap_or_default();
    if stopping.is_refusing() && req.path() != "/healthz" {
        let problem = ApiError::Unavailable("this instance is stopping; send the request again".into());
        let mut response = actix_web::ResponseError::error_response(&problem);
        response.head_mut().set_connection_type(ConnectionType::Close);
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    if stopping.is_set() {
        response.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}

/// Refuses paths with control characters before any handler sees them (PostgreSQL cannot
/// store NUL, and no id or code holds one).
pub async fn refuse_control_characters(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if has_escaped_control(req.path()) {
        let problem = ApiError::bad_request(Some("path"), "the path contains a control character");
        return Ok(req.into_response(actix_web::ResponseError::error_response(&problem)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use actix_web::test::{TestRequest, call_service, init_service};
    use actix_web::{App, middleware};

    use super::*;
    use crate::bus::InProcessBus;
    use crate::config::DatabaseSettings;

    /// Serving, leaving (served, connection closed after the answer), then refusing (503 with
    /// Retry-After, connection closed; `/healthz` still answered).
    #[actix_web::test]
    async fn a_stopping_process_serves_on_closing_connections_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("ops.db").display().to_string();
        let db = Db::open(&DatabaseSettings { url: Some(url), ..Default::default() }).unwrap();
        let stopping = Stopping::default();
        let readiness =
            Readiness { db, bus: InProcessBus::new(3), stopping: stopping.clone(), seeding: Default::default() };
        let app = init_service(
            App::new()
                .wrap(middleware::from_fn(when_stopping))
                .configure(|cfg| configure(cfg, readiness))
                // A resource, not a route: the API document test reads routes here as the host's.
                .service(web::resource("/work").to(|| async { HttpResponse::Ok().body("done") })),
        )
        .await;
        let call = |path: &'static str| call_service(&app, TestRequest::get().uri(path).to_request());
        let closes = |response: &ServiceResponse| response.response().head().connection_type() == ConnectionType::Close;

        let serving = call("/work").await;
        assert_eq!(serving.status(), 200);
        assert!(!closes(&serving), "keep-alive while serving");

        stopping.begin();
        let leaving = call("/work").await;
        assert_eq!(leaving.status(), 200, "still served while leaving");
        assert!(closes(&leaving), "the connection closes after the answer");
        let ready = call("/readyz").await;
        assert_eq!(ready.status(), 503, "not ready while leaving");

        stopping.refuse();
        let refused = call("/work").await;
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
        assert!(closes(&refused));
        assert_eq!(call("/healthz").await.status(), 200, "liveness is still answered");
    }

    #[test]
    fn escaped_control_characters_are_spotted() {
        assert!(has_escaped_control("/api/v1/agencies/a%00b"));
        assert!(has_escaped_control("/api/v1/agencies/%1f"));
        assert!(has_escaped_control("/x/%7F"));
        assert!(!has_escaped_control("/api/v1/agencies/%20a%2Fb%E2%80%8C"));
    }
}
