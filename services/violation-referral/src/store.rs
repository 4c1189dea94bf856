//! Violation cases: one per violation report, opened when the report is assigned.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::{Viewer, ancestor_pattern, decode_ancestors, encode_ancestors};
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{MessageAssigned, MessageKind, ViolationCaseOpened};
use nazer_shared::http::paging::{self, Cursor};
use nazer_shared::http::{ApiError, Caller, Scope};
use nazer_shared::outbox;
use nazer_shared::topology::VIOLATION_REFERRAL;
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{violation_cases, violation_message_assignments};
use crate::tracks::culpability::CulpabilityState;
use crate::tracks::remedial::RemedialState;
use crate::types::TrackBudgets;

nazer_shared::closed_set! {
    /// Where a case stands.
    pub enum CaseStatus { Open = "open" }
}

/// True for the messages that open a case.
pub fn opens_case(assigned: &MessageAssigned) -> bool {
    MessageKind::parse(&assigned.kind) == Some(MessageKind::ViolationReport)
}

/// Keeps the latest assignment of every message (an inspector may open a case on any), opens
/// the case of an assigned violation report, once; a later assignment of a message with a case
/// to another agency (after a decline) hands the case over to it.
pub fn open_case(
    conn: &mut DbConnection,
    assigned: &MessageAssigned,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    remember_assignment(conn, assigned)?;
    let existing: Option<CaseRow> = violation_cases::table
        .filter(violation_cases::message_id.eq(&assigned.message_id))
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = existing {
        crate::tracks::store::hand_over(conn, CaseHead::try_from(row)?, assigned, now)?;
        return Ok(None);
    }
    if !opens_case(assigned) {
        return Ok(None);
    }
    insert_case(conn, assigned, None, now).map(Some)
}

