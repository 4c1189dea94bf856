//! What a citizen sees when following a message with its tracking code: where it stands and
//! every step, in Persian with Solar Hijri dates, proven by a second factor (the last four
//! digits of the mobile given with the message, or the PIN chosen at intake).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time};
use nazer_shared::iran::{jalali_date_time, persian_date_time};
use serde::Serialize;

use crate::lifecycle::Outcome;
use crate::quality::may_reopen;
use crate::schema::{categories, messages, reporters};
use crate::sealing::ReporterKeys;
use crate::store::MessageStatus;
use crate::timeline::{self, Transition};
use crate::tracking_code::TrackingCode;
use crate::view::responses_of;

/// Equal in time independent of where the two differ, so a guess learns nothing from timing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Whether `given` (ASCII digits) is the PIN, or the last four digits of the mobile.
pub fn verifier_matches(given: &str, mobile: Option<&str>, pin: Option<&str>) -> bool {
    if given.is_empty() {
        return false;
    }
    let by_pin = pin.is_some_and(|pin| same(given, pin));
    let last_four = |m: &str| m.get(m.len().saturating_sub(4)..).filter(|tail| tail.len() == 4).map(str::to_string);
    let by_mobile = mobile.and_then(last_four).is_some_and(|tail| same(given, &tail));
    by_pin | by_mobile
}

/// A message and, when it has a reporter, what can prove the citizen (sealed).
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct VerifierRow {
    id: String,
    #[diesel(embed)]
    reporter: Option<SecondFactors>,
}

#[derive(Queryable, Selectable, Default)]
#[diesel(table_name = reporters)]
struct SecondFactors {
    mobile: Option<String>,
    tracking_pin: Option<String>,
}

/// The message behind `code` when `given` proves the citizen; `None` for an unknown code, a
/// message without mobile or PIN, or a wrong verifier alike.
pub fn verified_message(
    conn: &mut DbConnection,
    code: &TrackingCode,
    given: &str,
    keys: &ReporterKeys,
) -> Result<Option<String>, DbError> {
    // One query, and the same opening work, whether or not the code exists or has a reporter:
    // how long a wrong guess takes tells nothing.
    let row: Option<VerifierRow> = messages::table
        .left_join(reporters::table.on(reporters::message_id.eq(messages::id)))
        .filter(messages::tracking_code.eq(code.as_str()))
        .select(VerifierRow::as_select())
        .first(conn)
        .optional()?;
    let (message_id, factors) = row.map(|row| (row.id, row.reporter)).unwrap_or_default();
    let SecondFactors { mobile, tracking_pin: pin } = factors.unwrap_or_default();
    let open = |field: &str, value: Option<String>| match value.map(|v| keys.open(&message_id, field, &v)) {
        Some(Ok(plain)) => Some(plain),
        Some(Err(error)) => {
            tracing::error!(message_id = %message_id, field, %error, "a sealed reporter field does not open");
            None
        }
        None => {
            keys.open_decoy();
            None
        }
    };
    let (mobile, pin) = (open("mobile", mobile), open("tracking_pin", pin));
    let matches = verifier_matches(given, mobile.as_deref(), pin.as_deref());
    Ok(matches.then_some(message_id).filter(|id| !id.is_empty()))
}

/// An instant three ways: RFC 3339, Solar Hijri in ASCII digits, and in Persian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PersianInstant)]
pub struct When {
    pub at: DateTime<Utc>,
    /// `1405/09/08 14:30`, Tehran time.
    pub jalali: String,
    /// `۱۴۰۵/۰۹/۰۸ ساعت ۱۴:۳۰`.
    pub fa: String,
}

impl When {
    pub fn of(at: DateTime<Utc>) -> Self {
        Self { at, jalali: jalali_date_time(at), fa: persian_date_time(at) }
    }
}

/// A step of the message's handling, as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TrackedStep)]
pub struct CitizenStep {
    /// `received`, `assigned`, `triage`, `acknowledged`, `declined`, `responded`, `closed`,
    /// `warning`, `reopened` or `rated`.
    pub transition: Transition,
    /// The step in Persian.
    pub title_fa: String,
    pub when: When,
}

/// An agency's answer, as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TrackedAnswer)]
pub struct CitizenAnswer {
    pub id: String,
    /// `resolved`, `partially_resolved` or `rejected`.
    pub outcome: Outcome,
    /// The outcome in Persian.
    pub outcome_fa: String,
    pub body: String,
    /// References to documents (document ids or URLs).
    pub attachments: Vec<String>,
    pub when: When,
    /// The citizen's rating, 1–5, once given.
    pub rating: Option<i32>,
}

/// A message as its citizen follows it: no reporter data, no internal notes (decline reasons,
/// supervisors' reviews), no other agency's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TrackedMessage)]
pub struct CitizenView {
    pub tracking_code: String,
    /// `received`, `assigned`, `acknowledged`, `triage`, `declined`, `responded`, `closed` or
    /// `reopened`.
    pub status: MessageStatus,
    /// Where the message stands, in Persian.
    pub status_fa: String,
    /// The category's Persian name.
    pub category_fa: Option<String>,
    /// The agency handling it.
    pub agency_name: Option<String>,
    pub received: When,
    /// Oldest first.
    pub steps: Vec<CitizenStep>,
    /// The agencies' answers, oldest first.
    pub answers: Vec<CitizenAnswer>,
    /// The latest answer is not rated yet.
    pub can_rate: bool,
    /// The citizen may still reopen the latest answer.
    pub can_reopen: bool,
    /// Until when, when the period is known and reopening is possible.
    pub reopen_until: Option<When>,
}

