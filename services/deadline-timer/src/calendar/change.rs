//! Changing a stored calendar: replacing it, or adding and removing one holiday or closure.
//! The change and the deadlines it moves commit together; changes to one calendar are
//! serialised, and clocks being started on it wait for the change (or it for them).

use chrono::{DateTime, NaiveDate, Utc};
use nazer_shared::db::{DbConnection, DbError, lock_key};
use nazer_shared::http::{ApiError, FieldIssue};

use crate::areas::AreaPaths;
use crate::areas::store as area_store;
use crate::calendar::store as calendar_store;
use crate::calendar::{
    Calendar, CalendarDocument, ClosureDocument, HolidayDocument, area_code, place_closure, province_code,
    solar_hijri_day,
};
use crate::deadlines::moving::{self, Touched};

/// The advisory lock that orders changes of a calendar against clocks started on it.
pub fn calendar_lock(id: &str) -> String {
    format!("calendar:{id}")
}

/// A change of a calendar. A closure is removed by its date and its area (else its province;
/// neither: the closure of everywhere).
#[derive(Debug, Clone, PartialEq)]
pub enum CalendarEdit {
    Replace(CalendarDocument),
    AddHoliday(HolidayDocument),
    RemoveHoliday { date: String },
    AddClosure(ClosureDocument),
    RemoveClosure { date: String, province: Option<String>, area: Option<String> },
}

impl CalendarEdit {
    /// The area codes the edit names, to be looked up in the tree.
    fn areas(&self) -> Vec<&str> {
        match self {
            CalendarEdit::Replace(document) => document.closures.iter().filter_map(|c| c.area.as_deref()).collect(),
            CalendarEdit::AddClosure(closure) => closure.area.as_deref().into_iter().collect(),
            CalendarEdit::RemoveClosure { area, .. } => area.as_deref().into_iter().collect(),
            CalendarEdit::AddHoliday(_) | CalendarEdit::RemoveHoliday { .. } => Vec::new(),
        }
    }
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

/// Applies `edit` to the document, the areas it names placed in the tree of the `known` ones:
/// the new document, what it touches and why.
fn apply(
    document: Option<CalendarDocument>,
    edit: CalendarEdit,
    known: &AreaPaths,
) -> Result<(CalendarDocument, Touched, String), ChangeError> {
    let same_day = |a: &str, b: NaiveDate| solar_hijri_day("date", a).is_ok_and(|d| d == b);
    if let CalendarEdit::Replace(mut new) = edit {
        let mut issues = Vec::new();
        for (i, closure) in new.closures.iter_mut().enumerate() {
            if let Err(issue) = place_closure(&format!("closures[{i}].area"), closure, known) {
                issues.push(issue);
            }
        }
        if !issues.is_empty() {
            return Err(ChangeError::Invalid(issues));
        }
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
            Ok((document, Touched { day: Some(day), area: None }, reason))
        }
        CalendarEdit::RemoveHoliday { date } => {
            let day = solar_hijri_day("date", &date).map_err(|i| ChangeError::Invalid(vec![i]))?;
            let before = document.holidays.len();
            document.holidays.retain(|h| !same_day(&h.date, day));
            if document.holidays.len() == before {
                return Err(ChangeError::Missing(format!("{date} is not a holiday of this calendar")));
            }
            Ok((document, Touched { day: Some(day), area: None }, format!("holiday {date} removed")))
        }
        CalendarEdit::AddClosure(mut closure) => {
            let mut issues = Vec::new();
            let day = solar_hijri_day("date", &closure.date).map_err(|i| issues.push(i)).ok();
            locate(&mut closure, known, &mut issues);
            if closure.reason.trim().is_empty() {
                issues.push(FieldIssue::new("reason", "is required, e.g. «آلودگی هوا»"));
            }
            let Some(day) = day.filter(|_| issues.is_empty()) else { return Err(ChangeError::Invalid(issues)) };
            let area = closure.closed_area().map(str::to_string);
            if document.closures.iter().any(|c| same_day(&c.date, day) && c.closed_area() == area.as_deref()) {
                return Err(ChangeError::Conflict(format!("this closure of {} already exists", closure.date)));
            }
            let reason = format!("closure {} ({}) added", closure.date, area.as_deref().unwrap_or("all"));
            document.closures.push(closure);
            Ok((document, Touched { day: Some(day), area }, reason))
        }
        CalendarEdit::RemoveClosure { date, province, area } => {
            let mut issues = Vec::new();
            let day = solar_hijri_day("date", &date).map_err(|i| issues.push(i)).ok();
            let mut closure = ClosureDocument { date: date.clone(), province, area, reason: String::new() };
            locate(&mut closure, known, &mut issues);
            let Some(day) = day.filter(|_| issues.is_empty()) else { return Err(ChangeError::Invalid(issues)) };
            let area = closure.closed_area().map(str::to_string);
            let before = document.closures.len();
            document.closures.retain(|c| !(same_day(&c.date, day) && c.closed_area() == area.as_deref()));
            if document.closures.len() == before {
                return Err(ChangeError::Missing(format!("no such closure of {date} in this calendar")));
            }
            let reason = format!("closure {date} ({}) removed", area.as_deref().unwrap_or("all"));
            Ok((document, Touched { day: Some(day), area }, reason))
        }
    }
}

/// Checks the `province` and `area` of a closure added or removed and places it in the tree,
/// adding what is wrong to `issues`.
fn locate(closure: &mut ClosureDocument, known: &AreaPaths, issues: &mut Vec<FieldIssue>) {
    let province = province_code("province", &closure.province);
    let written = area_code("area", closure);
    match (province, written) {
        (Ok(()), Ok(())) => issues.extend(place_closure("area", closure, known).err()),
        (province, written) => issues.extend(province.err().into_iter().chain(written.err())),
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
    let known = area_store::paths_of(conn, edit.areas())?;
    let (document, touched, reason) = apply(existing.map(|c| c.document().clone()), edit, &known)?;
    let calendar = Calendar::from_document(document).map_err(ChangeError::Invalid)?;
    calendar_store::put_calendar(conn, &calendar, now)?;
    let deadlines_moved = if created { 0 } else { moving::move_deadlines(conn, &calendar, &touched, &reason, now)? };
    Ok(Changed { calendar, created, deadlines_moved })
}
