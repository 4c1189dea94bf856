//! The lifecycle of a message: received → assigned → acknowledged → responded → closed, with
//! declines sending it back to routing and a citizen's reopening sending it back to its agency. The rules are pure; the writes below apply them, each
//! with its event and timeline entry in one transaction.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::{Viewer, decode_ancestors};
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{
    DeadlineState, MessageAcknowledged, MessageClosed, MessageDeclined, MessageReopened, MessageResponded,
};
use nazer_shared::http::ApiError;
use nazer_shared::outbox;
use nazer_shared::topology::INTAKE;
use serde_json::json;
use uuid::Uuid;

use crate::projection::open_states;
use crate::schema::{agency_responses, message_deadlines, messages};
use crate::store::MessageStatus;
use crate::timeline::{self, Actor, Transition};
use crate::tracking_code::TrackingCode;
use crate::view::ResponseView;

/// What someone does to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Respond,
    Decline,
    Close,
    Reopen,
}

/// The transition rule: whether `action` may happen to a message in `current`. Every pair is
/// named, so a new status or action does not compile until it is decided here.
fn allows(current: MessageStatus, action: Action) -> bool {
    use Action::*;
    use MessageStatus::*;
    match (current, action) {
        (Assigned, Acknowledge) => true,
        (Assigned | Acknowledged | Reopened, Respond | Decline) => true,
        (Responded, Close) => true,
        (Responded | Closed, Reopen) => true,
        (Received | Triage | Declined, Acknowledge | Respond | Decline | Close | Reopen) => false,
        (Assigned, Close | Reopen) => false,
        (Acknowledged | Reopened, Acknowledge | Close | Reopen) => false,
        (Responded, Acknowledge | Respond | Decline) => false,
        (Closed, Acknowledge | Respond | Decline | Close) => false,
    }
}

/// Whether `action` may happen to a message in `current`; the refusal says what would allow it.
pub fn check(current: MessageStatus, action: Action) -> Result<(), String> {
    if allows(current, action) {
        return Ok(());
    }
    let allowed: Vec<&str> =
        MessageStatus::ALL.iter().filter(|status| allows(**status, action)).map(|status| status.as_str()).collect();
    Err(format!("the message is `{current}`; this needs it to be {}", allowed.join(" or ")))
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("message not found")]
    NotFound,
    #[error("{0}")]
    NotAllowed(String),
}

nazer_shared::from_diesel_error!(LifecycleError);

/// What a missing message (or another agency's) answers.
pub(crate) const NOT_FOUND: &str = "no message has this tracking code";

/// A missing message is a 404, a refused transition a 409 with its reason.
impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        match error {
            LifecycleError::NotFound => ApiError::NotFound(NOT_FOUND.into()),
            LifecycleError::NotAllowed(why) => ApiError::Conflict(why),
            LifecycleError::Db(error) => error.into(),
        }
    }
}

/// The facts of a message an action needs.
pub struct Head {
    pub id: String,
    pub tracking_code: String,
    pub status: MessageStatus,
    pub agency_id: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub decline_count: i32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct HeadRow {
    id: String,
    status: String,
    assigned_agency_id: Option<String>,
    agency_ancestors: Option<String>,
    acknowledged_at: Option<NaiveDateTime>,
    decline_count: i32,
}

/// The message, when `viewer` may see it; another agency's answers exactly like a missing one.
pub fn head(conn: &mut DbConnection, code: &TrackingCode, viewer: &Viewer) -> Result<Head, LifecycleError> {
    let row: Option<HeadRow> = messages::table
        .filter(messages::tracking_code.eq(code.as_str()))
        .select(HeadRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(LifecycleError::NotFound);
    };
    if !viewer.sees(row.assigned_agency_id.as_deref(), &decode_ancestors(row.agency_ancestors.as_deref())) {
        return Err(LifecycleError::NotFound);
    }
    Ok(Head {
        id: row.id,
        tracking_code: code.to_string(),
        status: MessageStatus::stored(&row.status)?,
        agency_id: row.assigned_agency_id,
        acknowledged_at: row.acknowledged_at,
        decline_count: row.decline_count,
    })
}

type Unchanged<'a> = diesel::dsl::Filter<
    diesel::dsl::Find<messages::table, &'a String>,
    diesel::dsl::Eq<messages::status, &'static str>,
>;

/// The message as `head` read it, so a transition applies only if no one else moved it first.
fn unchanged(head: &Head) -> Unchanged<'_> {
    messages::table.find(&head.id).filter(messages::status.eq(head.status.as_str()))
}

fn claimed(rows: usize) -> Result<(), LifecycleError> {
    if rows == 0 {
        return Err(LifecycleError::NotAllowed("the message changed meanwhile; read it again".into()));
    }
    Ok(())
}

