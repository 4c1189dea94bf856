//! Open311 GeoReport v2 on intake, under `/open311/v2`, in JSON and XML (the path's suffix
//! names the format), so existing 311 clients can report to 1888 and follow their reports.
//!
//! The service list and definitions are public, as the spec has them. Posting needs an API key
//! with the `open311` scope (the spec's `api_key` field). Reads are keyless in the spec, so a
//! read without a key answers a public subset of each request (where it stands: its id, status,
//! service, agency and times; `open311.public_reads = subset`, limited per client), and the
//! full view needs a key: citizens' accounts and places are not published to anonymous readers
//! of a national system. `open311.public_reads = off` makes every read need a key. Reads never
//! show who reported, and leave out confidential reports and violation reports entirely.

mod document;
mod filters;
mod form;
mod model;
// These types only describe the GeoReport documents for OpenAPI (the answers are built as
// `Node`s, the form is read field by field): their fields are never read.
#[allow(dead_code)]
pub mod openapi;
mod posting;
mod reply;
mod store;
mod xml;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use nazer_shared::config::PublicReads;
use nazer_shared::http::Scope;
use nazer_shared::http::auth::{Caller, find_caller};
use nazer_shared::http::openapi::ProblemSchema;

use self::form::{Fields, attribute_code, issue, shown};
use self::model::View;
use self::openapi::{
    CommonQuery, CreatedRequest, ErrorItem, KeyQuery, RequestForm, SearchQuery, Service, ServiceDefinition,
    ServiceRequest,
};
use self::reply::{Format, Open311Error, Reply, respond};
use crate::api::{IntakeState, TAG};
use crate::rate_limit;
use crate::store::IdentityKeys;
use crate::store::Posted;
use crate::submission::Category;
use crate::timeline::Actor;

pub const ROOT: &str = "/open311/v2";
/// The largest form a client may post.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// What a GeoReport refusal answers.
const ERRORS: &str = "Refused or failed: the spec's error list (`[{\"code\": 400, \"description\": \"…\"}]`; \
                      `<errors><error>…</error></errors>` in XML), each description naming its field, with the \
                      HTTP status equal to the code. A path holding an escaped control character is refused \
                      before it reaches GeoReport, as a problem document (`application/problem+json`)";
/// What a read without a key answers beyond its client's limit.
const KEYLESS_LIMITED: &str = "Too many reads without a key from this client: the spec's error list, naming \
                               `api_key`";
/// What resources without filters accept: the spec's common arguments.
const COMMON_FIELDS: [&str; 2] = ["jurisdiction_id", "api_key"];
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/open311/v2/services.{format}", web::get().to(get_services))
        .route("/open311/v2/services/{service_code}.{format}", web::get().to(get_service_definition))
        .route("/open311/v2/requests.{format}", web::post().to(post_request))
        .route("/open311/v2/requests.{format}", web::get().to(get_requests))
        .route("/open311/v2/requests/{service_request_id}.{format}", web::get().to(get_request))
        .route("/open311/v2/{resource:.*}", web::route().to(unknown_resource));
}

/// Answers in the format the path names what `work` makes of the request; an unknown format
/// is refused in JSON.
async fn in_format<F, Fut>(req: &HttpRequest, work: F) -> HttpResponse
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Reply, Open311Error>>,
{
    match Format::parse(req.match_info().get("format").unwrap_or_default()) {
        Ok(format) => respond(format, work().await),
        Err(refusal) => respond(Format::Json, Err(refusal)),
    }
}

fn path_part(req: &HttpRequest, name: &str) -> String {
    req.match_info().get(name).unwrap_or_default().to_string()
}

/// GeoReport v2: the services (categories) a request may be filed under.
///
/// Public: no key needed. Refusals answer the spec's error list, in the format asked for.
#[utoipa::path(get, path = "/open311/v2/services.{format}", tag = TAG, security(()),
    params(("format" = inline(Format), Path, description = "`json` or `xml`"), CommonQuery),
    responses(
        (status = 200, description = "The services",
            content((Vec<Service> = "application/json"), (String = "text/xml"))),
        (status = "default", description = ERRORS, content(
            (Vec<ErrorItem> = "application/json"),
            (String = "text/xml"),
            (ProblemSchema = "application/problem+json")))))]
pub(crate) async fn get_services(state: web::Data<IntakeState>, req: HttpRequest) -> HttpResponse {
    in_format(&req, || services(&state, &req)).await
}