pub fn status_fa(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Received => "دریافت شد",
        MessageStatus::Assigned => "به دستگاه مسئول ارجاع شد",
        MessageStatus::Acknowledged => "دستگاه دریافت پیام را اعلام کرد",
        MessageStatus::Triage | MessageStatus::Declined => "در حال بررسی در سامانه ۱۸۸۸",
        MessageStatus::Responded => "پاسخ داده شد",
        MessageStatus::Closed => "مختومه شد",
        MessageStatus::Reopened => "بازگشایی شد و در انتظار پاسخ دوباره است",
    }
}

pub fn outcome_fa(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Resolved => "رفع شد",
        Outcome::PartiallyResolved => "بخشی از موضوع رفع شد",
        Outcome::Rejected => "درخواست پذیرفته نشد",
    }
}

/// The steps a citizen sees, with their Persian titles; internal ones (reviews) are hidden.
pub fn step_title_fa(transition: Transition) -> Option<&'static str> {
    Some(match transition {
        Transition::Received => "پیام ثبت شد",
        Transition::Assigned => "به دستگاه مسئول ارجاع شد",
        Transition::Triage => "برای تعیین دستگاه مسئول در سامانه ۱۸۸۸ بررسی می‌شود",
        Transition::Acknowledged => "دستگاه دریافت پیام را اعلام کرد",
        Transition::Declined => "دستگاه موضوع را خارج از حوزه خود دانست؛ ارجاع دوباره",
        Transition::Responded => "دستگاه پاسخ داد",
        Transition::Closed => "پیام مختومه شد",
        Transition::Warning => "برای دستگاه تذکر ثبت شد",
        Transition::Reopened => "پیام بازگشایی شد",
        Transition::Rated => "به پاسخ امتیاز دادید",
        Transition::Reviewed => return None,
        Transition::ReceivedFromTriage => crate::timeline::RECEIVED_FROM_TRIAGE_FA,
    })
}

/// What the citizen's page shows of the message itself.
#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct Head {
    tracking_code: String,
    status: String,
    category: String,
    assigned_agency_name: Option<String>,
    received_at: NaiveDateTime,
    reopen_until: Option<NaiveDateTime>,
}

pub fn citizen_view(
    conn: &mut DbConnection,
    message_id: &str,
    reopen_working_days: u32,
    now: DateTime<Utc>,
) -> Result<Option<CitizenView>, DbError> {
    let head: Option<Head> = messages::table.find(message_id).select(Head::as_select()).first(conn).optional()?;
    let Some(Head { tracking_code, status, category, assigned_agency_name: agency_name, received_at, reopen_until }) =
        head
    else {
        return Ok(None);
    };
    let category_fa: Option<String> =
        categories::table.find(&category).select(categories::name_fa).first(conn).optional()?;
    let steps = timeline::of_message(conn, message_id)?
        .into_iter()
        .filter_map(|entry| {
            let title = step_title_fa(entry.transition)?;
            Some(CitizenStep { title_fa: title.into(), when: When::of(entry.at), transition: entry.transition })
        })
        .collect();
    let answers: Vec<CitizenAnswer> = responses_of(conn, message_id)?
        .into_iter()
        .map(|r| CitizenAnswer {
            outcome_fa: outcome_fa(r.outcome).into(),
            id: r.id,
            outcome: r.outcome,
            body: r.body,
            attachments: r.attachments,
            when: When::of(r.responded_at),
            rating: r.rating,
        })
        .collect();
    let latest = answers.last();
    let reopen_until = reopen_until.map(from_db_time);
    let status = MessageStatus::stored(&status)?;
    let can_reopen = matches!(status, MessageStatus::Responded | MessageStatus::Closed)
        && latest.is_some_and(|a| may_reopen(reopen_until, a.when.at, reopen_working_days, now).is_ok());
    Ok(Some(CitizenView {
        status_fa: status_fa(status).into(),
        can_rate: latest.is_some_and(|a| a.rating.is_none()),
        can_reopen,
        reopen_until: reopen_until.filter(|_| can_reopen).map(When::of),
        tracking_code,
        status,
        category_fa,
        agency_name,
        received: When::of(from_db_time(received_at)),
        steps,
        answers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_or_the_last_four_digits_of_the_mobile_prove_the_citizen() {
        assert!(verifier_matches("4567", Some("09121234567"), None));
        assert!(verifier_matches("808080", Some("09121234567"), Some("808080")));
        assert!(verifier_matches("4567", Some("09121234567"), Some("808080")));
        assert!(!verifier_matches("4568", Some("09121234567"), None));
        assert!(!verifier_matches("234567", Some("09121234567"), None), "only the last four digits");
        assert!(!verifier_matches("8080", None, Some("808080")), "the whole PIN");
        assert!(!verifier_matches("4567", None, None), "nothing to prove against");
        assert!(!verifier_matches("", Some("09121234567"), Some("")));
    }

    #[test]
    fn reviews_stay_internal_and_warnings_have_a_persian_title() {
        // Every status has a title by the exhaustive match in `status_fa`.
        assert_eq!(step_title_fa(Transition::Reviewed), None, "supervisors' reviews stay internal");
        assert!(step_title_fa(Transition::Warning).is_some());
    }
}
