//! Reading messages: one with everything known about it, and lists with filters and cursors.
//! Both show an agency its own and its sub-agencies' messages only; of one message, an agency
//! sees only what happened while the message was its own.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use nazer_shared::agency::{Viewer, ancestor_pattern, decode_ancestors};
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{Channel, DeadlineState, MessageKind, Priority};
use nazer_shared::http::paging::{self, Cursor};
use serde::Serialize;

use std::collections::HashMap;

use crate::areas::AreaStep;
use crate::lifecycle::Outcome;
use crate::projection::stored_state;
use crate::quality::{ReviewView, Rubric};
use crate::schema::{
    agency_responses, message_deadlines, message_reminders, message_warnings, messages, reporters, response_ratings,
    response_reviews,
};
use crate::sealing::ReporterKeys;
use crate::store::MessageStatus;
use crate::timeline::{self, TimelineEntry};
use crate::tracking_code::TrackingCode;

/// An agency, by id and name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AgencyRef {
    pub id: String,
    pub name: String,
}

/// A stage of the message's clock, as deadline-timer reported it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = MessageDeadline)]
pub struct DeadlineView {
    /// The stage of the SLA policy, such as `acknowledge` or `respond`.
    pub stage: String,
    pub due_at: DateTime<Utc>,
    /// `pending`, `paused` (waiting on the citizen), `met`, `breached` (ran out, no answer yet),
    /// `answered_late` (ran out, then answered) or `declined` (its agency declined the message).
    pub state: DeadlineState,
}

/// A warning (تذکر) registered against the agency for this message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = MessageWarning)]
pub struct WarningView {
    /// 1 (the agency), 2 (its parent) or 3 (Special Follow-up).
    pub level: i32,
    pub issued_at: DateTime<Utc>,
    pub reason: String,
    /// Who must act beside the agency: its parent at level 2, `special-follow-up` at level 3;
    /// null at level 1 (and on warnings kept before recipients were).
    pub escalated_to: Option<String>,
}

/// A pre-breach reminder deadline-timer sent the agency about one of the message's clocks.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = MessageReminder)]
pub struct ReminderView {
    /// The stage of the clock, such as `acknowledge` or `respond`.
    pub stage: String,
    /// How much of the stage's budget had been used, such as `0.5`.
    pub fraction: f64,
    /// When the clock was due as the reminder was sent.
    pub due_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
}

/// An agency's answer to the message.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = MessageResponse)]
pub struct ResponseView {
    pub id: String,
    /// `resolved`, `partially_resolved` or `rejected`.
    pub outcome: Outcome,
    pub body: String,
    /// References to documents (document ids or URLs).
    pub attachments: Vec<String>,
    pub responded_at: DateTime<Utc>,
    /// The citizen's rating, 1–5.
    pub rating: Option<i32>,
    /// The supervisor's review, for those who see the message (never the citizen).
    pub review: Option<ReviewView>,
    /// The agency that answered; an agency sees its own tenure's answers only.
    #[serde(skip)]
    #[schema(ignore)]
    pub agency_id: String,
}

/// Who reported, opened for those entitled to it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = Reporter)]
pub struct ReporterView {
    pub full_name: Option<String>,
    pub national_id: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// The citizen asked that their identity be kept from the agency.
    pub confidential: bool,
}

/// Who may read a reporter's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReporterAccess {
    /// The call centre, supervisors, special follow-up.
    Always,
    /// Agencies: never for confidential reports or violation reports.
    UnlessProtected,
    Never,
}

/// A message with everything known about it, for the call centre and the agency.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// The citizen's account.
    pub body: String,
    /// Where it is: from the province down to `area`, each step with its code, level and
    /// Persian name.
    pub area_path: Vec<AreaStep>,
    /// The stages of its clock, soonest first.
    pub deadlines: Vec<DeadlineView>,
    /// Oldest first.
    pub warnings: Vec<WarningView>,
    /// The reminders sent before a clock ran out, oldest first.
    pub reminders: Vec<ReminderView>,
    /// The agencies' answers, oldest first.
    pub responses: Vec<ResponseView>,
    /// Every transition, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Who reported: absent for admins, for a message without a reporter, and for an agency
    /// reading a confidential report or a violation report.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub reporter: Option<ReporterView>,
}

