//! Violation-referral: keeps the catalogue of violation types (their legal bases, remedial
//! actions, counterpart units and stage budgets) and opens a case for every violation report
//! once it is assigned. Later work follows the two tracks of the case (remedial "effectiveness" and culpability before
//! the compliance committee) and the instructions of direct-contact meetings.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_shared::db::DbConnection;
use nazer_shared::events::{Envelope, MessageAssigned};
use nazer_shared::http::paging::{self, Order};
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, QueryParams, is_identifier, page_limit, period_bound,
};
use nazer_shared::inbox::{EventHandler, HandlerError, Handlers};
use nazer_shared::iran::Province;
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::sealing::SealingKeys;
use nazer_shared::topology::VIOLATION_REFERRAL;
use serde::{Deserialize, Serialize};
use tracks::culpability::CulpabilityState;
use tracks::remedial::RemedialState;

pub mod committee;
pub(crate) mod openapi;
pub mod schema;
pub mod store;
pub mod tracks;
pub mod types;
pub mod units;

/// The records of a shipped JSON file `{"<key>": [ … ]}`, each checked; `name` says which one
/// a refusal is about.
pub(crate) fn read_shipped<D, T>(
    file: &str,
    text: &str,
    key: &str,
    check: impl Fn(D) -> Result<T, Vec<FieldIssue>>,
    name: impl Fn(&D) -> String,
) -> Result<Vec<T>, String>
where
    D: serde::de::DeserializeOwned,
{
    let mut lists: std::collections::BTreeMap<String, Vec<D>> =
        serde_json::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let records =
        lists.remove(key).filter(|_| lists.is_empty()).ok_or_else(|| format!("{file}: holds only `{key}`"))?;
    records
        .into_iter()
        .map(|record| {
            let which = name(&record);
            check(record).map_err(|issues| format!("{file}: {which}: {issues:?}"))
        })
        .collect()
}

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: VIOLATION_REFERRAL,
    factory: |ctx| {
        // The officials named in culpability findings are sealed as reporters are.
        let keys = SealingKeys::from_settings(&ctx.settings).map_err(|e| e.to_string())?;
        Ok(Arc::new(ViolationReferral { state: web::Data::new(State { ctx, keys }) }))
    },
    consumes: || handlers().bindings(),
};

pub struct State {
    ctx: ServiceContext,
    keys: SealingKeys,
}

pub struct ViolationReferral {
    state: web::Data<State>,
}

/// What violation-referral does with the events it consumes: opens the case of an assigned
/// violation report, and keeps the clocks deadline-timer runs for its stages.
pub fn handlers() -> Handlers<()> {
    tracks::deadlines::handlers(Handlers::new().on::<MessageAssigned>(open_case))
}

fn open_case(
    _: &(),
    conn: &mut DbConnection,
    assigned: MessageAssigned,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    store::open_case(conn, &assigned, now)?;
    Ok(())
}

impl Service for ViolationReferral {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        Some(handlers().with_state(()))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.state.clone())
            .route("/api/v1/violation-cases", web::get().to(get_cases))
            .route("/api/v1/violation-cases/{id}", web::get().to(get_case))
            .configure(tracks::api::routes)
            .configure(tracks::culpability_api::routes)
            .configure(committee::api::routes)
            .configure(types::api::routes)
            .configure(units::api::routes);
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CaseQuery {
    /// Only this agency's cases (its id); ignored for agencies, who see only their own.
    #[param(required = false, value_type = String)]
    agency_id: Option<String>,
    /// Only cases classified as this violation type (its code).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    violation_type: Option<String>,
    /// Only cases whose remedial track is in this state.
    #[param(required = false, value_type = RemedialState)]
    remedial_state: Option<String>,
    /// Only cases whose culpability track is in this state (`at_committee` for the committee's
    /// agenda); ignored for agencies.
    #[param(required = false, value_type = CulpabilityState)]
    culpability_state: Option<String>,
    /// Only cases whose culpability track is referred to this counterpart unit (its id);
    /// ignored for agencies. A unit sees its own only (another unit's id lists nothing).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    unit_id: Option<String>,
    /// Only cases in this status: `open` (the only status so far).
    #[param(required = false, value_type = store::CaseStatus)]
    status: Option<String>,
    /// Only cases of this category (its code).
    #[param(pattern = "^[a-z0-9._-]{1,64}$")]
    category: Option<String>,
    /// Only cases about this province (its code, such as `tehran`).
    #[param(required = false, value_type = Province)]
    province: Option<String>,
    /// Opened at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    from: Option<String>,
    /// Opened before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant.
    to: Option<String>,
    /// `-opened_at` (newest first, the default) or `opened_at` (oldest first).
    #[param(pattern = "^-?opened_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
    /// How many cases at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of violation cases.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ViolationCaseList {
    violation_cases: Vec<store::CaseView>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Lists violation cases, newest first, with filters and a cursor.
///
/// Supervisors, admins, special follow-up and the compliance committee (every case), agencies
/// (their own and their sub-agencies', without the culpability track), counterpart units (the
/// cases referred to them). Ordered by `opened_at`, then id.
#[utoipa::path(get, path = "/api/v1/violation-cases", tag = "violation-referral",
    params(CaseQuery),
    responses((status = 200, description = "A page of cases", body = ViolationCaseList)))]
