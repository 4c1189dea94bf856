//! The violation cases of intake's messages, as violation-referral reports them: a message whose
//! case's remedial track has no verdict yet (nor was withdrawn) may not close. Events may
//! overtake each other: a verdict seen before the opening is kept, never reopened by it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, to_db_time};
use nazer_shared::events::{Envelope, MessageKind, ViolationCaseOpened, ViolationRemedialStep, ViolationVerdict};
use nazer_shared::inbox::{HandlerError, Handlers};

use crate::projection::Projection;
use crate::schema::{message_violation_cases, messages};

/// The remedial state a withdrawal leaves (violation-referral's `withdrawn`).
const WITHDRAWN: &str = "withdrawn";

/// Adds the handlers that keep the holds to intake's projection.
pub fn handlers(handlers: Handlers<Projection>) -> Handlers<Projection> {
    handlers.on::<ViolationCaseOpened>(opened).on::<ViolationVerdict>(decided).on::<ViolationRemedialStep>(stepped)
}

fn opened(
    _: &Projection,
    conn: &mut DbConnection,
    event: ViolationCaseOpened,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    record(conn, &event.case_id, &event.message_id, true, now)?;
    Ok(())
}

fn decided(
    _: &Projection,
    conn: &mut DbConnection,
    event: ViolationVerdict,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    record(conn, &event.case_id, &event.message_id, false, now)?;
    Ok(())
}

fn stepped(
    _: &Projection,
    conn: &mut DbConnection,
    event: ViolationRemedialStep,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    if event.state == WITHDRAWN {
        record(conn, &event.case_id, &event.message_id, false, now)?;
    }
    Ok(())
}

/// Records a case as holding its message (`open`) or releasing it; a release is final.
fn record(
    conn: &mut DbConnection,
    case_id: &str,
    message_id: &str,
    open: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let known: Option<bool> = message_violation_cases::table
        .find(case_id)
        .select(message_violation_cases::remedial_open)
        .first(conn)
        .optional()?;
    match known {
        None => {
            diesel::insert_into(message_violation_cases::table)
                .values((
                    message_violation_cases::case_id.eq(case_id),
                    message_violation_cases::message_id.eq(message_id),
                    message_violation_cases::remedial_open.eq(open),
                    message_violation_cases::updated_at.eq(to_db_time(now)),
                ))
                .execute(conn)?;
        }
        Some(true) if !open => {
            diesel::update(message_violation_cases::table.find(case_id))
                .set((
                    message_violation_cases::remedial_open.eq(false),
                    message_violation_cases::updated_at.eq(to_db_time(now)),
                ))
                .execute(conn)?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Why `message_id` may not close yet, if it may not: a case of it whose remedial track awaits
/// its verdict, or — for a violation report — no case released yet (its case may not have been
/// heard of yet, and a report must not close before it is).
pub fn closing_refusal(conn: &mut DbConnection, message_id: &str) -> Result<Option<String>, DbError> {
    let cases: Vec<(String, bool)> = message_violation_cases::table
        .filter(message_violation_cases::message_id.eq(message_id))
        .select((message_violation_cases::case_id, message_violation_cases::remedial_open))
        .load(conn)?;
    if let Some((case_id, _)) = cases.iter().find(|(_, open)| *open) {
        return Ok(Some(format!(
            "the message's violation case `{case_id}` awaits 1888's verdict on its remedial track \
             (effective or not effective) or its withdrawal; close the message after it"
        )));
    }
    let kind: String = messages::table.find(message_id).select(messages::kind).first(conn)?;
    if cases.is_empty() && MessageKind::parse(&kind) == Some(MessageKind::ViolationReport) {
        return Ok(Some(
            "a violation report closes once its violation case has 1888's verdict (effective or not \
             effective) or was withdrawn; its case is not yet decided"
                .into(),
        ));
    }
    Ok(None)
}
