//! Registered warnings: listed by agency, level and period, exported, and acknowledged by the
//! agency they were issued to.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::ancestor_pattern;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{Stage, StageSubject};
use nazer_shared::http::paging::{self, Cursor};
use nazer_shared::http::{ApiError, csv};
use nazer_shared::iran;
use serde::Serialize;

use crate::schema::{deadlines, warnings};
use crate::warnings::WarningReason;

/// A registered warning (تذکر).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WarningView {
    pub id: String,
    pub deadline_id: String,
    pub message_id: String,
    pub tracking_code: String,
    pub agency_id: String,
    /// The stage that ran out: `acknowledge` or `respond`, or `quality` (a low review); for
    /// another subject's stage, the name its owner gave (`remedial.referred` …).
    pub stage: String,
    /// What the warning is about when not the message's own handling: a violation case's track
    /// stage (`kind` `violation_case`, `id` the case's); absent for a message's warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<StageSubject>,
    /// 1 (the agency), 2 (escalated to its parent) or 3 (referred to Special Follow-up).
    pub level: i32,
    pub reason: WarningReason,
    /// The agency the warning was escalated to (levels 2 and 3).
    pub escalated_to: Option<String>,
    /// The warning's text, in Persian.
    pub text_fa: String,
    pub due_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// When the agency acknowledged it; null until then.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone)]
