//! The culpability track's REST API: an inspector refers a case to a counterpart unit, the unit
//! records its findings and refers the case to the compliance committee, which (after deciding
//! it at a session, `crate::committee`) records the outcome and closes the track. Agencies are
//! refused for their role; a unit reaches only the cases referred to it (others answer 404, as
//! missing ones do).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use nazer_shared::actor::Actor;
use nazer_shared::http::openapi::ProblemSchema;
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, OptionalJsonBody, Scope, is_identifier,
};
use serde::Deserialize;

use super::CaseDetail;
use super::api::changed;
use super::culpability::{self, ARTICLE_9_PENALTIES, Fault};
use super::culpability_store::{self, Findings, Official, Outcome};
use super::steps::{MAX_BODY_CHARS, MAX_REASON_CHARS, StepRecord, optional_text, required_text};
use crate::State;
use crate::store::CaseReader;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/violation-cases/{id}/culpability", web::post().to(post_culpability))
        .route("/api/v1/violation-cases/{id}/culpability/findings", web::post().to(post_findings))
        .route("/api/v1/violation-cases/{id}/culpability/referral", web::post().to(post_culpability_referral))
        .route("/api/v1/violation-cases/{id}/culpability/outcome", web::post().to(post_culpability_outcome))
        .route("/api/v1/violation-cases/{id}/culpability/closure", web::post().to(post_culpability_closure));
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
    let record = StepRecord::default().with_required_text("reason", body.reason, MAX_REASON_CHARS, &mut issues);
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
    let letter = StepRecord { reference: body.reference, documents: body.documents, ..StepRecord::default() };
    let record = letter.with_required_text("summary", body.summary, MAX_BODY_CHARS, &mut issues);
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

/// The counterpart unit's referral of a case to the compliance committee: nothing is required.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralBody {
    /// Up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// The referral letter's number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// The referral letter's date: a Solar Hijri or Gregorian day.
    #[serde(default)]
    pub reference_date: Option<String>,
}

/// The outcome of the committee's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// The penalty imposed, by its clause letter of the Law on Investigating Administrative
    /// Violations, Article 9: `الف`, `ب`, `ج`, `د`, `ه`, `و`, `ز`, `ح`, `ط`, `ی` or `ک`. For a
    /// decision of `violations_board` or `agency_disciplinary`; this or `judicial_result`.
    #[serde(default)]
    pub penalty: Option<String>,
    /// The judicial result, for a case sent to the prosecutor (required then), up to 2,000
    /// characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub judicial_result: Option<String>,
    /// What was decided and done: required, up to 10,000 characters.
    #[schema(max_length = 10000)]
    pub body: Option<String>,
    /// The letter's number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// The letter's date: a Solar Hijri or Gregorian day.
    #[serde(default)]
    pub reference_date: Option<String>,
    /// References to documents, up to 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

/// The closing of a watched outcome.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    /// How the outcome was carried out: required, up to 2,000 characters.
    #[schema(max_length = 2000)]
    pub body: Option<String>,
    /// The letter's number, up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
}

/// Refers the case, its findings recorded, to the compliance committee (`at_committee`); the
/// committee's decision goes on the clock.
///
/// The counterpart unit the case is referred to. No body is needed. Publishes
/// `violation.culpability_referred`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/culpability/referral", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = ReferralBody, content_type = "application/json", description = "Optional: no body is needed"),
    responses(
        (status = 201, description = "Referred; the case as the unit sees it", body = CaseDetail),
        (status = 409, description = "No findings yet, or referred already",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_culpability_referral(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ReferralBody>,
) -> Result<HttpResponse, ApiError> {
    let reader = CaseReader::Unit(caller.own_unit()?);
    let mut issues = Vec::new();
    let note = optional_text(&mut issues, "note", body.note, MAX_REASON_CHARS);
    let record = StepRecord {
        reference: body.reference,
        reference_date: body.reference_date,
        body: note,
        ..StepRecord::default()
    }
    .checked(false, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now, writer) = (Actor::of(&caller), state.ctx.clock.now(), reader.clone());
    changed(&state, path.into_inner(), reader, StatusCode::CREATED, move |conn, id| {
        culpability_store::refer(conn, id, &record, &actor, &writer, now)
    })
    .await
}

/// Records the outcome of the committee's decision — an Article 9 penalty or a judicial result
/// — which is then watched, with reminders, for the violation type's `closed` budget until the
/// committee closes the track.
///
/// The compliance committee.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/culpability/outcome", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = OutcomeBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The outcome recorded; the case", body = CaseDetail),
        (status = 409, description = "Not decided, recorded already, or not what the decision leads to",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_culpability_outcome(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<OutcomeBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::ComplianceCommittee])?;
    let mut issues = Vec::new();
    let penalty = body.penalty.as_deref().map(str::trim).filter(|p| !p.is_empty()).map(|text| {
        culpability::penalty_clause(text).ok_or_else(|| {
            let letters: Vec<&str> = ARTICLE_9_PENALTIES.iter().map(|(letter, _)| *letter).collect();
            FieldIssue::new("penalty", format!("an Article 9 clause letter: {}", letters.join(", ")))
        })
    });
    let penalty = match penalty.transpose() {
        Ok(penalty) => penalty,
        Err(issue) => {
            issues.push(issue);
            None
        }
    };
    let judicial_result = optional_text(&mut issues, "judicial_result", body.judicial_result, MAX_REASON_CHARS);
    let letter = StepRecord {
        reference: body.reference,
        reference_date: body.reference_date,
        documents: body.documents,
        ..StepRecord::default()
    };
    let record = letter.with_required_text("body", body.body, MAX_BODY_CHARS, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Entrusted, StatusCode::CREATED, move |conn, id| {
        let outcome = Outcome { penalty, judicial_result: judicial_result.clone(), record: &record };
        culpability_store::record_outcome(conn, id, &outcome, &actor, now)
    })
    .await
}

/// Closes the culpability track once the outcome it watched was carried out (`closed`).
///
/// The compliance committee. Publishes `violation.culpability_closed`.
#[utoipa::path(post, path = "/api/v1/violation-cases/{id}/culpability/closure", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    request_body(content = ClosureBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Closed; the case", body = CaseDetail),
        (status = 409, description = "No outcome recorded yet, or closed already",
            content_type = "application/problem+json", body = ProblemSchema)))]
pub(crate) async fn post_culpability_closure(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ClosureBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::ComplianceCommittee])?;
    let mut issues = Vec::new();
    let letter = StepRecord { reference: body.reference, ..StepRecord::default() };
    let record = letter.with_required_text("body", body.body, MAX_REASON_CHARS, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let (actor, now) = (Actor::of(&caller), state.ctx.clock.now());
    changed(&state, path.into_inner(), CaseReader::Entrusted, StatusCode::OK, move |conn, id| {
        culpability_store::close(conn, id, &record, &actor, now)
    })
    .await
}
