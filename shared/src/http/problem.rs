//! Errors as RFC 9457 problem details: what went wrong, which field, and how to fix it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldIssue {
    /// JSON path of the field, e.g. `reporter.mobile`.
    pub field: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is well-formed but its values are not acceptable (422).
    #[error("{detail}")]
    Unprocessable { detail: String, errors: Vec<FieldIssue> },
    /// The body or query cannot be read at all (400).
    #[error("{detail}")]
    BadRequest { detail: String, errors: Vec<FieldIssue> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The path is served, but not with this method (the answer's `Allow` names those it takes).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    Unavailable(String),
    /// A rate limit was reached; the client may try again after `retry_after_secs`.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    /// Something failed on our side; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(errors: Vec<FieldIssue>) -> Self {
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        ApiError::Unprocessable { detail: format!("invalid field(s): {}", fields.join(", ")), errors }
    }

    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        Self::invalid(vec![FieldIssue::new(field, problem)])
    }

    pub fn bad_request(field: Option<&str>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let errors = field.map(|f| vec![FieldIssue::new(f, detail.clone())]).unwrap_or_default();
        ApiError::BadRequest { detail, errors }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unprocessable { .. } => "validation",
            ApiError::BadRequest { .. } => "malformed-request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::RequestTimeout(_) => "request-timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TooManyRequests { .. } => "too-many-requests",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Unprocessable { .. } => "The request has invalid fields",
            ApiError::BadRequest { .. } => "The request could not be read",
            ApiError::Unauthorized(_) => "Authentication required",
            ApiError::Forbidden(_) => "Not allowed",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::Unavailable(_) => "Temporarily unavailable",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::Internal(_) => "Internal error",
        }
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    problem_type: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[FieldIssue]>::is_empty")]
    errors: &'a [FieldIssue],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (detail, errors): (String, &[FieldIssue]) = match self {
            ApiError::Unprocessable { detail, errors } | ApiError::BadRequest { detail, errors } => {
                (detail.clone(), errors)
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                ("the request failed on our side; it has been logged".into(), &[])
            }
            other => (other.to_string(), &[]),
        };
        let status = self.status_code();
        let body = ProblemBody {
            problem_type: format!("urn:nazer:problem:{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self {
            ApiError::TooManyRequests { retry_after_secs, .. } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header(("Retry-After", UNAVAILABLE_RETRY_AFTER_SECS.to_string()));
            }
            _ => {}
        }
        response.json(body)
    }
}

/// When a client may send again a request that met an unavailable dependency: long enough for
/// a lost database connection to be replaced or a restarting server to accept connections.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            // Never a 500 for a dependency outage: the client is told what happened and that
            // it may send the request again. The cause is logged, not sent.
            DbError::CommitUncertain(cause) => {
                tracing::warn!(%cause, "database connection lost while committing");
                ApiError::Unavailable(
                    "the database connection was lost while the change was being saved, so it may or may not \
                     have been saved; read it back, or send the request again (with the same Idempotency-Key \
                     where the endpoint takes one)"
                        .into(),
                )
            }
            unavailable if unavailable.is_unavailable() => {
                tracing::warn!(cause = %unavailable, "database unavailable");
                ApiError::Unavailable(
                    "the database is unavailable for a moment (it is busy, or its connection was lost before \
                     the change was committed); send the request again"
                        .into(),
                )
            }
            // Two writers raced on a unique key; the loser is told, not shown a 500.
            unique if unique.is_unique_violation() => {
                ApiError::Conflict("this was changed at the same moment by another request; read it again".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::from(DbError::from(error))
    }
}

/// Path segments that do not parse.
pub fn path_error(error: actix_web::error::PathError, _: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::bad_request(Some("path"), format!("the path is not accepted: {error}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    fn lost() -> DieselError {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection".to_string()),
        )
    }

    async fn problem(error: DbError) -> (u16, Option<String>, serde_json::Value) {
        let response = ApiError::from(error).error_response();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = actix_web::body::to_bytes(response.into_body()).await.unwrap_or_default();
        (status, retry_after, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[actix_web::test]
    async fn a_lost_connection_is_a_503_the_client_may_retry_after_a_while() {
        let (status, retry_after, body) = problem(DbError::Query(lost())).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        assert_eq!(body["type"], "urn:nazer:problem:unavailable");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("connection was lost") && detail.contains("send the request again"), "{detail}");
    }

    #[actix_web::test]
    async fn a_commit_whose_answer_was_lost_says_it_may_have_been_saved() {
        let (status, retry_after, body) = problem(DbError::CommitUncertain(lost())).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("may or may not have been saved"), "{detail}");
    }

    #[actix_web::test]
    async fn every_unavailable_answer_carries_retry_after() {
        let response = ApiError::Unavailable("stopping".into()).error_response();
        assert_eq!(response.headers().get("Retry-After").and_then(|v| v.to_str().ok()), Some("5"));
        let (status, _, _) = problem(DbError::Refused("broken invariant".into())).await;
        assert_eq!(status, 500);
    }
}
