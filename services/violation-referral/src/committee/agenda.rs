//! The committee's agenda: the cases referred to it and not yet decided, the longest waiting
//! first, with what the counterpart unit found — as JSON, or as CSV for the session's papers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::http::csv;
use nazer_shared::iran::jalali_date_time;
use serde::Serialize;

use crate::schema::violation_cases;
use crate::tracks::culpability::CulpabilityState;
use crate::tracks::culpability_store::{FINDINGS, REFERRED};
use crate::tracks::steps;

/// The most cases one agenda holds.
pub const MAX_AGENDA: i64 = 5_000;

/// A case before the committee.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ComplianceCommitteeAgendaItem)]
pub struct AgendaItem {
    pub case_id: String,
    pub tracking_code: String,
    pub violation_type: Option<String>,
    pub agency_id: String,
    pub unit_id: Option<String>,
    /// `negligence`, `misconduct` or `none`, as the unit found.
    pub fault: Option<String>,
    /// The unit's summary of its findings.
    pub findings_summary: Option<String>,
    /// When the unit referred it.
    pub referred_at: Option<DateTime<Utc>>,
    /// The same, Solar Hijri in Tehran time (`1405/09/17 10:30`).
    pub referred_at_fa: Option<String>,
}

/// A case before the committee, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = violation_cases)]
struct Waiting {
    id: String,
    tracking_code: String,
    violation_type: Option<String>,
    agency_id: String,
    culpability_unit_id: Option<String>,
}

/// The cases `at_committee`, the longest waiting first; more than [`MAX_AGENDA`] is refused.
pub fn agenda(conn: &mut DbConnection) -> Result<Vec<AgendaItem>, DbError> {
    let cases: Vec<Waiting> = violation_cases::table
        .filter(violation_cases::culpability_state.eq(CulpabilityState::AtCommittee.as_str()))
        .select(Waiting::as_select())
        .limit(MAX_AGENDA + 1)
        .load(conn)?;
    if cases.len() as i64 > MAX_AGENDA {
        return Err(DbError::Refused(format!("more than {MAX_AGENDA} cases wait for the committee")));
    }
    let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    let (mut referred, mut findings) = (HashMap::new(), HashMap::new());
    for chunk in ids.chunks(500) {
        for (case_id, step) in steps::culpability_steps_of(conn, chunk, &[REFERRED, FINDINGS])? {
            let steps = if step.step == REFERRED { &mut referred } else { &mut findings };
            steps.insert(case_id, step);
        }
    }
    let mut items: Vec<AgendaItem> = cases
        .into_iter()
        .map(|case| {
            let found = findings.get(&case.id);
            let referred_at = referred.get(&case.id).map(|step| step.acted_at);
            AgendaItem {
                fault: found.and_then(|f| f.detail["fault"].as_str().map(str::to_string)),
                findings_summary: found.and_then(|f| f.body.clone()),
                referred_at_fa: referred_at.map(jalali_date_time),
                referred_at,
                case_id: case.id,
                tracking_code: case.tracking_code,
                violation_type: case.violation_type,
                agency_id: case.agency_id,
                unit_id: case.culpability_unit_id,
            }
        })
        .collect();
    items.sort_by(|a, b| (a.referred_at, &a.case_id).cmp(&(b.referred_at, &b.case_id)));
    Ok(items)
}

/// The agenda as CSV.
pub fn to_csv(items: &[AgendaItem]) -> String {
    let header = [
        "case_id",
        "tracking_code",
        "violation_type",
        "agency_id",
        "unit_id",
        "fault",
        "referred_at",
        "referred_at_solar_hijri",
        "findings_summary",
    ];
    let rows = items.iter().map(|item| {
        vec![
            item.case_id.clone(),
            item.tracking_code.clone(),
            item.violation_type.clone().unwrap_or_default(),
            item.agency_id.clone(),
            item.unit_id.clone().unwrap_or_default(),
            item.fault.clone().unwrap_or_default(),
            item.referred_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
            item.referred_at_fa.clone().unwrap_or_default(),
            item.findings_summary.clone().unwrap_or_default(),
        ]
    });
    csv::document(&header, rows)
}
