//! Intake's reads and writes. Each write commits with the events it causes (outbox).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::MessageReceived;
use nazer_shared::outbox;
use nazer_shared::topology::INTAKE;
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{categories, messages, reporters};
use crate::sealing::ReporterKeys;
use crate::search::{self, SearchKey};
use crate::submission::{Category, Submission};
use crate::timeline::{self, Actor, Transition};
use crate::tracking_code::TrackingCode;

nazer_shared::closed_set! {
    /// Where a message stands, as intake tells it.
    pub enum MessageStatus {
        Received = "received",
        Assigned = "assigned",
        Acknowledged = "acknowledged",
        Triage = "triage",
        /// Declined by its agency, waiting for routing to decide again.
        Declined = "declined",
        Responded = "responded",
        Closed = "closed",
        /// The citizen reopened the answer: the same agency answers again, on a fresh clock.
        Reopened = "reopened",
    }
}

impl MessageStatus {
    /// The status a row holds; a text intake never writes is a broken invariant, not a panic.
    pub fn stored(text: &str) -> Result<Self, DbError> {
        Self::parse(text).ok_or_else(|| DbError::Refused(format!("unknown message status `{text}` in the database")))
    }
}

/// A category as stored: its kinds comma-separated.
#[derive(Queryable, Selectable)]
#[diesel(table_name = categories)]
struct CategoryRow {
    code: String,
    name_fa: String,
    name_en: String,
    kinds: String,
    active: bool,
}

pub fn load_categories(conn: &mut DbConnection) -> Result<Vec<Category>, DbError> {
    let rows: Vec<CategoryRow> =
        categories::table.order(categories::code).select(CategoryRow::as_select()).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| Category {
            code: row.code,
            name_fa: row.name_fa,
            name_en: row.name_en,
            kinds: row.kinds.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect(),
            active: row.active,
        })
        .collect())
}

