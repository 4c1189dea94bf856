//! A JSON body extractor whose refusals are problem details naming the offending field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::problem::{ApiError, FieldIssue};

/// Request bodies larger than this are refused before parsing.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Like `web::Json`, but type errors name the JSON path of the field.
pub struct JsonBody<T>(pub T);

/// Parses `bytes`, naming the field on failure (`reporter.mobile: invalid type …`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(None, format!("body is not valid JSON: {}", strip_position(&e.to_string())))
    })?;
    from_value(value).map_err(|refused| match refused {
        Ok(issue) => ApiError::invalid(vec![issue]),
        Err(message) => ApiError::bad_request(None, message),
    })
}

/// Reads `value` as `T`. A refusal names the field where it can — a string holding a control
/// character, the path of a type error, an unknown field — else is a message alone.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Result<FieldIssue, String>> {
    if let Some(field) = field_with_control_character(&value, "") {
        return Err(Ok(FieldIssue::new(field, "contains a control character (such as NUL); send plain text")));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let at_root = path == "." || path.is_empty();
        let field = match (at_root, unknown_field_of(&inner.to_string())) {
            (true, unknown) => unknown,
            (false, Some(name)) if !path.ends_with(&name) => Some(format!("{path}.{name}")),
            (false, _) => Some(path),
        };
        let problem = strip_position(&inner.to_string());
        match field {
            Some(field) => Ok(FieldIssue::new(field, problem)),
            None => Err(problem),
        }
    })
}

/// The path of the first string holding a control character other than tab or line breaks:
/// PostgreSQL cannot store NUL, and none of them belongs in a citizen's text.
fn field_with_control_character(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(text) => {
            text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')).then(|| path.to_string())
        }
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| field_with_control_character(item, &format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => {
            map.iter().find_map(|(key, item)| field_with_control_character(item, &join(key)))
        }
        _ => None,
    }
}

fn unknown_field_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.find('`').map(|end| rest[..end].to_string())
}

/// serde_json appends " at line 1 column 42", which helps nobody reading a problem document.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Whether the request says its body is JSON (`application/json` or any `+json` type).
fn declares_json(req: &HttpRequest) -> bool {
    req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// The body's bytes, or the refusal of one that could not be read (too large, cut off).
async fn body_bytes(bytes: <web::Bytes as FromRequest>::Future) -> Result<web::Bytes, ApiError> {
    bytes.await.map_err(|e| {
        ApiError::PayloadTooLarge(format!("the body could not be read ({e}); the limit is {MAX_JSON_BODY} bytes"))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = declares_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as JSON with `Content-Type: application/json`".into(),
                ));
            }
            parse_json(&body_bytes(bytes).await?).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out: an empty body reads as `T::default()`; a body sent is
/// read as [`JsonBody`] reads it, with the same refusals.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = declares_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body_bytes(bytes).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJsonBody(T::default()));
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as JSON with `Content-Type: application/json`, or no body".into(),
                ));
            }
            parse_json(&bytes).map(OptionalJsonBody)
        })
    }
}

/// Like `web::Query`, but a refusal is a problem naming the parameter (`limit: invalid digit…`).
pub struct QueryParams<T>(pub T);

/// Parses a query string, naming the parameter on failure.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some((key, _)) = form_urlencoded::parse(query.as_bytes()).find(|(_, v)| v.chars().any(char::is_control)) {
        return Err(ApiError::invalid_field(&key, "contains a control character (such as NUL)"));
    }
    // Numbers and dates may be typed in Persian or Arabic-Indic digits.
    let normalized = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k, crate::iran::ascii_digits(&v))))
        .finish();
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(normalized.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = match unknown_field_of(&message) {
            Some(name) => name,
            None if path != "." && !path.is_empty() => path,
            None => "query".into(),
        };
        ApiError::invalid(vec![FieldIssue::new(field, message)])
    })
}

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(QueryParams))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: Option<String>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: Option<u32>,
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Unprocessable { errors, .. } => errors[0].field.clone(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn type_errors_name_the_nested_path() {
        let error = parse_json::<Outer>(br#"{"inner": {"count": "many"}}"#).unwrap_err();
        assert_eq!(field_of(error), "inner.count");
    }

    #[test]
    fn unknown_fields_are_named() {
        let error = parse_json::<Outer>(br#"{"nmae": "x"}"#).unwrap_err();
        assert_eq!(field_of(error), "nmae");
    }

    #[test]
    fn nested_unknown_fields_are_named_with_their_path() {
        let error = parse_json::<Outer>(br#"{"inner": {"cuont": 1}}"#).unwrap_err();
        assert_eq!(field_of(error), "inner.cuont");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<i64>,
        agency_id: Option<String>,
    }

    #[test]
    fn query_parameters_are_named_when_refused() {
        let error = parse_query::<Page>("agency_id=a&limit=abc").unwrap_err();
        assert_eq!(field_of(error), "limit");
        let error = parse_query::<Page>("limt=5").unwrap_err();
        assert_eq!(field_of(error), "limt");
        let error = parse_query::<Page>("agency_id=a%00b").unwrap_err();
        assert_eq!(field_of(error), "agency_id");
    }

    #[test]
    fn numbers_in_a_query_may_be_typed_in_persian_digits() {
        // `limit=۲۰` and `limit=٢٠`, percent-encoded as a browser sends them.
        let page: Page = parse_query("limit=%DB%B2%DB%B0&agency_id=a").unwrap();
        assert_eq!(page.limit, Some(20));
        let page: Page = parse_query("limit=%D9%A2%D9%A0").unwrap();
        assert_eq!(page.limit, Some(20));
        let page = parse_query::<Page>("limit=5&agency_id=x%20y").unwrap();
        assert_eq!((page.limit, page.agency_id.as_deref()), (Some(5), Some("x y")));
    }

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        let error = parse_json::<Outer>(br#"{"name": "a\u0000b"}"#).unwrap_err();
        assert_eq!(field_of(error), "name");
        assert!(parse_json::<Outer>(br#"{"name": "line one\nline two"}"#).is_ok());
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(parse_json::<Outer>(b"{\"name\": "), Err(ApiError::BadRequest { .. })));
    }
}
