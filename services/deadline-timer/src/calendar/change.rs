//! Changing a stored calendar: replacing it, or adding and removing one holiday or closure.
//! The change and the deadlines it moves commit together; changes to one calendar are
//! serialised, and clocks being started on it wait for the change (or it for them).

use chrono::{DateTime, NaiveDate, Utc};
use nazer_shared::db::{DbConnection, DbError, lock_key};
use nazer_shared::http::{ApiError, FieldIssue};

use crate::calendar::store as calendar_store;
use crate::calendar::{Calendar, CalendarDocument, ClosureDocument, HolidayDocument, province_code, solar_hijri_day};
use crate::deadlines::moving::{self, Touched};

/// The advisory lock that orders changes of a calendar against clocks started on it.
pub fn calendar_lock(id: &str) -> String {
    format!("calendar:{id}")
}

#[derive(Debug, Clone, PartialEq)]
pub enum CalendarEdit {
    Replace(CalendarDocument),
    AddHoliday(HolidayDocument),
    RemoveHoliday { date: String },
    AddClosure(ClosureDocument),
    RemoveClosure { date: String, province: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no calendar has this id")]
    NoCalendar,
    #[error("invalid fields")]
    Invalid(Vec<FieldIssue>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Missing(String),
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Db(error) => error.into(),
            error @ ChangeError::NoCalendar => ApiError::NotFound(error.to_string()),
            ChangeError::Invalid(issues) => ApiError::invalid(issues),
            ChangeError::Conflict(detail) => ApiError::Conflict(detail),
            ChangeError::Missing(detail) => ApiError::NotFound(detail),
        }
    }
}

#[derive(Debug)]
pub struct Changed {
    pub calendar: Calendar,
    pub created: bool,
    pub deadlines_moved: usize,
}

/// Applies `edit` to the document: the new document, what it touches and why.
fn apply(
    document: Option<CalendarDocument>,
    edit: CalendarEdit,
) -> Result<(CalendarDocument, Touched, String), ChangeError> {
    let same_day = |a: &str, b: NaiveDate| solar_hijri_day("date", a).is_ok_and(|d| d == b);
    if let CalendarEdit::Replace(new) = edit {
        return Ok((new, Touched::default(), "calendar replaced".into()));
    }
    let mut document = document.ok_or(ChangeError::NoCalendar)?;
    match edit {
        CalendarEdit::Replace(_) => Err(ChangeError::NoCalendar),
        CalendarEdit::AddHoliday(holiday) => {
            let mut issues = Vec::new();
            let day = solar_hijri_day("date", &holiday.date).map_err(|i| issues.push(i)).ok();
            if holiday.name.trim().is_empty() {
                issues.push(FieldIssue::new("name", "is required, e.g. «عید سعید فطر»"));
            }
            let Some(day) = day.filter(|_| issues.is_empty()) else { return Err(ChangeError::Invalid(issues)) };
            if document.holidays.iter().any(|h| same_day(&h.date, day)) {
                return Err(ChangeError::Conflict(format!("{} is already a holiday", holiday.date)));
            }
            let reason = format!("holiday {} added", holiday.date);
            document.holidays.push(holiday);
            Ok((document, Touched { day: Some(day), province: None }, reason))
        }
        CalendarEdit::RemoveHoliday { date } => {
            let day = solar_hijri_day("date", &date).map_err(|i| ChangeError::Invalid(vec![i]))?;
            let before = document.holidays.len();
            document.holidays.retain(|h| !same_day(&h.date, day));
            if document.holidays.len() == before {
                return Err(ChangeError::Missing(format!("{date} is not a holiday of this calendar")));
            }
            Ok((document, Touched { day: Some(day), province: None }, format!("holiday {date} removed")))
        }
        CalendarEdit::AddClosure(closure) => {
            let mut issues = Vec::new();
            let day = solar_hijri_day("date", &closure.date).map_err(|i| issues.push(i)).ok();
            if let Err(issue) = province_code("province", &closure.province) {
                issues.push(issue);
            }
            if closure.reason.trim().is_empty() {
                issues.push(FieldIssue::new("reason", "is required, e.g. «آلودگی هوا»"));
            }
            let Some(day) = day.filter(|_| issues.is_empty()) else { return Err(ChangeError::Invalid(issues)) };
            if document.closures.iter().any(|c| same_day(&c.date, day) && c.province == closure.province) {
                return Err(ChangeError::Conflict(format!("this closure of {} already exists", closure.date)));
            }
            let reason = format!("closure {} ({}) added", closure.date, closure.province.as_deref().unwrap_or("all"));
            let province = closure.province.clone();
            document.closures.push(closure);
            Ok((document, Touched { day: Some(day), province }, reason))
        }
        CalendarEdit::RemoveClosure { date, province } => {
            let day = solar_hijri_day("date", &date).map_err(|i| ChangeError::Invalid(vec![i]))?;
            province_code("province", &province).map_err(|i| ChangeError::Invalid(vec![i]))?;
            let before = document.closures.len();
            document.closures.retain(|c| !(same_day(&c.date, day) && c.province == province));
            if document.closures.len() == before {
                return Err(ChangeError::Missing(format!("no such closure of {date} in this calendar")));
            }
            let reason = format!("closure {date} ({}) removed", province.as_deref().unwrap_or("all"));
            Ok((document, Touched { day: Some(day), province }, reason))
        }
    }
}

/// Changes calendar `id` and moves the deadlines the change touches. Call it in a write
/// transaction.
pub fn change_calendar(
    conn: &mut DbConnection,
    id: &str,
    edit: CalendarEdit,
    now: DateTime<Utc>,
) -> Result<Changed, ChangeError> {
    lock_key(conn, &calendar_lock(id))?;
    let existing = calendar_store::find_calendar(conn, id)?;
    let created = existing.is_none();
    let (document, touched, reason) = apply(existing.map(|c| c.document().clone()), edit)?;
    let calendar = Calendar::from_document(document).map_err(ChangeError::Invalid)?;
    calendar_store::put_calendar(conn, &calendar, now)?;
    let deadlines_moved = if created { 0 } else { moving::move_deadlines(conn, &calendar, &touched, &reason, now)? };
    Ok(Changed { calendar, created, deadlines_moved })
}
