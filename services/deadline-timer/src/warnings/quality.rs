//! Quality warnings: an answer a supervisor reviewed below the standard registers a warning
//! (تذکر کیفیت) on the clock it answered, through the same table, event and notifications as
//! an overdue warning.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{DeadlineState, ResponseReviewed, Stage, WarningIssued};
use nazer_shared::iran::persian_digits;
use nazer_shared::outbox;
use nazer_shared::topology::DEADLINE_TIMER;
use uuid::Uuid;

use crate::firing::store::insert_warnings;
use crate::schema::{deadlines, warnings};
use crate::warnings::WarningReason;

/// «پاسخ دستگاه به پیام ۱۲۳۴۵۶۷۸۹۰ در ارزیابی کیفیت امتیاز ۲٫۵ از ۵ گرفت و کمتر از حد استاندارد است».
pub fn warning_text(tracking_code: &str, score: f64) -> String {
    let score = format!("{score:.1}").replace('.', "٫");
    format!(
        "پاسخ دستگاه به پیام {} در ارزیابی کیفیت امتیاز {} از ۵ گرفت و کمتر از حد استاندارد است",
        persian_digits(tracking_code),
        persian_digits(&score)
    )
}

/// Registers the quality warning of a review below the standard, once; `None` when the review
/// met the standard or the warning exists already. The clock is the respond clock the reviewed
/// answer met; with none (not yet heard of the answer), the event is retried, then parked.
pub fn register(
    conn: &mut DbConnection,
    reviewed: &ResponseReviewed,
    now: DateTime<Utc>,
) -> Result<Option<WarningIssued>, DbError> {
    if !reviewed.below_standard {
        return Ok(None);
    }
    // The clock this answer met: the answer closed it at the instant it was given.
    let clock: Option<String> = deadlines::table
        .filter(deadlines::message_id.eq(&reviewed.message_id))
        .filter(deadlines::agency_id.eq(&reviewed.agency_id))
        .filter(deadlines::stage.eq(Stage::Respond.as_str()))
        .filter(deadlines::state.eq_any([DeadlineState::Met.as_str(), DeadlineState::AnsweredLate.as_str()]))
        .filter(deadlines::closed_at.eq(to_db_time(reviewed.responded_at)))
        .order((deadlines::started_at.desc(), deadlines::id.desc()))
        .select(deadlines::id)
        .first(conn)
        .optional()?;
    let Some(deadline_id) = clock else {
        return Err(DbError::Refused(format!(
            "no respond clock of message {} that agency {} met at {} to register a quality warning on",
            reviewed.message_id, reviewed.agency_id, reviewed.responded_at
        )));
    };
    let existing: i64 = warnings::table
        .filter(warnings::deadline_id.eq(&deadline_id))
        .filter(warnings::stage.eq(Stage::Quality.as_str()))
        .count()
        .get_result(conn)?;
    if existing > 0 {
        return Ok(None);
    }
    let reviewed_at = from_db_time(to_db_time(reviewed.reviewed_at));
    let warning = WarningIssued {
        subject: None,
        warning_id: Uuid::now_v7().to_string(),
        deadline_id,
        message_id: reviewed.message_id.clone(),
        tracking_code: reviewed.tracking_code.clone(),
        agency_id: reviewed.agency_id.clone(),
        stage: Stage::Quality.as_str().into(),
        level: 1,
        reason: WarningReason::QualityBelowStandard.as_str().into(),
        text_fa: warning_text(&reviewed.tracking_code, reviewed.score),
        due_at: reviewed_at,
        issued_at: from_db_time(to_db_time(now)),
        escalated_to: None,
    };
    insert_warnings(conn, std::slice::from_ref(&warning))?;
    outbox::enqueue(conn, DEADLINE_TIMER, &warning, now)?;
    Ok(Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_the_message_and_the_score_in_persian_digits() {
        let text = warning_text("1234567890", 2.5);
        assert!(text.contains("پیام ۱۲۳۴۵۶۷۸۹۰"), "{text}");
        assert!(text.contains("امتیاز ۲٫۵ از ۵"), "{text}");
        assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text}");
    }
}