/// A message as a list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MessageSummary {
    pub id: String,
    /// Ten digits, the last a check digit: what the citizen is told.
    pub tracking_code: String,
    pub kind: MessageKind,
    pub channel: Channel,
    /// The category's code.
    pub category: String,
    pub subject: Option<String>,
    /// The province's code, such as `tehran`.
    pub province: String,
    /// The deepest area the message is located in, such as `tehran-district-06`; null for a
    /// message stored before areas.
    #[schema(required = true)]
    pub area: Option<String>,
    pub city: Option<String>,
    pub priority: Priority,
    /// `received`, `assigned`, `acknowledged`, `triage`, `declined`, `responded`, `closed` or
    /// `reopened`.
    pub status: MessageStatus,
    pub received_at: DateTime<Utc>,
    pub assigned_agency: Option<AgencyRef>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// How many agencies declined it.
    pub decline_count: i32,
    /// Routing could not place it: a supervisor assigns it by hand.
    pub needs_supervisor: bool,
    pub closed_at: Option<DateTime<Utc>>,
    pub reopen_count: i32,
    /// Until when the citizen may reopen the latest answer.
    pub reopen_until: Option<DateTime<Utc>>,
    #[serde(skip)]
    #[schema(ignore)]
    agency_ancestors: Vec<String>,
}

/// The columns a list shows of a message.
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct SummaryRow {
    id: String,
    tracking_code: String,
    kind: String,
    channel: String,
    category: String,
    subject: Option<String>,
    province: String,
    area: Option<String>,
    city: Option<String>,
    priority: String,
    status: String,
    received_at: NaiveDateTime,
    assigned_agency_id: Option<String>,
    assigned_agency_name: Option<String>,
    acknowledged_at: Option<NaiveDateTime>,
    decline_count: i32,
    needs_supervisor: bool,
    closed_at: Option<NaiveDateTime>,
    agency_ancestors: Option<String>,
    reopen_count: i32,
    reopen_until: Option<NaiveDateTime>,
}

/// A message as its own page shows it: the summary and the citizen's account.
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct MessageRow {
    #[diesel(embed)]
    summary: SummaryRow,
    body: String,
    area_path: Option<String>,
}

/// A value of a closed set as a row holds it; a text intake never writes is a broken invariant.
fn stored<T>(text: &str, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, DbError> {
    parse(text).ok_or_else(|| DbError::Refused(format!("unknown message {column} `{text}` in the database")))
}

fn summary(row: SummaryRow) -> Result<MessageSummary, DbError> {
    let assigned_agency = match (row.assigned_agency_id, row.assigned_agency_name) {
        (Some(id), Some(name)) => Some(AgencyRef { id, name }),
        _ => None,
    };
    Ok(MessageSummary {
        id: row.id,
        tracking_code: row.tracking_code,
        kind: stored(&row.kind, "kind", MessageKind::parse)?,
        channel: stored(&row.channel, "channel", Channel::parse)?,
        category: row.category,
        subject: row.subject,
        province: row.province,
        area: row.area,
        city: row.city,
        priority: stored(&row.priority, "priority", Priority::parse)?,
        status: MessageStatus::stored(&row.status)?,
        received_at: from_db_time(row.received_at),
        assigned_agency,
        acknowledged_at: row.acknowledged_at.map(from_db_time),
        decline_count: row.decline_count,
        needs_supervisor: row.needs_supervisor,
        closed_at: row.closed_at.map(from_db_time),
        reopen_count: row.reopen_count,
        reopen_until: row.reopen_until.map(from_db_time),
        agency_ancestors: decode_ancestors(row.agency_ancestors.as_deref()),
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = message_deadlines)]
struct DeadlineRow {
    stage: String,
    due_at: NaiveDateTime,
    state: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = message_warnings)]
struct WarningRow {
    level: i32,
    issued_at: NaiveDateTime,
    reason: String,
    escalated_to: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = message_reminders)]