pub(crate) async fn get_cases(
    state: web::Data<State>,
    caller: Caller,
    QueryParams(query): QueryParams<CaseQuery>,
) -> Result<HttpResponse, ApiError> {
    let reader = store::CaseReader::of(&caller)?;
    let mut issues = Vec::new();
    let status = query.status.as_deref().map(store::CaseStatus::parse);
    if query.violation_type.as_deref().is_some_and(|c| !is_identifier(c)) {
        issues.push(FieldIssue::new("violation_type", IDENTIFIER_RULE));
    }
    let remedial_state = query.remedial_state.as_deref().map(RemedialState::parse);
    if remedial_state.is_some_and(|s| s.is_none()) {
        issues.push(FieldIssue::new("remedial_state", format!("one of: {}", RemedialState::listed())));
    }
    let culpability_state = query.culpability_state.as_deref().map(CulpabilityState::parse);
    if culpability_state.is_some_and(|s| s.is_none()) {
        issues.push(FieldIssue::new("culpability_state", format!("one of: {}", CulpabilityState::listed())));
    }
    if query.unit_id.as_deref().is_some_and(|u| !is_identifier(u)) {
        issues.push(FieldIssue::new("unit_id", IDENTIFIER_RULE));
    }
    if status.is_some_and(|s| s.is_none()) {
        issues.push(FieldIssue::new("status", format!("one of: {}", store::CaseStatus::listed())));
    }
    if query.category.as_deref().is_some_and(|c| !is_identifier(c)) {
        issues.push(FieldIssue::new("category", IDENTIFIER_RULE));
    }
    if query.province.as_deref().is_some_and(|p| Province::parse(p).is_none()) {
        issues.push(FieldIssue::new("province", format!("one of: {}", Province::listed())));
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    let newest_first = paging::newest_first("opened_at", query.sort.as_deref(), Order::NewestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = store::CaseFilter {
        // An agency stays confined to its own cases (and its sub-agencies'), whatever it asks for.
        agency_id: query.agency_id.filter(|_| !reader.is_agency()),
        // An agency learns nothing of the culpability track, not even by filtering on it.
        culpability_state: culpability_state.flatten().filter(|_| !reader.is_agency()),
        unit_id: query.unit_id.filter(|_| !reader.is_agency()),
        reader,
        violation_type: query.violation_type,
        remedial_state: remedial_state.flatten(),
        status: status.flatten(),
        category: query.category,
        province: query.province,
        from,
        until,
        newest_first,
        after,
        limit: page_limit(query.limit)?,
    };
    let (cases, next_cursor) = state.ctx.db.run(move |conn| store::list_cases(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(ViolationCaseList { violation_cases: cases, next_cursor }))
}

/// Reads one violation case with its tracks. Supervisors, admins, special follow-up and the
/// compliance committee; the agency the case belongs to (or a parent agency), which sees the
/// remedial track only; the counterpart unit it is referred to.
#[utoipa::path(get, path = "/api/v1/violation-cases/{id}", tag = "violation-referral",
    params(("id" = String, Path, description = "The case's id")),
    responses((status = 200, description = "The case", body = tracks::CaseDetail)))]
pub(crate) async fn get_case(
    state: web::Data<State>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reader = store::CaseReader::of(&caller)?;
    let (id, keys) = (path.into_inner(), state.keys.clone());
    let detail = state.ctx.db.run(move |conn| Ok(tracks::store::detail(conn, &id, &reader, &keys))).await??;
    Ok(HttpResponse::Ok().json(detail))
}