/// GeoReport v2: a service's attributes (the province, required, and the kind of message).
///
/// Public: no key needed; an unknown or inactive service answers 404.
#[utoipa::path(get, path = "/open311/v2/services/{service_code}.{format}", tag = TAG, security(()),
    params(
        ("service_code" = String, Path, description = "The service's code"),
        ("format" = inline(Format), Path, description = "`json` or `xml`"),
        CommonQuery),
    responses(
        (status = 200, description = "The service's definition",
            content((ServiceDefinition = "application/json"), (String = "text/xml"))),
        (status = "default", description = ERRORS, content(
            (Vec<ErrorItem> = "application/json"),
            (String = "text/xml"),
            (ProblemSchema = "application/problem+json")))))]
pub(crate) async fn get_service_definition(state: web::Data<IntakeState>, req: HttpRequest) -> HttpResponse {
    in_format(&req, || service_definition(&state, &req)).await
}

/// GeoReport v2: reports a service request.
///
/// Needs a key: the `api_key` form field must be a key with the `open311` scope (403
/// otherwise). It becomes a message like the call centre's; its id is the tracking code. Every
/// bad field is named at once.
#[utoipa::path(post, path = "/open311/v2/requests.{format}", tag = TAG, security(()),
    params(("format" = inline(Format), Path, description = "`json` or `xml`")),
    request_body(content = RequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Stored: its id (the tracking code) and what happens next",
            content((Vec<CreatedRequest> = "application/json"), (String = "text/xml"))),
        (status = "default", description = ERRORS, content(
            (Vec<ErrorItem> = "application/json"),
            (String = "text/xml"),
            (ProblemSchema = "application/problem+json")))))]
pub(crate) async fn post_request(state: web::Data<IntakeState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    in_format(&req, || create_request(&state, &req, body)).await
}

/// GeoReport v2: searches the service requests reported through Open311.
///
/// Keyless, as the spec has it: without `api_key`, each request's public subset
/// (`service_request_id`, `status`, `service_code`, `service_name`, `agency_responsible`,
/// `requested_datetime`, `updated_datetime`, `expected_datetime`), a limited number of reads a
/// minute per client (429 with `Retry-After` beyond; 403 where the deployment turned keyless
/// reads off). The full view needs `api_key`, a key with the `open311` scope; a key that is
/// unknown, revoked or without that scope answers 403. Newest first, at most 1000;
/// confidential reports and violation reports are never shown.
#[utoipa::path(get, path = "/open311/v2/requests.{format}", tag = TAG, security(()),
    params(("format" = inline(Format), Path, description = "`json` or `xml`"), SearchQuery),
    responses(
        (status = 200, description = "The service requests",
            content((Vec<ServiceRequest> = "application/json"), (String = "text/xml"))),
        (status = 429, description = KEYLESS_LIMITED, content((Vec<ErrorItem> = "application/json"), (String = "text/xml")),
            headers(("Retry-After" = u64, description = "Seconds to wait before reading again"))),
        (status = "default", description = ERRORS, content(
            (Vec<ErrorItem> = "application/json"),
            (String = "text/xml"),
            (ProblemSchema = "application/problem+json")))))]
pub(crate) async fn get_requests(state: web::Data<IntakeState>, req: HttpRequest) -> HttpResponse {
    in_format(&req, || search_requests(&state, &req)).await
}

/// GeoReport v2: one service request reported through Open311.
///
/// Keyless, as the spec has it: without `api_key`, the request's public subset, a limited
/// number of reads a minute per client (429 with `Retry-After` beyond; 403 where the deployment
/// turned keyless reads off). The full view needs `api_key`, a key with the `open311` scope; a
/// key that is unknown, revoked or without that scope answers 403. A hidden request answers 404
/// like a missing one.
#[utoipa::path(get, path = "/open311/v2/requests/{service_request_id}.{format}", tag = TAG, security(()),
    params(
        ("service_request_id" = String, Path, description = "The request's id: its tracking code"),
        ("format" = inline(Format), Path, description = "`json` or `xml`"),
        KeyQuery),
    responses(
        (status = 200, description = "A list holding the request",
            content((Vec<ServiceRequest> = "application/json"), (String = "text/xml"))),
        (status = 429, description = KEYLESS_LIMITED, content((Vec<ErrorItem> = "application/json"), (String = "text/xml")),
            headers(("Retry-After" = u64, description = "Seconds to wait before reading again"))),
        (status = "default", description = ERRORS, content(
            (Vec<ErrorItem> = "application/json"),
            (String = "text/xml"),
            (ProblemSchema = "application/problem+json")))))]