struct ReminderRow {
    stage: String,
    fraction: f64,
    due_at: NaiveDateTime,
    sent_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = agency_responses)]
struct ResponseRow {
    id: String,
    agency_id: String,
    outcome: String,
    body: String,
    attachments: String,
    responded_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = response_ratings)]
struct RatingRow {
    response_id: String,
    rating: i32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = response_reviews)]
struct ReviewRow {
    response_id: String,
    relevant: i32,
    complete: i32,
    lawful: i32,
    respectful: i32,
    score: f64,
    below_standard: bool,
    comment: Option<String>,
    reviewed_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = reporters)]
struct ReporterRow {
    full_name: Option<String>,
    national_id: Option<String>,
    mobile: Option<String>,
    email: Option<String>,
    confidential: bool,
}

/// The message behind `code` when `viewer` may see it; another agency's is reported missing.
pub fn find_message(
    conn: &mut DbConnection,
    code: &TrackingCode,
    viewer: &Viewer,
    reporter_access: ReporterAccess,
    keys: &ReporterKeys,
) -> Result<Option<MessageView>, DbError> {
    let row: Option<MessageRow> = messages::table
        .filter(messages::tracking_code.eq(code.as_str()))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?;
    let Some(MessageRow { summary: row, body, area_path }) = row else { return Ok(None) };
    let summary = summary(row)?;
    if !viewer.sees(summary.assigned_agency.as_ref().map(|a| a.id.as_str()), &summary.agency_ancestors) {
        return Ok(None);
    }
    let id = summary.id.clone();
    let tenure = tenure_of(viewer, &summary);
    let mut deadlines = message_deadlines::table.filter(message_deadlines::message_id.eq(&id)).into_boxed();
    let mut warnings = message_warnings::table.filter(message_warnings::message_id.eq(&id)).into_boxed();
    if let Some(agencies) = &tenure {
        deadlines = deadlines.filter(message_deadlines::agency_id.eq_any(agencies.clone()));
        warnings = warnings.filter(message_warnings::agency_id.eq_any(agencies.clone()));
    }
    let deadlines = deadlines
        .order((message_deadlines::due_at, message_deadlines::deadline_id))
        .select(DeadlineRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| {
            Ok(DeadlineView { state: stored_state(&row.state)?, stage: row.stage, due_at: from_db_time(row.due_at) })
        })
        .collect::<Result<_, DbError>>()?;
    let warnings = warnings
        .order((message_warnings::issued_at, message_warnings::level))
        .select(WarningRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| WarningView {
            level: row.level,
            issued_at: from_db_time(row.issued_at),
            reason: row.reason,
            escalated_to: row.escalated_to,
        })
        .collect();
    let mut reminders = message_reminders::table.filter(message_reminders::message_id.eq(&id)).into_boxed();
    if let Some(agencies) = &tenure {
        reminders = reminders.filter(message_reminders::agency_id.eq_any(agencies.clone()));
    }
    let reminders = reminders
        .order((message_reminders::sent_at, message_reminders::deadline_id, message_reminders::fraction))
        .select(ReminderRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| ReminderView {
            stage: row.stage,
            fraction: row.fraction,
            due_at: from_db_time(row.due_at),
            sent_at: from_db_time(row.sent_at),
        })
        .collect();
    let mut responses = responses_of(conn, &id)?;
    let mut timeline = timeline::of_message(conn, &id)?;
    if let Some(agencies) = &tenure {
        responses.retain(|response| agencies.contains(&response.agency_id));
        timeline = timeline::as_seen_by(timeline, agencies);
    }
    let reporter = match reporter_access {
        ReporterAccess::Never => None,
        access => reporter_of(conn, &id, summary.kind, access, keys)?,
    };
    let area_path = area_steps(conn, &crate::store::decode_area_path(area_path.as_deref()))?;
    Ok(Some(MessageView { summary, body, area_path, deadlines, warnings, reminders, responses, timeline, reporter }))
}

