//! What a host answers outside its API: a page at `/` naming its services and linking the API
//! page and health, a problem document for a path no route serves or a method a route does
//! not take, and a 408 for a body that does not arrive in time.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use nazer_shared::http::json::JsonBody;
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
        cfg.route("/test/echo", web::post().to(|body: JsonBody<Value>| async move { HttpResponse::Ok().json(body.0) }));
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

/// Sends `head` and `body` on a connection of its own; the answer's raw text, or None when
/// none came within `wait`.
async fn send_raw(app: &TestApp, head: &str, body: &[u8], wait: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
    let mut answer = vec![0; 8_192];
    match tokio::time::timeout(wait, stream.read(&mut answer)).await {
        Ok(Ok(read)) if read > 0 => Some(String::from_utf8_lossy(&answer[..read]).into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_announced_and_not_sent_is_answered_408_when_the_read_timeout_runs_out() {
    let mut app = TestApp::start_with(&[PROBE], |settings| {
        settings.broker.url = None;
        settings.http.body_read_timeout_secs = 1;
    })
    .await;
    let head =
        "POST /test/echo HTTP/1.1\r\nHost: nazer\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    let started = std::time::Instant::now();
    let answer = send_raw(&app, head, b"{", std::time::Duration::from_secs(5)).await;
    let answer = answer.unwrap_or_else(|| panic!("no answer within 5 s to a body that never arrives"));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("urn:nazer:problem:request-timeout"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());

    // A whole body, however it is split, is read and handed on.
    let body = br#"{"said":"\u0633\u0644\u0627\u0645"}"#;
    let head = format!(
        "POST /test/echo HTTP/1.1\r\nHost: nazer\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = send_raw(&app, &head, body, std::time::Duration::from_secs(5)).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("سلام"), "{answer}");
    app.stop().await;
}