pub(crate) async fn get_request(state: web::Data<IntakeState>, req: HttpRequest) -> HttpResponse {
    in_format(&req, || one_request(&state, &req)).await
}

async fn unknown_resource(req: HttpRequest) -> HttpResponse {
    let description = issue(
        "resource",
        format!(
            "{} {ROOT}/{} is not offered; the resources are GET services.json, GET services/{{service_code}}.json, \
             POST and GET requests.json, GET requests/{{service_request_id}}.json (or .xml)",
            req.method(),
            shown(&path_part(&req, "resource"))
        ),
    );
    respond(Format::of_path(req.path()), Err(Open311Error::not_found(description)))
}

/// The query of a resource without filters; the jurisdiction is accepted and not checked (Nazer
/// serves one), the key is checked where a resource needs it.
fn common_fields(req: &HttpRequest) -> Result<Fields, Open311Error> {
    Fields::parse(&[req.query_string()], |name| COMMON_FIELDS.contains(&name), &COMMON_FIELDS.join(", "))
}

/// The active category behind a service code; any other answers 404, as the spec has it.
fn active_category<'a>(categories: &'a [Category], code: &str) -> Result<&'a Category, Open311Error> {
    categories.iter().find(|c| c.code == code && c.active).ok_or_else(|| {
        let problem = format!("`{}` is not a service; GET {ROOT}/services.json lists them", shown(code));
        Open311Error::not_found(issue("service_code", problem))
    })
}

/// The client behind `api_key`, which must be active and hold the `open311` scope (403 else).
async fn open311_client(state: &IntakeState, api_key: Option<String>) -> Result<Caller, Open311Error> {
    let Some(secret) = api_key else {
        return Err(Open311Error::forbidden(issue(
            "api_key",
            "is required: send the API key Nazer issued to this client",
        )));
    };
    let caller = state.ctx.db.run(move |conn| find_caller(conn, &secret)).await?;
    match caller {
        None => Err(Open311Error::forbidden(issue("api_key", "is unknown or revoked"))),
        Some(caller) if !caller.has(Scope::Open311) => Err(Open311Error::forbidden(issue(
            "api_key",
            "lacks the open311 scope; ask Nazer's administrators for an Open311 key",
        ))),
        Some(caller) => Ok(caller),
    }
}

/// What a read shows its reader: the full view to a client with an Open311 key; without a key,
/// the public subset, a limited number of reads a minute per client, unless keyless reads are
/// off. A key that does not hold is refused, never read as no key.
async fn reader_view(state: &IntakeState, req: &HttpRequest, api_key: Option<String>) -> Result<View, Open311Error> {
    let settings = &state.ctx.settings;
    if api_key.is_some() || settings.open311.public_reads == PublicReads::Off {
        open311_client(state, api_key).await?;
        return Ok(View::Full);
    }
    let client = rate_limit::client_pseudonym(req, settings.tracking.client_ip_header.as_deref(), &state.keys);
    let (bucket, now) = (format!("open311:keyless:{client}"), state.ctx.clock.now());
    let count = state.ctx.db.write(move |conn| rate_limit::hit(conn, &bucket, Duration::minutes(1), now)).await?;
    let limit = settings.open311.keyless_reads_per_minute;
    if i64::from(count.hits) > i64::from(limit) {
        let secs = count.retry_after_secs(now);
        let problem = format!(
            "too many reads without a key from this client ({limit} a minute); try again in {secs} seconds, or \
             send the API key Nazer issued to this client"
        );
        return Err(Open311Error::too_many(issue("api_key", problem), secs));
    }
    Ok(View::Public)
}

async fn services(state: &IntakeState, req: &HttpRequest) -> Result<Reply, Open311Error> {
    common_fields(req)?;
    let categories = state.ctx.db.run(crate::store::load_categories).await?;
    Ok(Reply::ok("services", model::services(&categories)))
}

async fn service_definition(state: &IntakeState, req: &HttpRequest) -> Result<Reply, Open311Error> {
    common_fields(req)?;
    let code = path_part(req, "service_code");
    let categories = state.ctx.db.run(crate::store::load_categories).await?;
    let category = active_category(&categories, &code)?;
    Ok(Reply::ok("service_definition", model::service_definition(category)))
}

fn is_request_field(name: &str) -> bool {
    posting::REQUEST_FIELDS.contains(&name) || attribute_code(name).is_some()
}