pub struct WarningFilter {
    pub id: Option<String>,
    pub agency_id: Option<String>,
    /// Warnings issued to this agency, escalated to it, or of its sub-agencies' clocks.
    pub visible_to: Option<String>,
    /// Keeps the warnings addressed to agencies only, leaving out those to a counterpart unit
    /// (`unit:<id>`) or the compliance committee (`committee:compliance`), of a violation case's
    /// culpability stages: for callers other than supervisors, admins and special follow-up.
    pub agencies_only: bool,
    pub message_id: Option<String>,
    pub level: Option<i32>,
    /// Issued at or after.
    pub from: Option<DateTime<Utc>>,
    /// Issued before.
    pub until: Option<DateTime<Utc>>,
    pub acknowledged: Option<bool>,
    /// Oldest first; newest first (the default) otherwise.
    pub oldest_first: bool,
    /// Only the warnings after this one in the order (`issued_at`, then `id`).
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// A warning as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = warnings)]
struct Row {
    id: String,
    deadline_id: String,
    message_id: String,
    tracking_code: String,
    agency_id: String,
    stage: String,
    level: i32,
    reason: String,
    escalated_to: Option<String>,
    text_fa: String,
    due_at: NaiveDateTime,
    issued_at: NaiveDateTime,
    acknowledged_at: Option<NaiveDateTime>,
    subject_kind: Option<String>,
    subject_id: Option<String>,
}

/// One page of at most `filter.limit` warnings, and the cursor of the next page when there is one.
pub fn warning_page(
    conn: &mut DbConnection,
    filter: &WarningFilter,
) -> Result<(Vec<WarningView>, Option<String>), DbError> {
    let rows = list_warnings(conn, &WarningFilter { limit: filter.limit + 1, ..filter.clone() })?;
    Ok(paging::page(rows, filter.limit, |w: &WarningView| Cursor { at: to_db_time(w.issued_at), id: w.id.clone() }))
}

/// By `issued_at`, then `id` (newest first unless `filter.oldest_first`), at most `filter.limit`.
pub fn list_warnings(conn: &mut DbConnection, filter: &WarningFilter) -> Result<Vec<WarningView>, DbError> {
    let mut query = warnings::table.into_boxed();
    if let Some(id) = &filter.id {
        query = query.filter(warnings::id.eq(id.clone()));
    }
    if let Some(agency) = &filter.agency_id {
        query = query.filter(warnings::agency_id.eq(agency.clone()));
    }
    if let Some(agency) = &filter.visible_to {
        // Its own, those escalated to it, and those of its sub-agencies' clocks.
        let of_sub_agencies = deadlines::table
            .filter(deadlines::agency_ancestors.like(ancestor_pattern(agency)).escape('\\'))
            .select(deadlines::id);
        query = query.filter(
            warnings::agency_id
                .eq(agency.clone())
                .or(warnings::escalated_to.eq(agency.clone()))
                .or(warnings::deadline_id.eq_any(of_sub_agencies)),
        );
    }
    if filter.agencies_only {
        // A counterpart unit's or the committee's id carries a `:`; no agency's does.
        query = query.filter(warnings::agency_id.not_like("%:%"));
    }
    if let Some(message) = &filter.message_id {
        query = query.filter(warnings::message_id.eq(message.clone()));
    }
    if let Some(level) = filter.level {
        query = query.filter(warnings::level.eq(level));
    }
    query = nazer_shared::period!(query, warnings::issued_at, filter.from, filter.until);
    match filter.acknowledged {
        Some(true) => query = query.filter(warnings::acknowledged_at.is_not_null()),
        Some(false) => query = query.filter(warnings::acknowledged_at.is_null()),
        None => {}
    }
    let query =
        nazer_shared::keyset!(query, warnings::issued_at, warnings::id, filter.after.clone(), !filter.oldest_first);
    let rows: Vec<Row> = query.limit(filter.limit).select(Row::as_select()).load(conn)?;
    rows.into_iter().map(view).collect()
}

/// The stored texts parsed: an unknown stage or reason is refused, never guessed.
fn view(row: Row) -> Result<WarningView, DbError> {
    let Row {
        id,
        deadline_id,
        message_id,
        tracking_code,
        agency_id,
        stage,
        level,
        reason,
        escalated_to,
        text_fa,
        due_at,
        issued_at,
        acknowledged_at,
        subject_kind,
        subject_id,
    } = row;
    let unknown = |what: &str, text: &str| DbError::Refused(format!("warning `{id}` has an unknown {what} `{text}`"));
    let subject = subject_kind.zip(subject_id).map(|(kind, id)| StageSubject { kind, id });
    if subject.is_none() && Stage::parse(&stage).is_none() {
        return Err(unknown("stage", &stage));
    }
    let reason = WarningReason::parse(&reason).ok_or_else(|| unknown("reason", &reason))?;
    Ok(WarningView {
        id,
        deadline_id,
        message_id,
        tracking_code,
        agency_id,
        stage,
        subject,
        level,
        reason,
        escalated_to,
        text_fa,
        due_at: from_db_time(due_at),
        issued_at: from_db_time(issued_at),
        acknowledged_at: acknowledged_at.map(from_db_time),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AcknowledgeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no warning of this agency has this id")]
    NotFound,
}

nazer_shared::from_diesel_error!(AcknowledgeError);

impl From<AcknowledgeError> for ApiError {
    fn from(error: AcknowledgeError) -> Self {
        match error {
            AcknowledgeError::Db(error) => error.into(),
            error @ AcknowledgeError::NotFound => ApiError::NotFound(error.to_string()),
        }
    }
}

/// Records that `agency_id` — the agency warned, one it was escalated to, or an ancestor — has read the
/// warning (once: a repeat keeps the first instant).
pub fn acknowledge(
    conn: &mut DbConnection,
    warning_id: &str,
    agency_id: &str,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<WarningView, AcknowledgeError> {
    let filter = WarningFilter {
        id: Some(warning_id.into()),
        visible_to: Some(agency_id.into()),
        limit: 1,
        ..Default::default()
    };
    // What the agency may see it may acknowledge; anything else does not exist for it.
    let mut warning = list_warnings(conn, &filter)?.pop().ok_or(AcknowledgeError::NotFound)?;
    if warning.acknowledged_at.is_some() {
        return Ok(warning);
    }
    let at = to_db_time(now);
    let marked = diesel::update(warnings::table.find(warning_id).filter(warnings::acknowledged_at.is_null()))
        .set((warnings::acknowledged_at.eq(Some(at)), warnings::acknowledged_by.eq(Some(key_id))))
        .execute(conn)?;
    if marked == 0 {
        // Acknowledged meanwhile: show the first instant.
        return list_warnings(conn, &filter)?.pop().ok_or(AcknowledgeError::NotFound);
    }
    warning.acknowledged_at = Some(from_db_time(at));
    Ok(warning)
}

/// Warnings as CSV for supervisors: beside each instant its Solar Hijri date and time in Tehran,
/// as people here read it.
pub fn to_csv(warnings: &[WarningView]) -> String {
    let header = [
        "id",
        "tracking_code",
        "agency_id",
        "stage",
        "level",
        "reason",
        "escalated_to",
        "due_at",
        "due_at_solar_hijri",
        "issued_at",
        "issued_at_solar_hijri",
        "acknowledged_at",
        "acknowledged_at_solar_hijri",
        "text_fa",
    ];
    let instant = |at: Option<DateTime<Utc>>| {
        at.map_or_else(|| [String::new(), String::new()], |at| [at.to_rfc3339(), iran::jalali_date_time(at)])
    };
    let rows = warnings.iter().map(|w| {
        let [due_at, due_at_solar_hijri] = instant(Some(w.due_at));
        let [issued_at, issued_at_solar_hijri] = instant(Some(w.issued_at));
        let [acknowledged_at, acknowledged_at_solar_hijri] = instant(w.acknowledged_at);
        vec![
            w.id.clone(),
            w.tracking_code.clone(),
            w.agency_id.clone(),
            w.stage.as_str().to_string(),
            w.level.to_string(),
            w.reason.as_str().to_string(),
            w.escalated_to.clone().unwrap_or_default(),
            due_at,
            due_at_solar_hijri,
            issued_at,
            issued_at_solar_hijri,
            acknowledged_at,
            acknowledged_at_solar_hijri,
            w.text_fa.clone(),
        ]
    });
    csv::document(&header, rows)
}
