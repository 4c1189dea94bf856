//! Answers in the format a path names (`.json` or `.xml`), and errors in the spec's own shape:
//! a list of `code` and `description`, with the HTTP status equal to the code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use nazer_shared::db::DbError;
use nazer_shared::http::ApiError;
use nazer_shared::http::problem::UNAVAILABLE_RETRY_AFTER_SECS;

use super::document::Node;
use super::xml;

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
pub const XML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The format of an answer: the resource's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Open311Format, rename_all = "lowercase")]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, Open311Error> {
        match text {
            "json" => Ok(Format::Json),
            "xml" => Ok(Format::Xml),
            other => Err(Open311Error::bad_request(format!(
                "format: `{other}` is not offered; end the resource with .json or .xml"
            ))),
        }
    }

    /// The format of a path no route took, for answering its error readably.
    pub fn of_path(path: &str) -> Self {
        if path.ends_with(".xml") { Format::Xml } else { Format::Json }
    }
}

/// A successful answer: its status and its document, under `root` in XML.
pub struct Reply {
    pub status: StatusCode,
    pub root: &'static str,
    pub document: Node,
}

impl Reply {
    pub fn ok(root: &'static str, document: Node) -> Self {
        Self { status: StatusCode::OK, root, document }
    }
}

/// A refusal in the spec's error format; every description names the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {}", descriptions.join("; "))]
pub struct Open311Error {
    pub status: StatusCode,
    pub descriptions: Vec<String>,
    /// Seconds for `Retry-After`, where waiting helps.
    pub retry_after_secs: Option<u64>,
}

impl Open311Error {
    pub fn new(status: StatusCode, descriptions: Vec<String>) -> Self {
        Self { status, descriptions, retry_after_secs: None }
    }

    /// 429: the client has sent too many; `retry_after_secs` until it may again.
    pub fn too_many(description: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, vec![description.into()])
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::bad_requests(vec![description.into()])
    }

    pub fn bad_requests(descriptions: Vec<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, descriptions)
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, vec![description.into()])
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, vec![description.into()])
    }

    fn document(&self) -> Node {
        let code = i64::from(self.status.as_u16());
        let items = self
            .descriptions
            .iter()
            .map(|d| Node::Object(vec![("code", Node::Integer(code)), ("description", Node::text(d.as_str()))]))
            .collect();
        Node::List { item: "error", items }
    }
}

impl From<DbError> for Open311Error {
    /// Our failures, never the client's: the cause is logged, not sent.
    fn from(error: DbError) -> Self {
        let api_error = ApiError::from(error);
        let status = actix_web::ResponseError::status_code(&api_error);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(cause = %api_error, "open311 request met an unavailable database");
            return Self::new(status, vec![api_error.to_string()]);
        }
        if status.is_server_error() {
            tracing::error!(cause = %api_error, "open311 request failed");
            return Self::new(status, vec!["the request failed on our side; it has been logged".into()]);
        }
        // A unique key raced by two writers (409): the client may simply retry.
        Self::new(status, vec![api_error.to_string()])
    }
}

/// Renders `document` in `format`.
pub fn render(format: Format, status: StatusCode, root: &str, document: &Node) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    match format {
        Format::Json => match serde_json::to_string(document) {
            Ok(body) => response.content_type(JSON_CONTENT_TYPE).body(body),
            Err(error) => {
                tracing::error!(%error, "open311 answer could not be written as JSON");
                HttpResponse::InternalServerError()
                    .content_type(JSON_CONTENT_TYPE)
                    .body(r#"[{"code":500,"description":"the answer could not be written; it has been logged"}]"#)
            }
        },
        Format::Xml => response.content_type(XML_CONTENT_TYPE).body(xml::document(root, document)),
    }
}

/// The answer to a request: the reply, or the error, in `format`.
pub fn respond(format: Format, outcome: Result<Reply, Open311Error>) -> HttpResponse {
    match outcome {
        Ok(reply) => render(format, reply.status, reply.root, &reply.document),
        Err(error) => {
            let mut response = render(format, error.status, "errors", &error.document());
            // As every 503 of the API: the client may send the request again after a while.
            let wait = match error.status {
                StatusCode::SERVICE_UNAVAILABLE => Some(UNAVAILABLE_RETRY_AFTER_SECS),
                _ => error.retry_after_secs,
            };
            if let Some(secs) = wait {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    #[test]
    fn a_lost_database_connection_is_a_503_with_retry_after() {
        let lost = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("no connection to the server".to_string()),
        );
        let error = Open311Error::from(DbError::Query(lost));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(error.descriptions[0].contains("send the request again"), "{error}");
        let response = respond(Format::Json, Err(error));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
    }

    #[test]
    fn too_many_requests_say_when_to_come_back() {
        let response = respond(Format::Xml, Err(Open311Error::too_many("api_key: too many reads", 42)));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("42"));
    }
}