/// The posted form, from the query string and the body together (clients put `api_key` and
/// `jurisdiction_id` in either).
async fn posted_fields(req: &HttpRequest, body: web::Payload) -> Result<Fields, Open311Error> {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != FORM_CONTENT_TYPE {
        return Err(Open311Error::bad_request(issue(
            "Content-Type",
            format!("send the fields as {FORM_CONTENT_TYPE}"),
        )));
    }
    let bytes = body
        .to_bytes_limited(MAX_FORM_BYTES)
        .await
        .map_err(|_| Open311Error::bad_request(issue("body", format!("is larger than {MAX_FORM_BYTES} bytes"))))?
        .map_err(|e| Open311Error::bad_request(issue("body", format!("could not be read: {e}"))))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Open311Error::bad_request(issue("body", "is not UTF-8")))?;
    let accepted =
        format!("{}, attribute[{}], attribute[{}]", posting::REQUEST_FIELDS.join(", "), model::PROVINCE, model::KIND);
    Fields::parse(&[req.query_string(), text], is_request_field, &accepted)
}

async fn create_request(state: &IntakeState, req: &HttpRequest, body: web::Payload) -> Result<Reply, Open311Error> {
    let fields = posted_fields(req, body).await?;
    let caller = open311_client(state, fields.get("api_key")).await?;
    let Some(service_code) = fields.get("service_code") else {
        let problem = format!("is required; GET {ROOT}/services.json lists the services");
        return Err(Open311Error::bad_request(issue("service_code", problem)));
    };
    let (now, keys, actor) = (state.ctx.clock.now(), state.keys.clone(), Actor::of(&caller));
    let (areas, search_key) = (state.areas.clone(), state.search_key.clone());
    let areas = state.ctx.db.run(move |conn| areas.index(conn)).await?;
    let submitted_by = caller.key_id.clone();
    let (receipt, kind) = state
        .ctx
        .write(move |conn| {
            let categories = crate::store::load_categories(conn)?;
            let category = active_category(&categories, &service_code)?;
            let (submission, location) =
                posting::read_request(&fields, category, &categories, &areas).map_err(Open311Error::bad_requests)?;
            let (Posted::Created(receipt) | Posted::Replayed(receipt)) = crate::store::post_message(
                conn,
                IdentityKeys { sealing: &keys, search: &search_key },
                &submission,
                &submitted_by,
                &actor,
                None,
                now,
            )?;
            store::record_location(conn, &receipt.id, &location)?;
            Ok::<_, Open311Error>((receipt, submission.kind))
        })
        .await?;
    tracing::info!(message_id = %receipt.id, key_id = %caller.key_id, "open311 service request received");
    Ok(Reply::ok("service_requests", posting::created(&receipt.tracking_code, kind)))
}

async fn search_requests(state: &IntakeState, req: &HttpRequest) -> Result<Reply, Open311Error> {
    let accepted = filters::SEARCH_FIELDS.join(", ");
    let fields = Fields::parse(&[req.query_string()], |name| filters::SEARCH_FIELDS.contains(&name), &accepted)?;
    let view = reader_view(state, req, fields.get("api_key")).await?;
    let selection = filters::selection(&fields, state.ctx.clock.now())?;
    let (rows, categories) = read_requests(state, selection).await?;
    Ok(Reply::ok("service_requests", model::service_requests(rows, &categories, view)))
}

async fn one_request(state: &IntakeState, req: &HttpRequest) -> Result<Reply, Open311Error> {
    let fields = common_fields(req)?;
    let view = reader_view(state, req, fields.get("api_key")).await?;
    let code = filters::tracking_code(&path_part(req, "service_request_id")).map_err(Open311Error::bad_request)?;
    let (rows, categories) = read_requests(state, store::Selection::Codes(vec![code.clone()])).await?;
    // A hidden report answers exactly like a missing one.
    if rows.is_empty() {
        let problem = format!("no service request has the id {code}");
        return Err(Open311Error::not_found(issue("service_request_id", problem)));
    }
    Ok(Reply::ok("service_requests", model::service_requests(rows, &categories, view)))
}

/// The service requests `selection` names that the public may see, with the categories that
/// name their services.
async fn read_requests(
    state: &IntakeState,
    selection: store::Selection,
) -> Result<(Vec<store::ServiceRequestRow>, Vec<Category>), Open311Error> {
    let read = state.ctx.db.read(move |conn| {
        let categories = crate::store::load_categories(conn)?;
        Ok((store::service_requests(conn, &selection)?, categories))
    });
    Ok(read.await?)
}
