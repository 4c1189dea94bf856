//! What a host answers outside its API: a page at `/` naming its services and linking the API
//! page and health, and a problem document for a path no route serves or a method a route does
//! not take.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use nazer_shared::inbox::EventHandler;
use nazer_shared::runtime::{Service, ServiceEntry};
use nazer_shared::testing::TestApp;
use nazer_shared::testing::fixtures::assert_problem;
use serde_json::Value;

struct Probe;

impl Service for Probe {
    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        None
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        cfg.route("/test/empty", web::get().to(|| async { HttpResponse::NotFound().finish() }));
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }
}

const PROBE: ServiceEntry = ServiceEntry { name: "probe", factory: |_| Ok(Arc::new(Probe)), consumes: Vec::new };

async fn start() -> TestApp {
    TestApp::start_with(&[PROBE], |settings| settings.broker.url = None).await
}

/// Status, content type, Allow header and body (JSON where it is JSON).
async fn call(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, String, Option<String>, Value, String) {
    let answer = app.client.request(method, app.url(path)).send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, content_type, allow) = (answer.status().as_u16(), header("content-type"), header("allow"));
    let text = answer.text().await.unwrap_or_default();
    (status, content_type.unwrap_or_default(), allow, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_path_is_answered_with_a_problem_document_naming_it() {
    let mut app = start().await;
    let (status, content_type, _, body, text) = call(&app, reqwest::Method::GET, "/api/v1/nowhere").await;
    assert_problem(status, Some(&content_type), &body, (404, "not-found", &[]));
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("GET /api/v1/nowhere")), "{text}");

    // A long path is not echoed whole.
    let long = format!("/{}", "x".repeat(5_000));
    let (status, content_type, _, body, text) = call(&app, reqwest::Method::GET, &long).await;
    assert_problem(status, Some(&content_type), &body, (404, "not-found", &[]));
    assert!(text.len() < 1_000, "{} bytes", text.len());

    // A route's own empty 404 is its own answer, left as it is.
    let (status, _, _, _, text) = call(&app, reqwest::Method::GET, "/test/empty").await;
    assert_eq!((status, text.as_str()), (404, ""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_route_does_not_take_is_answered_405_with_a_problem_document() {
    let mut app = start().await;
    let (status, content_type, allow, body, text) = call(&app, reqwest::Method::POST, "/healthz").await;
    assert_problem(status, Some(&content_type), &body, (405, "method-not-allowed", &[]));
    assert_eq!(allow.as_deref(), Some("GET"), "{text}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("POST /healthz")), "{text}");
    // A route with a parameter, as its pattern matches.
    let (status, content_type, allow, body, _) =
        call(&app, reqwest::Method::DELETE, "/api/v1/openapi/probe.json").await;
    assert_problem(status, Some(&content_type), &body, (405, "method-not-allowed", &[]));
    assert_eq!(allow.as_deref(), Some("GET"));
    // Undocumented, yet a route: still 405.
    let (status, content_type, _, body, _) = call(&app, reqwest::Method::PUT, "/test/empty").await;
    assert_problem(status, Some(&content_type), &body, (405, "method-not-allowed", &[]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_is_a_small_page_naming_the_services_and_linking_the_api_page_and_health() {
    let mut app = start().await;
    let (status, content_type, _, _, html) = call(&app, reqwest::Method::GET, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("probe"), "names the service: {html}");
    for link in ["/api/v1/docs", "/api/v1/openapi.json", "/healthz", "/readyz"] {
        assert!(html.contains(&format!("href=\"{link}\"")), "links {link}: {html}");
    }
    assert!(!html.contains("src=") && !html.contains("href=\"http"), "nothing fetched from elsewhere: {html}");
    // Described like the other pages every host serves.
    let (status, _, _, doc, _) = call(&app, reqwest::Method::GET, "/api/v1/openapi/probe.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/"]["get"]["responses"]["200"]["content"]["text/html"].is_object(), "{}", doc["paths"]["/"]);
    app.stop().await;
}
