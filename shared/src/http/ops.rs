//! What operators and Kubernetes touch: `/healthz`, `/readyz`, `/metrics`, and request metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
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
}

/// Set once the process has been told to stop: from then on it takes no new requests, even on
/// connections already open, and reports itself not ready (so Kubernetes stops routing to it).
#[derive(Clone, Default)]
pub struct Stopping(Arc<std::sync::atomic::AtomicBool>);

impl Stopping {
    pub fn begin(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
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

/// Ready: the database and the broker are reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "A dependency is unreachable", content_type = "application/problem+json", body = NotReady)))]
pub(crate) async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let (database, broker) = tokio::join!(readiness.db.is_reachable(), readiness.bus.is_ready());
    let (database, broker) = if readiness.stopping.is_set() { (false, false) } else { (database, broker) };
    let checks = Checks { database, broker };
    if database && broker {
        HttpResponse::Ok().json(Ready { status: "ready".into(), checks })
    } else {
        HttpResponse::ServiceUnavailable().content_type(PROBLEM_JSON).json(NotReady {
            problem_type: "urn:nazer:problem:not-ready".into(),
            title: "Not ready".into(),
            status: 503,
            detail: "a dependency is unreachable; see checks".into(),
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

/// Once stopping, answers every new request 503 and closes its connection, so the requests in
/// flight finish and keep-alive connections end instead of holding the process open.
pub async fn refuse_when_stopping(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let stopping = req.app_data::<web::Data<Readiness>>().is_some_and(|r| r.stopping.is_set());
    if stopping && req.path() != "/healthz" {
        let problem = ApiError::Unavailable("this instance is stopping; send the request again".into());
        let mut response = actix_web::ResponseError::error_response(&problem);
        response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("1"));
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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
    use super::*;

    #[test]
    fn escaped_control_characters_are_spotted() {
        assert!(has_escaped_control("/api/v1/agencies/a%00b"));
        assert!(has_escaped_control("/api/v1/agencies/%1f"));
        assert!(has_escaped_control("/x/%7F"));
        assert!(!has_escaped_control("/api/v1/agencies/%20a%2Fb%E2%80%8C"));
    }
}