/// The agency confirms it has the message: recorded and announced once; a repeat answers the
/// first instant.
pub fn acknowledge(
    conn: &mut DbConnection,
    code: &TrackingCode,
    viewer: &Viewer,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LifecycleError> {
    let head = head(conn, code, viewer)?;
    if let Some(at) = head.acknowledged_at {
        return Ok(from_db_time(at));
    }
    check(head.status, Action::Acknowledge).map_err(LifecycleError::NotAllowed)?;
    let at = to_db_time(now);
    let rows = diesel::update(unchanged(&head))
        .set((
            messages::status.eq(MessageStatus::Acknowledged.as_str()),
            messages::acknowledged_at.eq(Some(at)),
            messages::updated_at.eq(at),
        ))
        .execute(conn)?;
    if rows == 0 {
        // Another acknowledgement got there first: answer its instant, as a repeat does.
        let first: Option<NaiveDateTime> =
            messages::table.find(&head.id).select(messages::acknowledged_at).first(conn)?;
        return first
            .map(from_db_time)
            .ok_or_else(|| LifecycleError::NotAllowed("the message changed meanwhile; read it again".into()));
    }
    let agency_id = head.agency_id.clone().unwrap_or_default();
    let event = MessageAcknowledged {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: agency_id.clone(),
        acknowledged_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let agency = Some(agency_id.as_str());
    timeline::append(conn, &head.id, from_db_time(at), Transition::Acknowledged, agency, json!({}), Some(actor))?;
    Ok(from_db_time(at))
}

nazer_shared::closed_set! {
    /// What an agency's answer did for the citizen.
    pub enum Outcome {
        Resolved = "resolved",
        PartiallyResolved = "partially_resolved",
        Rejected = "rejected",
    }
}

impl Outcome {
    /// The outcome a row holds; a text intake never writes is a broken invariant, not a panic.
    pub fn stored(text: &str) -> Result<Self, DbError> {
        Self::parse(text).ok_or_else(|| DbError::Refused(format!("unknown answer outcome `{text}` in the database")))
    }
}

/// What an agency answers.
pub struct Answer {
    pub outcome: Outcome,
    pub body: String,
    pub attachments: Vec<String>,
}

/// Records an agency's answer and `message.responded`.
pub fn respond(
    conn: &mut DbConnection,
    code: &TrackingCode,
    viewer: &Viewer,
    answer: &Answer,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ResponseView, LifecycleError> {
    let head = head(conn, code, viewer)?;
    check(head.status, Action::Respond).map_err(LifecycleError::NotAllowed)?;
    let at = to_db_time(now);
    let rows = diesel::update(unchanged(&head))
        .set((messages::status.eq(MessageStatus::Responded.as_str()), messages::updated_at.eq(at)))
        .execute(conn)?;
    claimed(rows)?;
    let agency_id = head.agency_id.clone().unwrap_or_default();
    let response_id = Uuid::now_v7().to_string();
    let attachments = serde_json::to_string(&answer.attachments).map_err(|e| DbError::Encode(e.to_string()))?;
    diesel::insert_into(agency_responses::table)
        .values((
            agency_responses::id.eq(&response_id),
            agency_responses::message_id.eq(&head.id),
            agency_responses::agency_id.eq(&agency_id),
            agency_responses::outcome.eq(answer.outcome.as_str()),
            agency_responses::body.eq(&answer.body),
            agency_responses::responded_at.eq(at),
            agency_responses::attachments.eq(attachments),
        ))
        .execute(conn)?;
    let event = MessageResponded {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: agency_id.clone(),
        response_id: response_id.clone(),
        outcome: answer.outcome.as_str().into(),
        responded_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "response_id": response_id, "outcome": answer.outcome });
    timeline::append(conn, &head.id, from_db_time(at), Transition::Responded, Some(&agency_id), detail, Some(actor))?;
    Ok(ResponseView {
        id: response_id,
        outcome: answer.outcome,
        body: answer.body.clone(),
        attachments: answer.attachments.clone(),
        responded_at: from_db_time(at),
        rating: None,
        agency_id,
        review: None,
    })
}

/// The agency says the message is outside its jurisdiction: it leaves the agency's view and
/// goes back to routing (`message.declined`), which picks another agency or triage.
pub fn decline(
    conn: &mut DbConnection,
    code: &TrackingCode,
    viewer: &Viewer,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i32, LifecycleError> {
    let head = head(conn, code, viewer)?;
    check(head.status, Action::Decline).map_err(LifecycleError::NotAllowed)?;
    let at = to_db_time(now);
    let count = head.decline_count + 1;
    let rows = diesel::update(unchanged(&head))
        .set((
            messages::status.eq(MessageStatus::Declined.as_str()),
            messages::updated_at.eq(at),
            messages::decline_count.eq(count),
            messages::assigned_agency_id.eq(None::<String>),
            messages::assigned_agency_name.eq(None::<String>),
            messages::agency_ancestors.eq(None::<String>),
            messages::acknowledged_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    claimed(rows)?;
    // The declining agency's clocks stop (deadline-timer does the same on the event).
    diesel::update(
        message_deadlines::table
            .filter(message_deadlines::message_id.eq(&head.id))
            .filter(message_deadlines::state.eq_any(open_states())),
    )
    .set(message_deadlines::state.eq(DeadlineState::Declined.as_str()))
    .execute(conn)?;
    let agency_id = head.agency_id.clone().unwrap_or_default();
    let event = MessageDeclined {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: agency_id.clone(),
        reason: reason.to_string(),
        decline_count: count,
        declined_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "reason": reason, "decline_count": count });
    timeline::append(conn, &head.id, from_db_time(at), Transition::Declined, Some(&agency_id), detail, Some(actor))?;
    Ok(count)
}

/// Handling is over: the call centre or a supervisor closes an answered message.
pub fn close(
    conn: &mut DbConnection,
    code: &TrackingCode,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LifecycleError> {
    let head = head(conn, code, &Viewer::All)?;
    check(head.status, Action::Close).map_err(LifecycleError::NotAllowed)?;
    if let Some(why) = crate::violation_holds::closing_refusal(conn, &head.id)? {
        return Err(LifecycleError::NotAllowed(why));
    }
    let at = to_db_time(now);
    let rows = diesel::update(unchanged(&head))
        .set((
            messages::status.eq(MessageStatus::Closed.as_str()),
            messages::closed_at.eq(Some(at)),
            messages::updated_at.eq(at),
        ))
        .execute(conn)?;
    claimed(rows)?;
    let event = MessageClosed {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: head.agency_id.clone(),
        reason: reason.to_string(),
        closed_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "reason": reason });
    timeline::append(conn, &head.id, from_db_time(at), Transition::Closed, None, detail, Some(actor))?;
    Ok(from_db_time(at))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct ReopenRow {
    reopen_until: Option<NaiveDateTime>,
    reopen_count: i32,
}

/// The citizen is not satisfied with the answer: within the reopening period the message goes
/// back to the agency that answered (`message.reopened`), which answers again on a fresh clock.
/// `actor` is the citizen, or the call centre for a citizen who phoned.
pub fn reopen(
    conn: &mut DbConnection,
    code: &TrackingCode,
    reason: &str,
    working_days: u32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, LifecycleError> {
    let head = head(conn, code, &Viewer::All)?;
    check(head.status, Action::Reopen).map_err(LifecycleError::NotAllowed)?;
    let ReopenRow { reopen_until, reopen_count } =
        messages::table.find(&head.id).select(ReopenRow::as_select()).first(conn)?;
    let answered = crate::quality::latest_response(conn, &head.id)?
        .ok_or_else(|| LifecycleError::NotAllowed("the message has no answer to reopen".into()))?;
    crate::quality::may_reopen(reopen_until.map(from_db_time), answered.responded_at, working_days, now)
        .map_err(LifecycleError::NotAllowed)?;
    let at = to_db_time(now);
    let count = reopen_count + 1;
    let rows = diesel::update(unchanged(&head))
        .set((
            messages::status.eq(MessageStatus::Reopened.as_str()),
            messages::reopen_count.eq(count),
            messages::reopen_until.eq(None::<NaiveDateTime>),
            messages::closed_at.eq(None::<NaiveDateTime>),
            messages::updated_at.eq(at),
        ))
        .execute(conn)?;
    claimed(rows)?;
    let event = MessageReopened {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: answered.agency_id.clone(),
        reason: reason.to_string(),
        reopen_count: count,
        reopened_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "reason": reason, "reopen_count": count });
    let agency = Some(answered.agency_id.as_str());
    timeline::append(conn, &head.id, from_db_time(at), Transition::Reopened, agency, detail, Some(actor))?;
    Ok(from_db_time(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_needs_its_status() {
        use Action::*;
        let table = [
            (MessageStatus::Assigned, [true, true, true, false, false]),
            (MessageStatus::Acknowledged, [false, true, true, false, false]),
            (MessageStatus::Responded, [false, false, false, true, true]),
            (MessageStatus::Reopened, [false, true, true, false, false]),
            (MessageStatus::Received, [false, false, false, false, false]),
            (MessageStatus::Triage, [false, false, false, false, false]),
            (MessageStatus::Declined, [false, false, false, false, false]),
            (MessageStatus::Closed, [false, false, false, false, true]),
        ];
        for (current, expected) in table {
            let got = [Acknowledge, Respond, Decline, Close, Reopen].map(|a| check(current, a).is_ok());
            assert_eq!(got, expected, "{current}");
        }
        let refusal = check(MessageStatus::Closed, Respond).unwrap_err();
        assert!(refusal.contains("`closed`") && refusal.contains("assigned or acknowledged or reopened"), "{refusal}");
    }
}