/// Records `assigned` as its message's latest assignment, unless a later one is known (events
/// may overtake each other).
fn remember_assignment(conn: &mut DbConnection, assigned: &MessageAssigned) -> Result<(), DbError> {
    let text = serde_json::to_string(assigned).map_err(|e| DbError::Refused(e.to_string()))?;
    let at = to_db_time(assigned.assigned_at);
    let known: Option<NaiveDateTime> = violation_message_assignments::table
        .find(&assigned.message_id)
        .select(violation_message_assignments::assigned_at)
        .first(conn)
        .optional()?;
    match known {
        None => {
            diesel::insert_into(violation_message_assignments::table)
                .values((
                    violation_message_assignments::message_id.eq(&assigned.message_id),
                    violation_message_assignments::tracking_code.eq(&assigned.tracking_code),
                    violation_message_assignments::assigned.eq(text),
                    violation_message_assignments::assigned_at.eq(at),
                ))
                .execute(conn)?;
        }
        Some(known) if known <= at => {
            diesel::update(violation_message_assignments::table.find(&assigned.message_id))
                .set((
                    violation_message_assignments::assigned.eq(text),
                    violation_message_assignments::assigned_at.eq(at),
                ))
                .execute(conn)?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// The latest assignment of the message with `tracking_code`, if violation-referral heard of
/// one, locked for the transaction (on PostgreSQL): a reassignment handled meanwhile waits, then
/// finds the case opened on it and hands it over, or is seen here first.
pub fn lock_assignment_of(conn: &mut DbConnection, tracking_code: &str) -> Result<Option<MessageAssigned>, DbError> {
    let texts: Vec<String> = nazer_shared::select_for_update!(
        conn,
        violation_message_assignments::table
            .filter(violation_message_assignments::tracking_code.eq(tracking_code))
            .select(violation_message_assignments::assigned)
            .limit(1)
    )?;
    texts
        .first()
        .map(|t| serde_json::from_str(t).map_err(|e| DbError::Refused(format!("a stored assignment: {e}"))))
        .transpose()
}

/// The id of the case of message `message_id`, if it has one.
pub fn case_of_message(conn: &mut DbConnection, message_id: &str) -> Result<Option<String>, DbError> {
    Ok(violation_cases::table
        .filter(violation_cases::message_id.eq(message_id))
        .select(violation_cases::id)
        .first(conn)
        .optional()?)
}

/// Stores a new case of the assigned message and announces it; `opened` names the inspector
/// and their reason when one opened it. Its id.
pub fn insert_case(
    conn: &mut DbConnection,
    assigned: &MessageAssigned,
    opened: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    let id = Uuid::now_v7().to_string();
    let at = to_db_time(now);
    diesel::insert_into(violation_cases::table)
        .values((
            violation_cases::id.eq(&id),
            violation_cases::message_id.eq(&assigned.message_id),
            violation_cases::tracking_code.eq(&assigned.tracking_code),
            violation_cases::agency_id.eq(&assigned.agency_id),
            violation_cases::category.eq(&assigned.category),
            violation_cases::province.eq(&assigned.province),
            violation_cases::status.eq(CaseStatus::Open.as_str()),
            violation_cases::opened_at.eq(at),
            violation_cases::agency_ancestors.eq(encode_ancestors(&assigned.agency_ancestors)),
            violation_cases::area_path.eq(serde_json::to_string(&assigned.area_path).ok()),
            violation_cases::assigned_at.eq(to_db_time(assigned.assigned_at)),
            violation_cases::opened_by.eq(opened.map(|(by, _)| by)),
            violation_cases::opened_reason.eq(opened.map(|(_, reason)| reason)),
        ))
        .execute(conn)?;
    let event = ViolationCaseOpened {
        case_id: id.clone(),
        message_id: assigned.message_id.clone(),
        tracking_code: assigned.tracking_code.clone(),
        agency_id: assigned.agency_id.clone(),
        category: assigned.category.clone(),
        province: assigned.province.clone(),
        opened_at: from_db_time(at),
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &event, now)?;
    Ok(id)
}

/// The case a violation report opens when it is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ViolationCase)]
pub struct CaseView {
    pub id: String,
    /// The violation report's id.
    pub message_id: String,
    pub tracking_code: String,
    /// The agency the report is assigned to.
    pub agency_id: String,
    pub category: String,
    pub province: String,
    pub status: CaseStatus,
    pub opened_at: DateTime<Utc>,
    /// The violation type's code, once an inspector classified the case; null before.
    pub violation_type: Option<String>,
    /// Where the remedial track stands; null until the case is classified.
    pub remedial_state: Option<RemedialState>,
    /// Where the culpability track stands; null until opened. Absent for agencies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<CulpabilityState>)]
    pub culpability_state: Option<Option<CulpabilityState>>,
    /// Why an inspector opened the case, when one did (on any message, not only a violation
    /// report); null for a case its report's assignment opened.
    pub opened_reason: Option<String>,
}

impl CaseView {
    /// The view `reader` may have: an agency's without the culpability track.
    pub fn for_reader(mut self, reader: &CaseReader) -> Self {
        if reader.is_agency() {
            self.culpability_state = None;
        }
        self
    }
}

/// A case as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = violation_cases)]
struct CaseRow {
    id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    category: String,
    province: String,
    status: String,
    opened_at: NaiveDateTime,
    agency_ancestors: Option<String>,
    area_path: Option<String>,
    assigned_at: Option<NaiveDateTime>,
    remedial_paused_at: Option<NaiveDateTime>,
    violation_type: Option<String>,
    budgets: Option<String>,
    remedial_state: Option<String>,
    culpability_state: Option<String>,
    culpability_unit_id: Option<String>,
    version: i32,
    opened_reason: Option<String>,
}

/// A case as the rules that move it need it: its view, the agencies above its own, where the
/// message is, the budgets it was classified with, since when its remedial stage waits on an
/// outside authority, and the version a change must find unchanged.
#[derive(Debug, Clone)]
pub struct CaseHead {
    pub view: CaseView,
    pub agency_ancestors: Vec<String>,
    pub area_path: Vec<String>,
    /// When the agency it is with got it (the report's latest assignment).
    pub assigned_at: DateTime<Utc>,
    pub budgets: Option<TrackBudgets>,
    pub remedial_paused_at: Option<DateTime<Utc>>,
    /// The counterpart unit the culpability track is referred to, once opened.
    pub culpability_unit_id: Option<String>,
    pub version: i32,
}

impl TryFrom<CaseRow> for CaseHead {
    type Error = DbError;

    fn try_from(mut row: CaseRow) -> Result<Self, DbError> {
        let unreadable = |what: &str| DbError::Refused(format!("case `{}` has unreadable {what}", row.id));
        let area_path = match row.area_path.take() {
            Some(text) => serde_json::from_str(&text).map_err(|_| unreadable("area path"))?,
            None => Vec::new(),
        };
        let budgets = match row.budgets.take() {
            Some(text) => Some(
                serde_json::from_str::<TrackBudgets>(&text).map_err(|_| unreadable("budgets"))?.with_watch_default(),
            ),
            None => None,
        };
        Ok(Self {
            agency_ancestors: decode_ancestors(row.agency_ancestors.as_deref()),
            area_path,
            assigned_at: from_db_time(row.assigned_at.unwrap_or(row.opened_at)),
            budgets,
            remedial_paused_at: row.remedial_paused_at.map(from_db_time),
            culpability_unit_id: row.culpability_unit_id.clone(),
            version: row.version,
            view: CaseView::try_from(row)?,
        })
    }
}

impl CaseHead {
    /// Whether `reader` may see this case: staff every case, an agency its own and its
    /// sub-agencies', a counterpart unit those whose culpability track is referred to it.
    pub fn seen_by(&self, reader: &CaseReader) -> bool {
        match reader {
            CaseReader::Staff | CaseReader::Entrusted => true,
            CaseReader::Agency(agency) => {
                Viewer::Agency(agency.clone()).sees(Some(&self.view.agency_id), &self.agency_ancestors)
            }
            CaseReader::Unit(unit) => self.culpability_unit_id.as_deref() == Some(unit.as_str()),
        }
    }
}

/// Who reads cases, and so which ones and how much of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseReader {
    /// 1888's supervisors (its inspectors) and admins: every case; officials' identities masked.
    Staff,
    /// Special follow-up and the compliance committee: every case, officials' identities open.
    Entrusted,
    /// An agency: its own cases and its sub-agencies', the remedial track only.
    Agency(String),
    /// A counterpart unit: the cases whose culpability track is referred to it, identities open.
    Unit(String),
}

impl CaseReader {
    /// Whose cases `caller` reads; anyone else is refused.
    pub fn of(caller: &Caller) -> Result<Self, ApiError> {
        if caller.has(Scope::SpecialFollowUp) || caller.has(Scope::ComplianceCommittee) {
            Ok(Self::Entrusted)
        } else if caller.has(Scope::Supervisor) || caller.has(Scope::Admin) {
            Ok(Self::Staff)
        } else if caller.has(Scope::CounterpartUnit) {
            caller.own_unit().map(Self::Unit)
        } else {
            caller.own_agency().map(Self::Agency)
        }
    }

    /// Agencies never learn of the culpability track.
    pub fn is_agency(&self) -> bool {
        matches!(self, Self::Agency(_))
    }

    /// Whether officials named in findings are shown by name.
    pub fn opens_identities(&self) -> bool {
        matches!(self, Self::Entrusted | Self::Unit(_))
    }
}

impl TryFrom<CaseRow> for CaseView {
    type Error = DbError;

    fn try_from(row: CaseRow) -> Result<Self, DbError> {
        let status = CaseStatus::parse(&row.status)
            .ok_or_else(|| DbError::Refused(format!("unknown case status `{}` stored", row.status)))?;
        let remedial_state = row
            .remedial_state
            .map(|text| {
                RemedialState::parse(&text)
                    .ok_or_else(|| DbError::Refused(format!("unknown remedial state `{text}` stored")))
            })
            .transpose()?;
        let culpability_state = row
            .culpability_state
            .map(|text| {
                CulpabilityState::parse(&text)
                    .ok_or_else(|| DbError::Refused(format!("unknown culpability state `{text}` stored")))
            })
            .transpose()?;
        Ok(Self {
            id: row.id,
            message_id: row.message_id,
            tracking_code: row.tracking_code,
            agency_id: row.agency_id,
            category: row.category,
            province: row.province,
            status,
            opened_at: from_db_time(row.opened_at),
            violation_type: row.violation_type,
            remedial_state,
            culpability_state: Some(culpability_state),
            opened_reason: row.opened_reason,
        })
    }
}

/// Filters of a case list; all optional.
#[derive(Debug, Clone)]
pub struct CaseFilter {
    /// Whose cases the caller sees (an agency: its own and its sub-agencies').
    pub reader: CaseReader,
    /// Only this agency's cases.
    pub agency_id: Option<String>,
    pub violation_type: Option<String>,
    pub remedial_state: Option<RemedialState>,
    /// Never set for an agency, which knows nothing of the culpability track.
    pub culpability_state: Option<CulpabilityState>,
    /// Only cases whose culpability track is referred to this counterpart unit; never set for
    /// an agency.
    pub unit_id: Option<String>,
    pub status: Option<CaseStatus>,
    pub category: Option<String>,
    pub province: Option<String>,
    /// Opened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Opened before.
    pub until: Option<DateTime<Utc>>,
    pub newest_first: bool,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// One page of cases in the order `(opened_at, id)`, and the cursor of the next page when there
/// is one.
pub fn list_cases(conn: &mut DbConnection, filter: &CaseFilter) -> Result<(Vec<CaseView>, Option<String>), DbError> {
    let mut query = violation_cases::table.select(CaseRow::as_select()).into_boxed();
    match &filter.reader {
        CaseReader::Staff | CaseReader::Entrusted => {}
        CaseReader::Unit(unit) => query = query.filter(violation_cases::culpability_unit_id.eq(unit.clone())),
        CaseReader::Agency(agency) => {
            query = query.filter(
                violation_cases::agency_id
                    .eq(agency.clone())
                    .or(violation_cases::agency_ancestors.like(ancestor_pattern(agency)).escape('\\')),
            )
        }
    }
    if let Some(value) = &filter.violation_type {
        query = query.filter(violation_cases::violation_type.eq(value.clone()));
    }
    if let Some(value) = &filter.remedial_state {
        query = query.filter(violation_cases::remedial_state.eq(value.as_str()));
    }
    if let Some(value) = &filter.agency_id {
        query = query.filter(violation_cases::agency_id.eq(value.clone()));
    }
    if let Some(value) = &filter.culpability_state {
        query = query.filter(violation_cases::culpability_state.eq(value.as_str()));
    }
    if let Some(value) = &filter.unit_id {
        query = query.filter(violation_cases::culpability_unit_id.eq(value.clone()));
    }
    if let Some(value) = &filter.status {
        query = query.filter(violation_cases::status.eq(value.as_str()));
    }
    if let Some(value) = &filter.category {
        query = query.filter(violation_cases::category.eq(value.clone()));
    }
    if let Some(value) = &filter.province {
        query = query.filter(violation_cases::province.eq(value.clone()));
    }
    query = nazer_shared::period!(query, violation_cases::opened_at, filter.from, filter.until);
    let query = nazer_shared::keyset!(
        query,
        violation_cases::opened_at,
        violation_cases::id,
        filter.after.clone(),
        filter.newest_first
    );
    let rows: Vec<CaseRow> = query.limit(filter.limit + 1).load(conn)?;
    let cases = rows
        .into_iter()
        .map(|row| CaseView::try_from(row).map(|case| case.for_reader(&filter.reader)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paging::page(cases, filter.limit, |c: &CaseView| Cursor { at: to_db_time(c.opened_at), id: c.id.clone() }))
}

/// The case `id`, whoever may see it.
pub fn find_case(conn: &mut DbConnection, id: &str) -> Result<Option<CaseHead>, DbError> {
    let row: Option<CaseRow> = violation_cases::table.find(id).select(CaseRow::as_select()).first(conn).optional()?;
    row.map(CaseHead::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(kind: &str) -> MessageAssigned {
        MessageAssigned {
            message_id: "m".into(),
            tracking_code: "1".into(),
            kind: kind.into(),
            category: "c".into(),
            province: "tehran".into(),
            city: None,
            area_path: vec![],
            agency_id: "a".into(),
            agency_name: "A".into(),
            rule_id: "r".into(),
            parent_agency_id: None,
            agency_ancestors: vec![],
            priority: "normal".into(),
            channel: Some("call_center".into()),
            assigned_at: Utc::now(),
            assigned_by: None,
        }
    }

    #[test]
    fn only_violation_reports_open_cases() {
        assert!(opens_case(&assigned("violation_report")));
        for kind in ["complaint", "criticism", "suggestion", "appreciation", "unknown_future_kind"] {
            assert!(!opens_case(&assigned(kind)), "{kind}");
        }
    }
}
