//! Citizens' tracking API: `GET /api/v1/track/{code}` and, beside it, rating and reopening
//! the answer. No account: the second factor in the `Tracking-Verifier` header proves the
//! citizen, and limits per client and per code (in the database) stop guessing.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use nazer_shared::http::{ApiError, FieldIssue, JsonBody};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::{IntakeState, lifecycle_error, parse_code, reason_of};
use crate::rate_limit;
use crate::submission::ascii_digits;
use crate::tracking::{citizen_view, verified_message};
use crate::tracking_code::TrackingCode;

pub const VERIFIER_HEADER: &str = "Tracking-Verifier";
const NO_MATCH: &str = "no message matches this tracking code and verifier";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/track/{tracking_code}", web::get().to(track))
        .route("/api/v1/track/{tracking_code}/rating", web::post().to(rate))
        .route("/api/v1/track/{tracking_code}/reopen", web::post().to(reopen));
}

/// Who is asking, for the per-client limit: the configured proxy header, else the peer
/// address. Kept as a digest: addresses are not stored.
fn client_bucket(req: &HttpRequest, header: Option<&str>) -> String {
    let forwarded = header
        .and_then(|name| req.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let client = forwarded.map(str::to_string).or(peer).unwrap_or_else(|| "unknown".into());
    let digest = Sha256::digest(client.as_bytes());
    format!("track:client:{}", &hex::encode(digest)[..32])
}

fn verifier(req: &HttpRequest) -> Result<String, ApiError> {
    // Read as UTF-8, not only visible ASCII: people type Persian digits.
    let given =
        req.headers().get(VERIFIER_HEADER).and_then(|v| std::str::from_utf8(v.as_bytes()).ok()).unwrap_or_default();
    let given = ascii_digits(given.trim());
    if given.is_empty() || given.len() > 8 || !given.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            Some(VERIFIER_HEADER),
            "send the last four digits of the mobile number given with the message, or the tracking PIN chosen \
             then, in the Tracking-Verifier header",
        ));
    }
    Ok(given)
}

/// Counts the attempt, checks the second factor, and answers the message's id. A wrong factor
/// answers exactly like an unknown code; a right one does not count against the code.
async fn admit(state: &IntakeState, req: &HttpRequest, code_text: &str) -> Result<(TrackingCode, String), ApiError> {
    let settings = &state.ctx.settings.tracking;
    let client = client_bucket(req, settings.client_ip_header.as_deref());
    let now = state.ctx.clock.now();
    let per_minute = i32::try_from(settings.client_requests_per_minute).unwrap_or(i32::MAX);
    let counted = state.ctx.db.write(move |conn| rate_limit::hit(conn, &client, Duration::minutes(1), now)).await?;
    if counted.hits > per_minute {
        return Err(ApiError::TooManyRequests {
            detail: "too many tracking requests from this client; try again shortly".into(),
            retry_after_secs: counted.retry_after_secs(now),
        });
    }
    let code = parse_code(code_text)?;
    let given = verifier(req)?;
    let code_bucket = format!("track:code:{code}");
    let per_hour = i32::try_from(settings.code_failures_per_hour).unwrap_or(i32::MAX);
    let bucket = code_bucket.clone();
    let attempts = state.ctx.db.write(move |conn| rate_limit::hit(conn, &bucket, Duration::hours(1), now)).await?;
    if attempts.hits > per_hour {
        return Err(ApiError::TooManyRequests {
            detail: "too many wrong verifiers for this tracking code; try again later or call 1888".into(),
            retry_after_secs: attempts.retry_after_secs(now),
        });
    }
    let (keys, lookup) = (state.keys.clone(), code.clone());
    let found = state.ctx.db.read(move |conn| verified_message(conn, &lookup, &given, &keys)).await?;
    let message_id = found.ok_or_else(|| ApiError::NotFound(NO_MATCH.into()))?;
    state.ctx.db.write(move |conn| rate_limit::refund(conn, &code_bucket)).await?;
    Ok((code, message_id))
}

async fn track(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, message_id) = admit(&state, &req, &path).await?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let view = state.ctx.db.read(move |conn| citizen_view(conn, &message_id, days, now)).await?;
    view.map(|v| HttpResponse::Ok().json(v)).ok_or_else(|| ApiError::NotFound(NO_MATCH.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingRequest {
    rating: Option<i32>,
    comment: Option<String>,
}

async fn rate(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(request): JsonBody<RatingRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut issues = Vec::new();
    let rating = request.rating.filter(|r| (1..=5).contains(r));
    if rating.is_none() {
        issues.push(FieldIssue::new(
            "rating",
            "is required: a whole number from 1 (very dissatisfied) to 5 (very satisfied)",
        ));
    }
    let comment =
        request.comment.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(nazer_shared::iran::normalize_persian);
    if comment.as_ref().is_some_and(|c| c.chars().count() > 1_000) {
        issues.push(FieldIssue::new("comment", "is up to 1000 characters"));
    }
    let (Some(rating), true) = (rating, issues.is_empty()) else { return Err(ApiError::invalid(issues)) };
    let (code, _) = admit(&state, &req, &path).await?;
    let now = state.ctx.clock.now();
    let rated =
        state.ctx.db.write(move |conn| crate::quality::rate(conn, &code, rating, comment.as_deref(), now)).await;
    let response_id = rated.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Created().json(json!({ "response_id": response_id, "rating": rating })))
}

async fn reopen(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(request): JsonBody<crate::api::ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(request, true)?;
    let (code, _) = admit(&state, &req, &path).await?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let reopened = state.ctx.db.write(move |conn| crate::lifecycle::reopen(conn, &code, &reason, days, now)).await;
    let at = reopened.map_err(lifecycle_error)?;
    state.ctx.committed();
    Ok(HttpResponse::Ok().json(json!({ "status": crate::store::status::REOPENED, "reopened_at": at })))
}
