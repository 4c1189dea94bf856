//! The API described (OpenAPI 3.1, generated from the handlers with utoipa). Each service
//! contributes its operations; a host serves the document of the services it runs at
//! `/api/v1/openapi.json` (all five in `nazer up`), each one's alone at
//! `/api/v1/openapi/{service}.json`, and a page that reads it at `/api/v1/docs`, with nothing
//! fetched from the internet.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr};
use utoipa::{OpenApi as _, ToSchema};

use super::problem::{FieldIssue, PROBLEM_JSON};

/// The security scheme every protected operation names: an API key or a sign-in token.
pub const BEARER: &str = "bearer";

/// An error as every Nazer API answers it (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// `urn:nazer:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Each refused field, with what is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldIssue>>,
}

/// The operations every host serves: health, readiness, metrics, these documents and its page.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics_text,
        openapi_json,
        service_openapi_json,
        docs_page,
        super::home::home_page
    ),
    components(schemas(ProblemSchema, FieldIssue))
)]
struct HostApi;

/// The document of `services` (their names and contributions), finished: title, security,
/// and a problem+json `default` answer on every operation that names no other.
pub fn document(services: &[&str], parts: Vec<OpenApi>) -> OpenApi {
    let mut doc = HostApi::openapi();
    doc.info = InfoBuilder::new()
        .title(format!("Nazer — {}", services.join(", ")))
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Follow-up of citizens' messages for 1888, Tehran Municipality's Public Supervision System \
             (سامانه نظارت همگانی شهرداری تهران). \
             Authenticate with `Authorization: Bearer <API key or sign-in token>`.",
        ))
        .build();
    for part in parts {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key (machine clients) or a JWT from the organisation's OpenID Connect provider (people)",
                ))
                .build(),
        ),
    );
    let problem = ResponseBuilder::new()
        .description("The request was refused or failed: a problem document naming each bad field")
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build();
    components.responses.insert("Problem".into(), RefOr::T(problem));
    doc.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_default_problem(operation);
        }
    }
    doc
}

fn add_default_problem(operation: &mut Operation) {
    let answers = &mut operation.responses.responses;
    if !answers.contains_key("default") {
        answers.insert("default".into(), RefOr::Ref(Ref::from_response_name("Problem")));
    }
}

/// The documents a host serves, rendered once at start-up.
pub struct ApiDocs {
    all: String,
    by_service: BTreeMap<String, String>,
    /// Each documented path's methods as an `Allow` header names them (`GET, POST`).
    methods: BTreeMap<String, String>,
}

impl ApiDocs {
    /// `services`: each hosted service's name and contribution.
    pub fn new(services: &[(&'static str, OpenApi)]) -> Result<Self, serde_json::Error> {
        let names: Vec<&str> = services.iter().map(|(name, _)| *name).collect();
        let merged = document(&names, services.iter().map(|(_, doc)| doc.clone()).collect());
        let methods = merged.paths.paths.iter().map(|(path, item)| (path.clone(), allowed(item))).collect();
        let all = merged.to_json()?;
        let mut by_service = BTreeMap::new();
        for (name, doc) in services {
            by_service.insert(name.to_string(), document(&[name], vec![doc.clone()]).to_json()?);
        }
        Ok(Self { all, by_service, methods })
    }

    /// The methods documented at a route `pattern` (`/api/v1/messages/{tracking_code}`).
    pub fn methods(&self, pattern: &str) -> Option<&str> {
        self.methods.get(pattern).map(String::as_str)
    }
}

fn allowed(item: &PathItem) -> String {
    let operations = [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("PATCH", &item.patch),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
        ("TRACE", &item.trace),
    ];
    let names: Vec<&str> = operations.iter().filter(|(_, op)| op.is_some()).map(|(name, _)| *name).collect();
    names.join(", ")
}

pub fn configure(cfg: &mut web::ServiceConfig, docs: Arc<ApiDocs>) {
    cfg.app_data(web::Data::from(docs))
        .route("/api/v1/openapi.json", web::get().to(openapi_json))
        .route("/api/v1/openapi/{service}.json", web::get().to(service_openapi_json))
        .route("/api/v1/docs", web::get().to(docs_page));
}

fn json(text: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(text.to_string())
}

/// The OpenAPI document of every service this process runs.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "documentation", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn openapi_json(docs: web::Data<ApiDocs>) -> HttpResponse {
    json(&docs.all)
}

/// One service's OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi/{service}.json", tag = "documentation", security(()),
    params(("service" = String, Path, description = "intake, routing, deadline-timer, violation-referral or notification")),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
async fn service_openapi_json(docs: web::Data<ApiDocs>, path: web::Path<String>) -> HttpResponse {
    match docs.by_service.get(path.as_str()) {
        Some(text) => json(text),
        None => actix_web::ResponseError::error_response(&super::problem::ApiError::NotFound(format!(
            "this process runs no service `{}`; it runs: {}",
            path.as_str(),
            docs.by_service.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A readable page of the API, drawn from the document in the browser; it loads nothing else.
#[utoipa::path(get, path = "/api/v1/docs", tag = "documentation", security(()),
    responses((status = 200, description = "The API page", content_type = "text/html", body = String)))]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(PAGE)
}

const PAGE: &str = include_str!("openapi_page.html");