/// The agencies whose tenure an agency viewer sees: the one the message is with now (through
/// which the viewer sees it at all) and the viewer itself. None for staff, who see everything.
fn tenure_of(viewer: &Viewer, summary: &MessageSummary) -> Option<Vec<String>> {
    let Viewer::Agency(own) = viewer else { return None };
    let mut agencies = vec![own.clone()];
    if let Some(assigned) = summary.assigned_agency.as_ref().filter(|a| &a.id != own) {
        agencies.push(assigned.id.clone());
    }
    Some(agencies)
}

/// A message's answers, oldest first, each with its rating and review.
pub fn responses_of(conn: &mut DbConnection, message_id: &str) -> Result<Vec<ResponseView>, DbError> {
    let rows: Vec<ResponseRow> = agency_responses::table
        .filter(agency_responses::message_id.eq(message_id))
        .order((agency_responses::responded_at, agency_responses::id))
        .select(ResponseRow::as_select())
        .load(conn)?;
    let ratings: HashMap<String, i32> = response_ratings::table
        .filter(response_ratings::message_id.eq(message_id))
        .select(RatingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| (row.response_id, row.rating))
        .collect();
    let mut reviews: HashMap<String, ReviewView> = response_reviews::table
        .filter(response_reviews::message_id.eq(message_id))
        .select(ReviewRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| {
            let rubric = Rubric {
                relevant: row.relevant,
                complete: row.complete,
                lawful: row.lawful,
                respectful: row.respectful,
            };
            let review = ReviewView {
                response_id: row.response_id.clone(),
                rubric,
                score: row.score,
                below_standard: row.below_standard,
                comment: row.comment,
                reviewed_at: from_db_time(row.reviewed_at),
            };
            (row.response_id, review)
        })
        .collect();
    rows.into_iter()
        .map(|row| {
            Ok(ResponseView {
                rating: ratings.get(&row.id).copied(),
                review: reviews.remove(&row.id),
                outcome: Outcome::stored(&row.outcome)?,
                id: row.id,
                agency_id: row.agency_id,
                body: row.body,
                attachments: serde_json::from_str(&row.attachments).unwrap_or_default(),
                responded_at: from_db_time(row.responded_at),
            })
        })
        .collect()
}

fn reporter_of(
    conn: &mut DbConnection,
    message_id: &str,
    kind: MessageKind,
    access: ReporterAccess,
    keys: &ReporterKeys,
) -> Result<Option<ReporterView>, DbError> {
    let row: Option<ReporterRow> =
        reporters::table.find(message_id).select(ReporterRow::as_select()).first(conn).optional()?;
    let Some(ReporterRow { full_name, national_id, mobile, email, confidential }) = row else { return Ok(None) };
    let protected = confidential || kind == MessageKind::ViolationReport;
    if access == ReporterAccess::UnlessProtected && protected {
        return Ok(None);
    }
    let open = |field: &str, value: Option<String>| -> Result<Option<String>, DbError> {
        value
            .map(|v| keys.open(message_id, field, &v))
            .transpose()
            .map_err(|e| DbError::Refused(format!("reporter of message {message_id}: {e}")))
    };
    Ok(Some(ReporterView {
        full_name: open("full_name", full_name)?,
        national_id: open("national_id", national_id)?,
        mobile: open("mobile", mobile)?,
        email: open("email", email)?,
        confidential,
    }))
}

/// The steps of a stored area path, with the areas' names as they are now.
fn area_steps(conn: &mut DbConnection, codes: &[String]) -> Result<Vec<AreaStep>, DbError> {
    let mut names = crate::areas::store::names_of(conn, codes)?;
    Ok(codes
        .iter()
        .map(|code| {
            let (level, name_fa) = names.remove(code).unwrap_or_default();
            AreaStep { code: code.clone(), level, name_fa }
        })
        .collect())
}

