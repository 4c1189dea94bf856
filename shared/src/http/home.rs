//! What a host answers outside its API: a small page at `/` naming the services it runs and
//! linking the API page and health, and a problem document for a path no route serves (404) or
//! a method its route does not take (405, with `Allow` where the API document lists the path).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::openapi::ApiDocs;
use super::problem::ApiError;

/// The page, rendered once at start-up.
pub(crate) struct HomePage(String);

pub fn configure(cfg: &mut web::ServiceConfig, services: &[&str]) {
    cfg.app_data(web::Data::new(HomePage(page(services))))
        .route("/", web::get().to(home_page))
        .default_service(web::to(no_route));
}

/// A page naming the services this process runs, with links to the API page and health.
#[utoipa::path(get, path = "/", tag = "operations", security(()),
    responses((status = 200, description = "A page naming the services this process runs, linking the API page and health",
        content_type = "text/html", body = String)))]
pub(crate) async fn home_page(page: web::Data<HomePage>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page.0.clone())
}

/// Service names are the code's own identifiers, so they need no escaping.
fn page(services: &[&str]) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Nazer</title></head>\n<body>\n\
         <h1>Nazer <span lang=\"fa\" dir=\"rtl\">ناظر</span></h1>\n\
         <p>This process runs: {}.</p>\n<ul>\n\
         <li><a href=\"/api/v1/docs\">The API page</a> (<a href=\"/api/v1/openapi.json\">its OpenAPI document</a>)</li>\n\
         <li><a href=\"/healthz\">/healthz</a> (alive), <a href=\"/readyz\">/readyz</a> (ready)</li>\n\
         </ul>\n</body>\n</html>\n",
        services.join(", ")
    )
}

/// How much of the method and path a refusal repeats: enough to recognise, never a huge echo.
const SHOWN_CHARS: usize = 100;

fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// No route took the request: either its path is unknown (404) or a route serves the path with
/// other methods (405; actix tries each method's route in turn, so this is where both land).
async fn no_route(req: HttpRequest) -> HttpResponse {
    let asked = shown(&format!("{} {}", req.method(), req.path()));
    let Some(pattern) = req.resource_map().match_pattern(req.path()) else {
        return ApiError::NotFound(format!("no route answers `{asked}`; the API is described at /api/v1/docs"))
            .error_response();
    };
    let allow = req.app_data::<web::Data<ApiDocs>>().and_then(|docs| docs.methods(&pattern)).map(str::to_string);
    let detail = match &allow {
        Some(methods) => format!("`{asked}`: this path takes {methods}"),
        None => format!("`{asked}`: this path does not take this method"),
    };
    let mut response = ApiError::MethodNotAllowed(detail).error_response();
    if let Some(value) = allow.and_then(|methods| HeaderValue::from_str(&methods).ok()) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
