//! What operators and Kubernetes touch: `/healthz`, `/readyz`, `/metrics`, and request metrics.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::problem::PROBLEM_JSON;
use crate::bus::Bus;
use crate::db::Db;
use crate::metrics;

/// What readiness depends on.
#[derive(Clone)]
pub struct Readiness {
    pub db: Db,
    pub bus: Arc<dyn Bus>,
}

pub fn configure(cfg: &mut web::ServiceConfig, readiness: Readiness) {
    cfg.app_data(web::Data::new(readiness))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let (database, broker) = tokio::join!(readiness.db.is_reachable(), readiness.bus.is_ready());
    let checks = json!({ "database": database, "broker": broker });
    if database && broker {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        HttpResponse::ServiceUnavailable().content_type(PROBLEM_JSON).json(json!({
            "type": "urn:nazer:problem:not-ready",
            "title": "Not ready",
            "status": 503,
            "detail": "a dependency is unreachable; see checks",
            "checks": checks,
        }))
    }
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics::render())
}

/// Counts and times every request by its route pattern (never by its concrete path, which
/// would carry tracking codes).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    metrics::http_request(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    Ok(response)
}