/// Filters of a message list; all optional.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<String>,
    pub agency_id: Option<String>,
    pub category: Option<String>,
    pub province: Option<String>,
    /// Located in this area or under it.
    pub area: Option<String>,
    pub priority: Option<String>,
    pub kind: Option<String>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    pub newest_first: bool,
    pub after: Option<Cursor>,
    pub limit: i64,
    /// Reported with this mobile: its blind index.
    pub mobile_index: Option<String>,
    /// Reported with this national ID: its blind index.
    pub national_id_index: Option<String>,
    /// Words (normalised for search), each of which must begin a word of the subject or body.
    pub words: Vec<String>,
}

/// One page of messages `viewer` may see, and the cursor of the next page when there is one.
pub fn list_messages(
    conn: &mut DbConnection,
    viewer: &Viewer,
    filter: &MessageFilter,
) -> Result<(Vec<MessageSummary>, Option<String>), DbError> {
    let mut query = messages::table.into_boxed();
    match viewer {
        Viewer::All => {}
        Viewer::Agency(agency) => {
            let sub_agencies = messages::agency_ancestors.like(ancestor_pattern(agency)).escape('\\');
            query = query.filter(messages::assigned_agency_id.eq(agency.clone()).or(sub_agencies));
        }
        Viewer::Nobody => return Ok((Vec::new(), None)),
    }
    if let Some(value) = &filter.status {
        query = query.filter(messages::status.eq(value.clone()));
    }
    if let Some(value) = &filter.agency_id {
        query = query.filter(messages::assigned_agency_id.eq(value.clone()));
    }
    if let Some(value) = &filter.category {
        query = query.filter(messages::category.eq(value.clone()));
    }
    if let Some(value) = &filter.province {
        query = query.filter(messages::province.eq(value.clone()));
    }
    if let Some(value) = &filter.area {
        query = query.filter(messages::area_path.like(nazer_shared::db::area_path_pattern(value)).escape('\\'));
    }
    if let Some(value) = &filter.priority {
        query = query.filter(messages::priority.eq(value.clone()));
    }
    if let Some(value) = &filter.kind {
        query = query.filter(messages::kind.eq(value.clone()));
    }
    if let Some(index) = &filter.mobile_index {
        let reported = reporters::table.filter(reporters::mobile_blind_index.eq(index.clone()));
        query = query.filter(messages::id.eq_any(reported.select(reporters::message_id)));
    }
    if let Some(index) = &filter.national_id_index {
        let reported = reporters::table.filter(reporters::national_id_blind_index.eq(index.clone()));
        query = query.filter(messages::id.eq_any(reported.select(reporters::message_id)));
    }
    let postgres = matches!(conn, DbConnection::Pg(_));
    for word in &filter.words {
        // A word of the text must begin with it: the full-text index finds the candidates
        // (PostgreSQL's, or SQLite's FTS5 table), LIKE checks their text (and alone decides a
        // word of other characters).
        match crate::search::word_prefix_query(word, postgres) {
            Some(prefix) if postgres => {
                let matches = "to_tsvector('simple', messages.search_text) @@ to_tsquery('simple', ";
                query = query.filter(sql::<Bool>(matches).bind::<Text, _>(prefix).sql(")"));
            }
            Some(prefix) => {
                let matches = "messages.id IN (SELECT message_id FROM message_words WHERE message_words MATCH ";
                query = query.filter(sql::<Bool>(matches).bind::<Text, _>(prefix).sql(")"));
            }
            None => {}
        }
        let [after_space, after_line] = crate::search::word_start_patterns(word);
        let spaced = sql::<Text>("(' ' || messages.search_text)");
        query =
            query.filter(spaced.like(after_space).escape('\\').or(messages::search_text.like(after_line).escape('\\')));
    }
    query = nazer_shared::period!(query, messages::received_at, filter.from, filter.until);
    let query =
        nazer_shared::keyset!(query, messages::received_at, messages::id, filter.after.clone(), filter.newest_first);
    let rows: Vec<SummaryRow> = query.limit(filter.limit + 1).select(SummaryRow::as_select()).load(conn)?;
    let summaries = rows.into_iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    let (page, next) = paging::page(summaries, filter.limit, |m: &MessageSummary| Cursor {
        at: to_db_time(m.received_at),
        id: m.id.clone(),
    });
    Ok((page, next))
}
