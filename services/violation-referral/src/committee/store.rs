//! The committee's sessions and decisions as stored. A decision is written with the step and the
//! state change it causes on the case, and its event, in one transaction; the case's primary key
//! in `compliance_decisions` refuses a second decision on a case, whatever the replicas.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::actor::Actor;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::CommitteeDecisionRecorded;
use nazer_shared::http::paging::{self, Cursor};
use nazer_shared::outbox;
use nazer_shared::topology::VIOLATION_REFERRAL;
use uuid::Uuid;

use super::{DecisionView, Member, SessionView};
use crate::schema::{compliance_decisions, compliance_sessions};
use crate::store::CaseReader;
use crate::tracks::culpability::Decision;
use crate::tracks::steps::CheckedRecord;
use crate::tracks::{CaseError, culpability_store, store::head};

#[derive(Queryable, Selectable)]
#[diesel(table_name = compliance_sessions)]
struct SessionRow {
    id: String,
    held_on: String,
    members: String,
    note: Option<String>,
    created_at: NaiveDateTime,
}

impl TryFrom<SessionRow> for SessionView {
    type Error = DbError;
    fn try_from(row: SessionRow) -> Result<Self, DbError> {
        let members = serde_json::from_str(&row.members)
            .map_err(|e| DbError::Refused(format!("session `{}` has unreadable members: {e}", row.id)))?;
        Ok(Self {
            id: row.id,
            held_on: row.held_on,
            members,
            note: row.note,
            created_at: from_db_time(row.created_at),
            decisions: Vec::new(),
        })
    }
}

/// A session to record.
pub struct NewSession {
    pub held_on: String,
    pub members: Vec<Member>,
    pub note: Option<String>,
}

/// Records a session; its view.
pub fn create_session(
    conn: &mut DbConnection,
    session: &NewSession,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<SessionView, DbError> {
    let id = Uuid::now_v7().to_string();
    let members = serde_json::to_string(&session.members).map_err(|e| DbError::Refused(e.to_string()))?;
    diesel::insert_into(compliance_sessions::table)
        .values((
            compliance_sessions::id.eq(&id),
            compliance_sessions::held_on.eq(&session.held_on),
            compliance_sessions::members.eq(members),
            compliance_sessions::note.eq(session.note.as_deref()),
            compliance_sessions::created_at.eq(to_db_time(now)),
            compliance_sessions::actor_kind.eq(actor.kind.as_str()),
            compliance_sessions::actor_id.eq(actor.id.as_deref()),
        ))
        .execute(conn)?;
    let NewSession { held_on, members, note } = session;
    let created_at = from_db_time(to_db_time(now));
    Ok(SessionView {
        id,
        held_on: held_on.clone(),
        members: members.clone(),
        note: note.clone(),
        created_at,
        decisions: Vec::new(),
    })
}

/// A session with its decisions.
pub fn find_session(conn: &mut DbConnection, id: &str) -> Result<Option<SessionView>, DbError> {
    let row: Option<SessionRow> =
        compliance_sessions::table.find(id).select(SessionRow::as_select()).first(conn).optional()?;
    let Some(row) = row else { return Ok(None) };
    let mut session = SessionView::try_from(row)?;
    let decisions: Vec<(String, String, String, NaiveDateTime)> = compliance_decisions::table
        .filter(compliance_decisions::session_id.eq(id))
        .order((compliance_decisions::decided_at.asc(), compliance_decisions::case_id.asc()))
        .select((
            compliance_decisions::case_id,
            compliance_decisions::session_id,
            compliance_decisions::decision,
            compliance_decisions::decided_at,
        ))
        .load(conn)?;
    session.decisions = decisions.into_iter().map(decision_view).collect::<Result<_, _>>()?;
    Ok(Some(session))
}

fn decision_view(
    (case_id, session_id, decision, decided_at): (String, String, String, NaiveDateTime),
) -> Result<DecisionView, DbError> {
    let decision = Decision::parse(&decision)
        .ok_or_else(|| DbError::Refused(format!("case `{case_id}` has an unknown decision `{decision}`")))?;
    Ok(DecisionView { case_id, session_id, decision, decided_at: from_db_time(decided_at) })
}

/// Sessions, newest recorded first (or oldest), a page at a time.
pub fn list_sessions(
    conn: &mut DbConnection,
    newest_first: bool,
    after: Option<Cursor>,
    limit: i64,
) -> Result<(Vec<SessionView>, Option<String>), DbError> {
    let query = compliance_sessions::table.select(SessionRow::as_select()).into_boxed();
    let query =
        nazer_shared::keyset!(query, compliance_sessions::created_at, compliance_sessions::id, after, newest_first);
    let rows: Vec<SessionRow> = query.limit(limit + 1).load(conn)?;
    let sessions = rows.into_iter().map(SessionView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(paging::page(sessions, limit, |s: &SessionView| Cursor { at: to_db_time(s.created_at), id: s.id.clone() }))
}

/// The committee's decision on a case, if it decided one.
pub fn decision_of(conn: &mut DbConnection, case_id: &str) -> Result<Option<Decision>, DbError> {
    let stored: Option<String> =
        compliance_decisions::table.find(case_id).select(compliance_decisions::decision).first(conn).optional()?;
    stored
        .map(|d| {
            Decision::parse(&d)
                .ok_or_else(|| DbError::Refused(format!("case `{case_id}` has an unknown decision `{d}`")))
        })
        .transpose()
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no session has this id")]
    NoSession,
    #[error(transparent)]
    Case(#[from] CaseError),
}

impl From<DbError> for DecisionError {
    fn from(error: DbError) -> Self {
        Self::Case(CaseError::Db(error))
    }
}

impl From<diesel::result::Error> for DecisionError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Case(CaseError::from(error))
    }
}

/// Records the committee's `decision` on case `case_id` at session `session_id`: once per case,
/// the case being before the committee (`at_committee`).
pub fn record_decision(
    conn: &mut DbConnection,
    session_id: &str,
    (case_id, decision): (&str, Decision),
    reasoning: &CheckedRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DecisionView, DecisionError> {
    let sessions: i64 = compliance_sessions::table.find(session_id).count().get_result(conn)?;
    if sessions == 0 {
        return Err(DecisionError::NoSession);
    }
    // A case decided already is past `at_committee`: the track's rules refuse a second decision.
    let head = head(conn, case_id, &CaseReader::Entrusted)?;
    // Announced before what it causes (a `no_fault` closes the track), so they arrive in order.
    let at = from_db_time(to_db_time(now));
    let case = &head.view;
    let recorded = CommitteeDecisionRecorded {
        case_id: case.id.clone(),
        session_id: session_id.to_string(),
        message_id: case.message_id.clone(),
        tracking_code: case.tracking_code.clone(),
        unit_id: head.culpability_unit_id.clone().unwrap_or_default(),
        decision: decision.as_str().into(),
        decided_at: at,
    };
    outbox::enqueue(conn, VIOLATION_REFERRAL, &recorded, now)?;
    culpability_store::decide(conn, &head, (decision, session_id), reasoning, actor, now)?;
    diesel::insert_into(compliance_decisions::table)
        .values((
            compliance_decisions::case_id.eq(case_id),
            compliance_decisions::session_id.eq(session_id),
            compliance_decisions::decision.eq(decision.as_str()),
            compliance_decisions::decided_at.eq(to_db_time(at)),
        ))
        .execute(conn)?;
    Ok(DecisionView { case_id: case_id.into(), session_id: session_id.into(), decision, decided_at: at })
}
