//! What GeoReport v2 reads and writes beyond intake's own store: the location of a report, and
//! service requests as Open311 apps may see them — only those reported through Open311 (what
//! citizens told the call centre stays with it), never confidential reports or violation
//! reports, which are whistle-blowers' material.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{Channel, MessageKind, Stage};

use super::posting::Location;
use crate::lifecycle::Outcome;
use crate::projection::open_states;
use crate::schema::{agency_responses, message_deadlines, messages, reporters};
use crate::store::MessageStatus;

/// The most service requests one answer holds (the spec's default query limit).
pub const MAX_REQUESTS: i64 = 1000;

/// Records where a report was made, on the message just stored in the same transaction.
pub fn record_location(conn: &mut DbConnection, message_id: &str, location: &Location) -> Result<(), DbError> {
    diesel::update(messages::table.find(message_id))
        .set((
            messages::latitude.eq(location.latitude),
            messages::longitude.eq(location.longitude),
            messages::address.eq(&location.address),
            messages::media_url.eq(&location.media_url),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which service requests to read.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// These tracking codes, whatever else is asked.
    Codes(Vec<String>),
    Search(Search),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Any service when empty.
    pub service_codes: Vec<String>,
    /// Received at or after.
    pub from: DateTime<Utc>,
    /// Received at or before.
    pub until: Option<DateTime<Utc>>,
    /// Only closed (true) or only open (false) requests; both when `None`.
    pub closed: Option<bool>,
}

/// A message as GeoReport shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequestRow {
    pub tracking_code: String,
    pub status: MessageStatus,
    pub category: String,
    pub body: String,
    pub agency_name: Option<String>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub media_url: Option<String>,
    /// The outcome of the agency's latest answer.
    pub outcome: Option<Outcome>,
    /// When the pending (or paused) respond stage is due.
    pub expected_at: Option<DateTime<Utc>>,
}

/// The columns GeoReport shows of a message.
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct Row {
    id: String,
    tracking_code: String,
    status: String,
    category: String,
    body: String,
    assigned_agency_name: Option<String>,
    received_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    closed_at: Option<NaiveDateTime>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    address: Option<String>,
    media_url: Option<String>,
}

/// The latest answer's outcome, by message.
#[derive(Queryable, Selectable)]
#[diesel(table_name = agency_responses)]
struct OutcomeRow {
    message_id: String,
    outcome: String,
}

/// A respond stage's due instant, by message.
#[derive(Queryable, Selectable)]
#[diesel(table_name = message_deadlines)]
struct DueRow {
    message_id: String,
    due_at: NaiveDateTime,
}

/// The service requests `selection` names that the public may see, newest first, at most
/// [`MAX_REQUESTS`].
pub fn service_requests(conn: &mut DbConnection, selection: &Selection) -> Result<Vec<ServiceRequestRow>, DbError> {
    let confidential = reporters::table.filter(reporters::confidential.eq(true)).select(reporters::message_id);
    let mut query = messages::table
        .into_boxed()
        .filter(messages::channel.eq(Channel::Open311.as_str()))
        .filter(messages::kind.ne(MessageKind::ViolationReport.as_str()))
        .filter(messages::id.ne_all(confidential));
    match selection {
        Selection::Codes(codes) => query = query.filter(messages::tracking_code.eq_any(codes.clone())),
        Selection::Search(search) => {
            if !search.service_codes.is_empty() {
                query = query.filter(messages::category.eq_any(search.service_codes.clone()));
            }
            query = query.filter(messages::received_at.ge(to_db_time(search.from)));
            if let Some(until) = search.until {
                query = query.filter(messages::received_at.le(to_db_time(until)));
            }
            query = match search.closed {
                Some(true) => query.filter(messages::status.eq(MessageStatus::Closed.as_str())),
                Some(false) => query.filter(messages::status.ne(MessageStatus::Closed.as_str())),
                None => query,
            };
        }
    }
    let rows: Vec<Row> = query
        .order((messages::received_at.desc(), messages::id.desc()))
        .limit(MAX_REQUESTS)
        .select(Row::as_select())
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut outcomes = latest_outcomes(conn, &ids)?;
    let mut expected = expected_answers(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            Ok(ServiceRequestRow {
                outcome: outcomes.remove(&row.id),
                expected_at: expected.remove(&row.id),
                tracking_code: row.tracking_code,
                status: MessageStatus::stored(&row.status)?,
                category: row.category,
                body: row.body,
                agency_name: row.assigned_agency_name,
                received_at: from_db_time(row.received_at),
                updated_at: from_db_time(row.updated_at),
                closed_at: row.closed_at.map(from_db_time),
                latitude: row.latitude,
                longitude: row.longitude,
                address: row.address,
                media_url: row.media_url,
            })
        })
        .collect()
}

/// The outcome of each message's latest agency answer.
fn latest_outcomes(conn: &mut DbConnection, ids: &[String]) -> Result<HashMap<String, Outcome>, DbError> {
    let rows: Vec<OutcomeRow> = agency_responses::table
        .filter(agency_responses::message_id.eq_any(ids))
        .order(agency_responses::responded_at.asc())
        .select(OutcomeRow::as_select())
        .load(conn)?;
    // Later answers overwrite earlier ones.
    rows.into_iter().map(|row| Ok((row.message_id, Outcome::stored(&row.outcome)?))).collect()
}

/// When each message's open respond stage is due; the most recently changed one when a
/// decline left an older stage behind.
fn expected_answers(conn: &mut DbConnection, ids: &[String]) -> Result<HashMap<String, DateTime<Utc>>, DbError> {
    let rows: Vec<DueRow> = message_deadlines::table
        .filter(message_deadlines::message_id.eq_any(ids))
        .filter(message_deadlines::stage.eq(Stage::Respond.as_str()))
        .filter(message_deadlines::state.eq_any(open_states()))
        .order((message_deadlines::updated_at.asc(), message_deadlines::due_at.asc()))
        .select(DueRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|row| (row.message_id, from_db_time(row.due_at))).collect())
}
