//! The culpability track's REST API: an inspector refers a case to a counterpart unit, the unit
//! records its findings. Agencies are refused for their role; a unit reaches only the cases
//! referred to it (others answer 404, as missing ones do).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use nazer_shared::actor::Actor;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, Scope, is_identifier};
use serde::Deserialize;

use super::CaseDetail;
use super::api::changed;
use super::culpability::Fault;
use super::culpability_store::{self, Findings, Official};
use super::steps::{MAX_BODY_CHARS, StepRecord, required_text};
use crate::State;
use crate::store::CaseReader;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/violation-cases/{id}/culpability", web::post().to(post_culpability))
        .route("/api/v1/violation-cases/{id}/culpability/findings", web::post().to(post_findings));
}

/// The most officials one finding may name.
const MAX_OFFICIALS: usize = 50;

/// An inspector's referral of a case's culpability to a counterpart unit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CulpabilityBody {
    /// The counterpart unit's id, from `GET /api/v1/counterpart-units`.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub unit: Option<String>,
    /// Why the conduct of those responsible is to be examined: required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// An official named in findings: personal data, sealed at rest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficialBody {
    /// Up to 200 characters.
    #[schema(max_length = 200)]
    pub full_name: Option<String>,
    /// The post held when the violation happened, up to 200 characters.
    #[schema(max_length = 200)]
    pub position: Option<String>,
}

/// The counterpart unit's findings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsBody {
    /// What the unit found: required, up to 10,000 characters.
    #[schema(max_length = 10000)]
    pub summary: Option<String>,
    /// `negligence` (قصور), `misconduct` (تقصیر) or `none`.
    #[schema(value_type = Fault)]
    pub fault: Option<String>,
    /// Those responsible, up to 50 (none with `fault: none`).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub officials: Vec<OfficialBody>,
    /// The unit's letter number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// References to documents, up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

/// Refers the case's culpability — the negligence or fault of those responsible — to a
/// counterpart unit of the inspection organization, at any time (also after the message became
/// effective), once the case is classified. Its stages go on the clock, warned to the unit and
/// then Special Follow-up; agencies never see this track.
///
/// Inspectors (supervisors). Publishes `violation.culpability_opened` (which names no agency).
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/culpability", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = CulpabilityBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The track opened; the case", body = CaseDetail),
        (status = 409, description = "Opened already, or the case is not classified",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_culpability(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<CulpabilityBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Supervisor])?;
    let mut issues = Vec::new();
    let unit = body.unit.map(|u| u.trim().to_string()).unwrap_or_default();
    if !is_identifier(&unit) {
        issues.push(FieldIssue::new("unit", format!("a counterpart unit's id: {IDENTIFIER_RULE}")));
    }
    let reason = required_text(&mut issues, "reason", body.reason, 2_000);
    let record = StepRecord { body: (!reason.is_empty()).then_some(reason), ..StepRecord::default() }
        .checked(false, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Staff, StatusCode::CREATED, move |conn, id| {
        culpability_store::open(conn, id, &unit, &record, &actor, now)
    })
    .await
}

/// Records the counterpart unit's findings: what it found, whether of negligence, misconduct
/// or none, and the officials responsible (sealed at rest; shown by name to the unit, the
/// compliance committee and special follow-up only).
///
/// The counterpart unit the case is referred to (a `counterpart_unit` key or token bound to it).
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/culpability/findings", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = FindingsBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The findings recorded; the case as the unit sees it", body = CaseDetail),
        (status = 409, description = "Findings recorded already, or no culpability track",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_findings(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<FindingsBody>,
) -> Result<HttpResponse, ApiError> {
    let reader = CaseReader::Unit(caller.own_unit()?);
    let mut issues = Vec::new();
    let summary = required_text(&mut issues, "summary", body.summary, MAX_BODY_CHARS);
    let fault = body.fault.as_deref().and_then(Fault::parse);
    if fault.is_none() {
        issues.push(FieldIssue::new("fault", format!("one of: {}", Fault::listed())));
    }
    if body.officials.len() > MAX_OFFICIALS {
        issues.push(FieldIssue::new("officials", format!("at most {MAX_OFFICIALS}")));
    }
    if fault == Some(Fault::None) && !body.officials.is_empty() {
        issues.push(FieldIssue::new("officials", "none with `fault: none`; leave it empty"));
    }
    let mut officials = Vec::new();
    for (i, official) in body.officials.into_iter().enumerate() {
        let full_name = required_text(&mut issues, &format!("officials[{i}].full_name"), official.full_name, 200);
        let position = required_text(&mut issues, &format!("officials[{i}].position"), official.position, 200);
        officials.push(Official { full_name, position });
    }
    let record = StepRecord {
        reference: body.reference,
        body: (!summary.is_empty()).then_some(summary),
        documents: body.documents,
        ..StepRecord::default()
    }
    .checked(false, &mut issues);
    let Some(fault) = fault.filter(|_| issues.is_empty()) else {
        return Err(ApiError::invalid(issues));
    };
    let (actor, now, keys, writer) = (Actor::of(&caller), state.ctx.clock.now(), state.keys.clone(), reader.clone());
    changed(&state, path.into_inner(), reader, StatusCode::CREATED, move |conn, id| {
        let findings = Findings { summary: &record, fault, officials: &officials };
        culpability_store::record_findings(conn, id, &findings, &keys, &actor, &writer, now)
    })
    .await
}
