//! Citizens' tracking API: `GET /api/v1/track/{code}` and, beside it, rating and reopening
//! the answer. No account: the second factor in the `Tracking-Verifier` header proves the
//! citizen, and limits per client, per (code, client) and per code a day (in the database)
//! stop guessing without letting a stranger lock the citizen out.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use nazer_shared::db::DbError;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{ApiError, FieldIssue, JsonBody};
use serde::{Deserialize, Serialize};

use crate::api::{IntakeState, ReasonRequest, ReopenedMessage, TAG, parse_code, reason_of};
use crate::rate_limit;
use crate::submission::ascii_digits;
use crate::timeline::Actor;
use crate::tracking::{CitizenView, citizen_view, verified_message};
use crate::tracking_code::TrackingCode;

pub const VERIFIER_HEADER: &str = "Tracking-Verifier";
const NO_MATCH: &str = "no message matches this tracking code and verifier";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/track/{tracking_code}", web::get().to(track))
        .route("/api/v1/track/{tracking_code}/rating", web::post().to(rate))
        .route("/api/v1/track/{tracking_code}/reopen", web::post().to(reopen));
}

fn limited(detail: &str, count: rate_limit::Count, now: chrono::DateTime<chrono::Utc>) -> ApiError {
    ApiError::TooManyRequests { detail: detail.into(), retry_after_secs: count.retry_after_secs(now) }
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
/// answers exactly like an unknown code; a right one counts against none of the failure budgets.
///
/// Failures are budgeted per client across codes, per (code, client) an hour, and per code a
/// day from all clients together: a stranger's wrong verifiers hold up the stranger's client
/// for that code, not the citizen's, until the code's daily ceiling bounds guessing.
async fn admit(state: &IntakeState, req: &HttpRequest, code_text: &str) -> Result<(TrackingCode, String), ApiError> {
    let limits = &state.ctx.settings.tracking;
    let client = rate_limit::client_pseudonym(req, limits.client_ip_header.as_deref(), &state.keys);
    let now = state.ctx.clock.now();
    let requests = format!("track:client:{client}");
    let counted = state.ctx.db.write(move |conn| rate_limit::hit(conn, &requests, Duration::minutes(1), now)).await?;
    if counted.hits > cap(limits.client_requests_per_minute) {
        return Err(limited("too many tracking requests from this client; try again shortly", counted, now));
    }
    let code = parse_code(code_text)?;
    let given = verifier(req)?;
    // The failure counters are hit before the check and refunded after a right answer, so
    // attempts in flight count too; a budget that is spent leaves the later ones untouched.
    // Each budget: its bucket, window, limit, and what a client over it is told.
    let budgets = [
        (
            format!("track:client-failures:{client}"),
            Duration::hours(1),
            cap(limits.client_failures_per_hour),
            "too many wrong verifiers from this client; try again later or call 1888",
        ),
        (
            format!("track:code-client:{code}:{client}"),
            Duration::hours(1),
            cap(limits.code_failures_per_hour),
            "too many wrong verifiers for this tracking code from this client; try again later or call 1888",
        ),
        (
            format!("track:code-day:{code}"),
            rate_limit::longest_window(),
            cap(limits.code_failures_per_day),
            "too many wrong verifiers for this tracking code today; try again tomorrow or call 1888",
        ),
    ];
    let attempt = budgets.clone();
    let spent = state
        .ctx
        .db
        .write(move |conn| {
            for (bucket, window, limit, detail) in &attempt {
                let count = rate_limit::hit(conn, bucket, *window, now)?;
                if count.hits > *limit {
                    return Ok(Some((*detail, count)));
                }
            }
            Ok::<_, DbError>(None)
        })
        .await?;
    if let Some((detail, count)) = spent {
        return Err(limited(detail, count, now));
    }
    let (keys, lookup) = (state.keys.clone(), code.clone());
    let found = state.ctx.db.read(move |conn| verified_message(conn, &lookup, &given, &keys)).await?;
    let message_id = found.ok_or_else(|| ApiError::NotFound(NO_MATCH.into()))?;
    state
        .ctx
        .db
        .write(move |conn| budgets.iter().try_for_each(|(bucket, ..)| rate_limit::refund(conn, bucket)))
        .await?;
    Ok((code, message_id))
}

fn cap(limit: u32) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

/// Follows a message with its tracking code, as its citizen sees it.
///
/// Where it stands, every step and the answers, in Persian with Solar Hijri dates. Citizens,
/// without an account: the `Tracking-Verifier` header proves them. A wrong verifier answers
/// exactly like an unknown code (404); attempts are limited per client and per code.
#[utoipa::path(get, path = "/api/v1/track/{tracking_code}", tag = TAG, security(()),
    params(
        ("tracking_code" = String, Path,
            description = "The tracking code the citizen was given: ten digits (Persian digits are accepted)"),
        ("Tracking-Verifier" = String, Header, description = VERIFIER_DESCRIPTION)),
    responses(
        (status = 200, description = "The message as its citizen follows it", body = CitizenView),
        (status = 429, description = LIMITED_DESCRIPTION,
            content_type = "application/problem+json", body = ProblemSchema,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
pub(crate) async fn track(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, message_id) = admit(&state, &req, &path).await?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let view = state.ctx.db.read(move |conn| citizen_view(conn, &message_id, days, now)).await?;
    view.map(|v| HttpResponse::Ok().json(v)).ok_or_else(|| ApiError::NotFound(NO_MATCH.into()))
}

const VERIFIER_DESCRIPTION: &str = "The last four digits of the mobile number given with the message, or the \
     tracking PIN chosen then (4–8 digits; Persian digits are accepted)";
const LIMITED_DESCRIPTION: &str = "Too many attempts from this client, too many wrong verifiers from this client \
     (across codes, or for this code), or this code's daily ceiling of wrong verifiers is reached";

/// The citizen's rating of the latest answer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRating)]
pub(crate) struct RatingRequest {
    /// From 1 (very dissatisfied) to 5 (very satisfied).
    #[schema(required = true, minimum = 1, maximum = 5)]
    rating: Option<i32>,
    /// Up to 1000 characters.
    #[schema(max_length = 1000)]
    comment: Option<String>,
}

/// A rating recorded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rating {
    /// The answer rated: the latest.
    pub response_id: String,
    pub rating: i32,
}

/// The citizen rates the latest answer, once, from 1 to 5.
///
/// Citizens, without an account: the `Tracking-Verifier` header proves them; attempts are
/// limited per client and per code.
#[utoipa::path(post, path = "/api/v1/track/{tracking_code}/rating", tag = TAG, security(()),
    params(
        ("tracking_code" = String, Path, description = "The message's tracking code"),
        ("Tracking-Verifier" = String, Header, description = VERIFIER_DESCRIPTION)),
    request_body(content = RatingRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Rated", body = Rating),
        (status = 409, description = "There is no answer to rate yet, or it is rated already",
            content_type = "application/problem+json", body = ProblemSchema),
        (status = 429, description = LIMITED_DESCRIPTION,
            content_type = "application/problem+json", body = ProblemSchema,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
pub(crate) async fn rate(
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
    let response_id =
        state.ctx.write(move |conn| crate::quality::rate(conn, &code, rating, comment.as_deref(), now)).await?;
    Ok(HttpResponse::Created().json(Rating { response_id, rating }))
}

/// The citizen reopens the latest answer, within the reopening period.
///
/// Citizens, without an account: the `Tracking-Verifier` header proves them; attempts are
/// limited per client and per code. A reason is required. The period is ten working days by
/// default; the same agency answers again, on a fresh clock.
#[utoipa::path(post, path = "/api/v1/track/{tracking_code}/reopen", tag = TAG, security(()),
    params(
        ("tracking_code" = String, Path, description = "The message's tracking code"),
        ("Tracking-Verifier" = String, Header, description = VERIFIER_DESCRIPTION)),
    request_body(content = ReasonRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Reopened", body = ReopenedMessage),
        (status = 409, description = "The message is not answered, or the reopening period is over",
            content_type = "application/problem+json", body = ProblemSchema),
        (status = 429, description = LIMITED_DESCRIPTION,
            content_type = "application/problem+json", body = ProblemSchema,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
pub(crate) async fn reopen(
    state: web::Data<IntakeState>,
    req: HttpRequest,
    path: web::Path<String>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(request, true)?;
    let (code, _) = admit(&state, &req, &path).await?;
    let (days, now) = (state.ctx.settings.quality.reopen_working_days, state.ctx.clock.now());
    let at = state
        .ctx
        .write(move |conn| crate::lifecycle::reopen(conn, &code, &reason, days, &Actor::citizen(), now))
        .await?;
    Ok(HttpResponse::Ok()
        .json(ReopenedMessage { status: crate::store::MessageStatus::Reopened.as_str().into(), reopened_at: at }))
}