/// Creates or replaces a category.
pub fn put_category(conn: &mut DbConnection, category: &Category) -> Result<(), DbError> {
    let kinds = category.kinds.join(",");
    let exists: i64 = categories::table.filter(categories::code.eq(&category.code)).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(categories::table.find(&category.code))
            .set((
                categories::name_fa.eq(&category.name_fa),
                categories::name_en.eq(&category.name_en),
                categories::kinds.eq(&kinds),
                categories::active.eq(category.active),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(categories::table)
            .values((
                categories::code.eq(&category.code),
                categories::name_fa.eq(&category.name_fa),
                categories::name_en.eq(&category.name_en),
                categories::kinds.eq(&kinds),
                categories::active.eq(category.active),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A message as stored: its id and the tracking code to tell the citizen.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = MessageReceipt)]
pub struct Receipt {
    pub id: String,
    /// Ten digits, the last a check digit.
    pub tracking_code: String,
    /// `received` when new; where it stands now when replayed.
    pub status: MessageStatus,
    pub received_at: DateTime<Utc>,
}

/// The outcome of posting: a new message, or the one an earlier post with the same
/// idempotency key created.
pub enum Posted {
    Created(Receipt),
    Replayed(Receipt),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct ReceiptRow {
    id: String,
    tracking_code: String,
    status: String,
    received_at: NaiveDateTime,
}

fn receipt_by_idempotency_key(
    conn: &mut DbConnection,
    submitted_by: &str,
    key: &str,
) -> Result<Option<Receipt>, DbError> {
    let row: Option<ReceiptRow> = messages::table
        .filter(messages::submitted_by.eq(submitted_by))
        .filter(messages::idempotency_key.eq(key))
        .select(ReceiptRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Receipt {
        id: row.id,
        tracking_code: row.tracking_code,
        status: MessageStatus::stored(&row.status)?,
        received_at: from_db_time(row.received_at),
    }))
}

fn unused_tracking_code(conn: &mut DbConnection) -> Result<TrackingCode, DbError> {
    // A billion codes make a clash rare; a few draws make it vanishing.
    for _ in 0..8 {
        let code = TrackingCode::generate();
        let taken: i64 = messages::table.filter(messages::tracking_code.eq(code.as_str())).count().get_result(conn)?;
        if taken == 0 {
            return Ok(code);
        }
    }
    Err(DbError::Refused("no free tracking code after 8 draws".into()))
}

/// A message's area path as its column holds it: a JSON array of codes, province first.
pub fn encode_area_path(path: &[String]) -> String {
    serde_json::Value::from(path.to_vec()).to_string()
}

/// The codes of a stored area path; a message stored before areas has none.
pub fn decode_area_path(text: Option<&str>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
}

/// What a reporter's identity is stored with: the keys that seal it and the key of its blind
/// index.
#[derive(Clone, Copy)]
pub struct IdentityKeys<'a> {
    pub sealing: &'a ReporterKeys,
    pub search: &'a SearchKey,
}

/// Stores a validated message, its reporter apart, and `message.received`, in the caller's
/// transaction; `actor` (whose id is `submitted_by`) is the timeline's first actor.
pub fn post_message(
    conn: &mut DbConnection,
    keys: IdentityKeys<'_>,
    submission: &Submission,
    submitted_by: &str,
    actor: &Actor,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Posted, DbError> {
    if let Some(key) = idempotency_key
        && let Some(existing) = receipt_by_idempotency_key(conn, submitted_by, key)?
    {
        return Ok(Posted::Replayed(existing));
    }
    let id = Uuid::now_v7().to_string();
    let code = unused_tracking_code(conn)?;
    let at = to_db_time(now);
    // In a savepoint: a concurrent post with the same idempotency key (a client retrying while
    // its first attempt is still being stored) waits on the unique index, then fails on it
    // once that attempt commits; the caller's transaction survives to replay its receipt.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(messages::table)
            .values((
                messages::id.eq(&id),
                messages::tracking_code.eq(code.as_str()),
                messages::kind.eq(submission.kind.as_str()),
                messages::channel.eq(submission.channel.as_str()),
                messages::category.eq(&submission.category),
                messages::subject.eq(&submission.subject),
                messages::body.eq(&submission.body),
                messages::search_text.eq(search::search_text(submission.subject.as_deref(), &submission.body)),
                messages::province.eq(&submission.province),
                messages::area.eq(submission.area()),
                messages::area_path.eq(encode_area_path(&submission.area_path)),
                messages::latitude.eq(submission.location.map(|(lat, _)| lat)),
                messages::longitude.eq(submission.location.map(|(_, long)| long)),
                messages::city.eq(&submission.city),
                messages::priority.eq(submission.priority.as_str()),
                messages::status.eq(MessageStatus::Received.as_str()),
                messages::submitted_by.eq(submitted_by),
                messages::idempotency_key.eq(idempotency_key),
                messages::received_at.eq(at),
                messages::updated_at.eq(at),
            ))
            .execute(conn)
    });
    if let Err(error) = inserted {
        let error = DbError::from(error);
        if let Some(key) = idempotency_key
            && error.is_unique_violation()
            && let Some(existing) = receipt_by_idempotency_key(conn, submitted_by, key)?
        {
            return Ok(Posted::Replayed(existing));
        }
        return Err(error);
    }
    if let Some(reporter) = &submission.reporter {
        // Identity is sealed before it reaches the database, bound to this message.
        let seal = |field: &str, value: &Option<String>| -> Result<Option<String>, DbError> {
            value
                .as_ref()
                .map(|v| keys.sealing.seal(&id, field, v))
                .transpose()
                .map_err(|e| DbError::Refused(e.to_string()))
        };
        // And indexed blind: found again by its mobile or national ID, never opened to be found.
        let (mobile_index, national_id_index) =
            search::identity_indexes(keys.search, reporter.mobile.as_deref(), reporter.national_id.as_deref());
        diesel::insert_into(reporters::table)
            .values((
                reporters::message_id.eq(&id),
                reporters::full_name.eq(seal("full_name", &reporter.full_name)?),
                reporters::national_id.eq(seal("national_id", &reporter.national_id)?),
                reporters::mobile.eq(seal("mobile", &reporter.mobile)?),
                reporters::email.eq(seal("email", &reporter.email)?),
                reporters::confidential.eq(reporter.confidential),
                reporters::tracking_pin.eq(seal("tracking_pin", &reporter.tracking_pin)?),
                reporters::mobile_blind_index.eq(mobile_index),
                reporters::national_id_blind_index.eq(national_id_index),
            ))
            .execute(conn)?;
    }
    let event = MessageReceived {
        message_id: id.clone(),
        tracking_code: code.to_string(),
        kind: submission.kind.as_str().into(),
        channel: submission.channel.as_str().into(),
        category: submission.category.clone(),
        province: submission.province.clone(),
        city: submission.city.clone(),
        area: Some(submission.area().to_string()),
        area_path: submission.area_path.clone(),
        priority: submission.priority.as_str().into(),
        received_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = serde_json::json!({ "channel": submission.channel.as_str() });
    timeline::append(conn, &id, from_db_time(at), Transition::Received, None, detail, Some(actor))?;
    Ok(Posted::Created(Receipt {
        id,
        tracking_code: code.to_string(),
        status: MessageStatus::Received,
        received_at: from_db_time(at),
    }))
}
