//! Business calendars as data: weekly days off (configuration, never hard-coded), working
//! windows, Solar Hijri holidays, and closures that may be limited to one area (a province, a
//! district of Tehran, …). Pure arithmetic over them turns a start instant, a budget and where
//! the message is located into a due instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday, WeekdaySet};
use nazer_shared::http::FieldIssue;
use nazer_shared::iran::{self, JalaliDate};
use serde::{Deserialize, Serialize};

use crate::areas::{self, AREAS_LISTED, AreaPaths};

pub(crate) mod api;
pub mod change;
#[cfg(test)]
mod default_calendar_tests;
pub mod store;

/// The JSON form of a calendar, as imported and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDocument {
    /// 1–64 lowercase letters, digits, '.', '_' or '-'; the same as the path's.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub id: String,
    /// `Asia/Tehran` or a fixed offset such as `+03:30`.
    #[schema(pattern = "^(Asia/Tehran|[+-][0-9]+:[0-9]+)$")]
    pub timezone: String,
    /// Weekdays off, each at most once and not all seven: `saturday`, `sunday`, … `friday`.
    pub weekly_days_off: Vec<String>,
    /// At least one working window; windows may not overlap.
    pub working_hours: Vec<WindowDocument>,
    #[serde(default)]
    pub holidays: Vec<HolidayDocument>,
    #[serde(default)]
    pub closures: Vec<ClosureDocument>,
}

/// A working window of every working day, in local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDocument {
    /// HH:MM, before `to`.
    #[schema(pattern = "^[0-9]{2}:[0-9]{2}$")]
    pub from: String,
    /// HH:MM.
    #[schema(pattern = "^[0-9]{2}:[0-9]{2}$")]
    pub to: String,
}

/// An official holiday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayDocument {
    /// A Solar Hijri date, YYYY-MM-DD (e.g. 1405-01-01).
    #[schema(pattern = "^[0-9]+[-/][0-9]+[-/][0-9]+$")]
    pub date: String,
    /// The holiday's name; not blank.
    pub name: String,
}

/// A day offices are closed (air pollution, a national event): in one area — a province, a
/// district, … — or everywhere. It applies to every message located in that area or under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureDocument {
    /// A Solar Hijri date, YYYY-MM-DD.
    #[schema(pattern = "^[0-9]+[-/][0-9]+[-/][0-9]+$")]
    pub date: String,
    /// A province code such as `tehran`, or null for every province. Beside `area`, the
    /// province the area lies in (shown so).
    pub province: Option<String>,
    /// The closed area: a known area code at any level, such as `tehran` or
    /// `tehran-district-06` (`GET /api/v1/areas` lists them), or null for everywhere. Absent,
    /// `province` names it (and it is shown so).
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub area: Option<String>,
    pub reason: String,
}

impl ClosureDocument {
    /// The area closed: `area`, else `province`; None for everywhere.
    pub fn closed_area(&self) -> Option<&str> {
        self.area.as_deref().or(self.province.as_deref())
    }
}

/// A working window of a day, in local time; `from < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: NaiveTime,
    pub to: NaiveTime,
}

/// A validated calendar, ready for arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub id: String,
    pub timezone: String,
    pub offset: FixedOffset,
    pub days_off: WeekdaySet,
    /// Sorted and disjoint.
    pub windows: Vec<Window>,
    /// By Gregorian date (what the arithmetic walks), holding the holiday's name.
    pub holidays: BTreeMap<NaiveDate, String>,
    /// By Gregorian date: the areas closed (`None` = everywhere).
    pub closures: BTreeMap<NaiveDate, Vec<Option<String>>>,
    document: CalendarDocument,
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
];

/// Iran has kept UTC+03:30 all year since daylight saving was abolished in 1401 (2022).
fn offset_of(timezone: &str) -> Option<FixedOffset> {
    if timezone == "Asia/Tehran" {
        return Some(iran::tehran_offset());
    }
    let sign = match timezone.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let (hours, minutes) = timezone[1..].split_once(':')?;
    // Digits only: `parse` alone would take `++3:30`.
    let digits = |part: &str| !part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if !(0..=14).contains(&hours) || !(0..60).contains(&minutes) {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok().filter(|_| text.len() == 5)
}

impl Calendar {
    /// Validates a document; every problem is named by its JSON path. A closure naming only a
    /// province names it as its area too (and one naming only a province-level area, that
    /// province), as it is shown; whether a deeper area lies in the closure's province is for
    /// [`place_closure`], which knows the tree.
    pub fn from_document(mut document: CalendarDocument) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        if !nazer_shared::http::is_identifier(&document.id) {
            issues.push(FieldIssue::new("id", nazer_shared::http::IDENTIFIER_RULE));
        }
        let offset = offset_of(&document.timezone);
        if offset.is_none() {
            issues.push(FieldIssue::new("timezone", "use Asia/Tehran or a fixed offset such as +03:30"));
        }
        let mut days_off = WeekdaySet::EMPTY;
        for (i, name) in document.weekly_days_off.iter().enumerate() {
            match WEEKDAYS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.trim())) {
                Some((_, day)) if days_off.insert(*day) => {}
                Some(_) => {
                    issues.push(FieldIssue::new(format!("weekly_days_off[{i}]"), format!("`{name}` is listed twice")))
                }
                None => issues.push(FieldIssue::new(
                    format!("weekly_days_off[{i}]"),
                    format!("`{name}` is not a weekday; use saturday, sunday, … friday"),
                )),
            }
        }
        if days_off.len() == 7 {
            issues.push(FieldIssue::new("weekly_days_off", "every day is off: nothing could ever be due"));
        }
        let mut windows = Vec::new();
        for (i, window) in document.working_hours.iter().enumerate() {
            let from = parse_time(&window.from);
            let to = parse_time(&window.to);
            if from.is_none() {
                issues.push(FieldIssue::new(format!("working_hours[{i}].from"), "a time of day as HH:MM, 00:00–23:59"));
            }
            if to.is_none() {
                issues.push(FieldIssue::new(format!("working_hours[{i}].to"), "a time of day as HH:MM, 00:00–23:59"));
            }
            if let (Some(from), Some(to)) = (from, to) {
                if from >= to {
                    issues.push(FieldIssue::new(format!("working_hours[{i}]"), "`from` must be before `to`"));
                } else {
                    windows.push((i, Window { from, to }));
                }
            }
        }
        if document.working_hours.is_empty() {
            issues.push(FieldIssue::new("working_hours", "at least one working window is needed"));
        }
        windows.sort_by_key(|(_, w)| w.from);
        for pair in windows.windows(2) {
            let ((_, earlier), (j, later)) = (pair[0], pair[1]);
            if later.from < earlier.to {
                issues.push(FieldIssue::new(format!("working_hours[{j}]"), "overlaps another working window"));
            }
        }
        let mut holidays = BTreeMap::new();
        for (i, holiday) in document.holidays.iter().enumerate() {
            match solar_hijri_day(format!("holidays[{i}].date"), &holiday.date) {
                Ok(date) => {
                    holidays.insert(date, holiday.name.clone());
                }
                Err(issue) => issues.push(issue),
            }
            if holiday.name.trim().is_empty() {
                issues.push(FieldIssue::new(format!("holidays[{i}].name"), "is required"));
            }
        }
        let mut closures: BTreeMap<NaiveDate, Vec<Option<String>>> = BTreeMap::new();
        for (i, closure) in document.closures.iter_mut().enumerate() {
            if let Err(issue) = province_code(format!("closures[{i}].province"), &closure.province) {
                issues.push(issue);
            }
            if let Err(issue) = area_code(format!("closures[{i}].area"), closure) {
                issues.push(issue);
            }
            closure.area = closure.closed_area().map(str::to_string);
            if closure.province.is_none() {
                closure.province = closure.area.clone().filter(|area| iran::is_province(area));
            }
            match solar_hijri_day(format!("closures[{i}].date"), &closure.date) {
                Ok(date) => closures.entry(date).or_default().push(closure.area.clone()),
                Err(issue) => issues.push(issue),
            }
        }
        match offset {
            Some(offset) if issues.is_empty() => Ok(Self {
                id: document.id.clone(),
                timezone: document.timezone.clone(),
                offset,
                days_off,
                windows: windows.into_iter().map(|(_, w)| w).collect(),
                holidays,
                closures,
                document,
            }),
            _ => Err(issues),
        }
    }

    pub fn document(&self) -> &CalendarDocument {
        &self.document
    }

    /// A working day: not a weekly day off, not a holiday, not closed where the message is
    /// located (`area_path`: its area codes, province first; empty: only closures of
    /// everywhere apply).
    pub fn is_working_day(&self, date: NaiveDate, area_path: &[String]) -> bool {
        !self.days_off.contains(date.weekday())
            && !self.holidays.contains_key(&date)
            && !self
                .closures
                .get(&date)
                .is_some_and(|closed| closed.iter().any(|area| closure_applies(area.as_deref(), area_path)))
    }

    /// The instant the local day `date` begins.
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant(date, NaiveTime::MIN)
    }

    fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        // A fixed offset maps every local time to exactly one instant.
        match self.offset.from_local_datetime(&date.and_time(time)) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            chrono::LocalResult::None => date.and_time(time).and_utc(),
        }
    }

    /// The working windows of `date` as instants (none on a day off).
    pub fn windows_of(&self, date: NaiveDate, area_path: &[String]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(date, area_path) {
            return Vec::new();
        }
        self.windows.iter().map(|w| (self.instant(date, w.from), self.instant(date, w.to))).collect()
    }

    pub fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.offset).date_naive()
    }

    /// Working time of one full working day.
    pub fn hours_per_day(&self) -> Duration {
        self.windows.iter().map(|w| w.to - w.from).sum()
    }

    /// Due instant of `budget` started at `start`, for a message located in `area_path`.
    pub fn due(
        &self,
        start: DateTime<Utc>,
        budget: Budget,
        area_path: &[String],
    ) -> Result<DateTime<Utc>, CalendarError> {
        match budget {
            Budget::Plain(duration) => Ok(start + duration),
            Budget::BusinessHours(hours) => self.add_working_time(start, Duration::hours(i64::from(hours)), area_path),
            Budget::BusinessDays(days) => self.add_working_days(start, days, area_path),
        }
    }

    /// Counts only time inside working windows; a start outside one counts from the next
    /// opening; reaching the budget exactly at a close gives that close.
    pub fn add_working_time(
        &self,
        start: DateTime<Utc>,
        budget: Duration,
        area_path: &[String],
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut remaining = budget;
        let mut date = self.local_date(start);
        for _ in 0..MAX_DAYS_SEARCHED {
            for (open, close) in self.windows_of(date, area_path) {
                if close <= start {
                    continue;
                }
                let from = open.max(start);
                let available = close - from;
                if remaining <= available {
                    return Ok(from + remaining);
                }
                remaining -= available;
            }
            date = date.succ_opt().ok_or(CalendarError::NoWorkingTime)?;
        }
        Err(CalendarError::NoWorkingTime)
    }

    /// Working time inside [from, to): what `add_working_time` from `from` would count up to `to`.
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, area_path: &[String]) -> Duration {
        let mut total = Duration::zero();
        let mut date = self.local_date(from);
        let last = self.local_date(to);
        while date <= last {
            for (open, close) in self.windows_of(date, area_path) {
                let (start, end) = (open.max(from), close.min(to));
                if start < end {
                    total += end - start;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        total
    }

    /// The close of the `days`-th working day strictly after the start's local date.
    pub fn add_working_days(
        &self,
        start: DateTime<Utc>,
        days: u32,
        area_path: &[String],
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut date = self.local_date(start);
        let mut counted = 0;
        for _ in 0..MAX_DAYS_SEARCHED {
            date = date.succ_opt().ok_or(CalendarError::NoWorkingTime)?;
            if self.is_working_day(date, area_path) {
                counted += 1;
                if counted == days {
                    let close = self.windows.last().map(|w| w.to).ok_or(CalendarError::NoWorkingTime)?;
                    return Ok(self.instant(date, close));
                }
            }
        }
        Err(CalendarError::NoWorkingTime)
    }

    /// An instant in the calendar's own offset, as people read it (RFC 3339).
    pub fn local_rfc3339(&self, instant: DateTime<Utc>) -> String {
        instant.with_timezone(&self.offset).to_rfc3339()
    }
}

/// How far ahead the arithmetic looks before deciding a calendar has no working time left.
const MAX_DAYS_SEARCHED: usize = 3 * 366;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the calendar has no working time within three years of the start")]
    NoWorkingTime,
}

pub use nazer_shared::duration::{Budget, BudgetError};

/// A Solar Hijri day as a request or document writes it, or the issue naming `field`.
pub(crate) fn solar_hijri_day(field: impl Into<String>, text: &str) -> Result<NaiveDate, FieldIssue> {
    JalaliDate::parse(text)
        .and_then(JalaliDate::to_gregorian)
        .ok_or_else(|| FieldIssue::new(field, format!("`{text}` is not a Solar Hijri date YYYY-MM-DD")))
}

/// A closure's province: absent for everywhere, else a known province code.
pub(crate) fn province_code(field: impl Into<String>, province: &Option<String>) -> Result<(), FieldIssue> {
    match province {
        Some(code) if !iran::is_province(code) => Err(FieldIssue::new(
            field,
            format!("`{code}` is not a province code; use null for everywhere or one of: {}", iran::province_codes()),
        )),
        _ => Ok(()),
    }
}

/// What can be said of a closure's area without the tree: it is written as an area code, and
/// a province-level one is the closure's province when that is given too.
pub(crate) fn area_code(field: impl Into<String>, closure: &ClosureDocument) -> Result<(), FieldIssue> {
    match (&closure.area, &closure.province) {
        (Some(area), _) if !nazer_shared::http::is_identifier(area) => {
            Err(FieldIssue::new(field, format!("`{area}` is not an area code; {AREAS_LISTED}")))
        }
        (Some(area), Some(province)) if iran::is_province(area) && area != province => Err(FieldIssue::new(
            field,
            format!("`{area}` is a province other than `{province}`; give one of them, or an area in `{province}`"),
        )),
        _ => Ok(()),
    }
}

/// Whether a closure of `area` (None: everywhere) applies to a message located in `area_path`
/// (its area codes, province first): it does when the message lies in that area or under it.
pub fn closure_applies(area: Option<&str>, area_path: &[String]) -> bool {
    area.is_none_or(|code| area_path.iter().any(|a| a == code))
}

/// A closure placed in the tree of `known` areas: its area stated (its province, when only that
/// is given) and its province set to the one the area lies in. An unknown area, or one in
/// another province than `province` says, is named by `field`. Returns the area's path (empty
/// for everywhere).
pub fn place_closure(field: &str, closure: &mut ClosureDocument, known: &AreaPaths) -> Result<Vec<String>, FieldIssue> {
    let Some(area) = closure.area.clone() else {
        closure.area = closure.province.clone();
        return Ok(closure.province.iter().cloned().collect());
    };
    let path = areas::locate(&area, closure.province.as_deref(), known).map_err(|p| FieldIssue::new(field, p))?;
    closure.province = path.first().cloned();
    Ok(path.to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tehran() -> Calendar {
        let document: CalendarDocument = serde_json::from_value(serde_json::json!({
            "id": "iran-gov-1405", "timezone": "Asia/Tehran",
            "weekly_days_off": ["thursday", "friday"],
            "working_hours": [{"from": "07:30", "to": "14:30"}],
            "holidays": [
                {"date": "1405-01-01", "name": "نوروز"}, {"date": "1405-01-02", "name": "نوروز"},
                {"date": "1405-01-03", "name": "نوروز"}, {"date": "1405-01-04", "name": "نوروز"}
            ],
            "closures": [
                {"date": "1405-09-10", "province": "tehran", "reason": "آلودگی هوا"},
                {"date": "1405-09-14", "province": null, "reason": "تعطیلی سراسری"}
            ]
        }))
        .unwrap();
        Calendar::from_document(document).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// Area codes, province first.
    pub(crate) fn path(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    fn due(calendar: &Calendar, start: &str, budget: &str, area_path: &[&str]) -> String {
        calendar.local_rfc3339(calendar.due(at(start), Budget::parse(budget).unwrap(), &path(area_path)).unwrap())
    }

    #[test]
    fn timezones_are_tehran_or_a_plain_offset() {
        assert_eq!(offset_of("Asia/Tehran"), Some(iran::tehran_offset()));
        assert_eq!(offset_of("+03:30").map(|o| o.local_minus_utc()), Some(12_600));
        assert_eq!(offset_of("-05:00").map(|o| o.local_minus_utc()), Some(-18_000));
        for bad in ["++3:30", "+-3:30", "+3:+30", "+03", "+003:30", "+15:00", "03:30", ""] {
            assert_eq!(offset_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn budgets_parse() {
        assert_eq!(Budget::parse("8h"), Ok(Budget::BusinessHours(8)));
        assert_eq!(Budget::parse("3d"), Ok(Budget::BusinessDays(3)));
        assert_eq!(Budget::parse("PT30S"), Ok(Budget::Plain(Duration::seconds(30))));
        for bad in ["", "h", "0h", "3 d", "-1d", "3D", "d3", "PT"] {
            assert!(Budget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hours_count_inside_windows_only() {
        let calendar = tehran();
        // Sunday 1405-09-08 (2026-11-29) 10:00 Tehran: 4.5 h left that day, 3.5 h on Monday.
        assert_eq!(due(&calendar, "2026-11-29T10:00:00+03:30", "8h", &[]), "2026-11-30T11:00:00+03:30");
        // Reaching the budget exactly at the close gives the close.
        assert_eq!(due(&calendar, "2026-11-29T07:30:00+03:30", "7h", &[]), "2026-11-29T14:30:00+03:30");
        // A start after hours begins at the next opening.
        assert_eq!(due(&calendar, "2026-11-29T20:00:00+03:30", "1h", &[]), "2026-11-30T08:30:00+03:30");
    }

    #[test]
    fn the_weekend_is_skipped() {
        let calendar = tehran();
        // Wednesday 1405-09-11 (2026-12-02) 13:30: one hour that day; Thursday and Friday are
        // off and Saturday 1405-09-14 is closed everywhere, so the next hour is on Sunday.
        assert_eq!(due(&calendar, "2026-12-02T13:30:00+03:30", "2h", &[]), "2026-12-06T08:30:00+03:30");
    }

    #[test]
    fn days_close_on_the_nth_working_day_after_arrival() {
        let calendar = tehran();
        // Arrival on Sunday 1405-09-08 never counts: Mon, Tue, Wed → Wednesday's close.
        assert_eq!(due(&calendar, "2026-11-29T09:00:00+03:30", "3d", &["isfahan"]), "2026-12-02T14:30:00+03:30");
        // Arrival on Wednesday: Thursday and Friday are off, Saturday is closed → Sunday's close.
        assert_eq!(due(&calendar, "2026-12-02T23:59:00+03:30", "1d", &[]), "2026-12-06T14:30:00+03:30");
    }

    #[test]
    fn provincial_closures_apply_to_their_province_only() {
        let calendar = tehran();
        // 1405-09-10 (2026-12-01, Tuesday) is closed in Tehran only.
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &["tehran"]), "2026-12-02T14:30:00+03:30");
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &["isfahan"]), "2026-12-01T14:30:00+03:30");
        // 1405-09-14 (2026-12-05, Saturday) is closed everywhere.
        assert_eq!(due(&calendar, "2026-12-02T09:00:00+03:30", "1d", &["isfahan"]), "2026-12-06T14:30:00+03:30");
    }

    #[test]
    fn nowruz_is_skipped() {
        let calendar = tehran();
        // Esfand 29, 1404 (2026-03-20) is a Friday; 1405-01-01..04 (March 21–24) are holidays;
        // March 25 is a Wednesday.
        assert_eq!(due(&calendar, "2026-03-19T12:00:00+03:30", "1d", &[]), "2026-03-25T14:30:00+03:30");
    }

    #[test]
    fn tehran_keeps_one_offset_all_year() {
        let calendar = tehran();
        // Midsummer, when Iran once moved its clocks: still 07:30 Tehran = 04:00 UTC.
        let due = calendar.due(at("2026-07-11T00:00:00Z"), Budget::BusinessHours(1), &[]).unwrap();
        assert_eq!(due, at("2026-07-11T05:00:00Z"));
    }

    #[test]
    fn invalid_documents_name_every_bad_field() {
        let document: CalendarDocument = serde_json::from_value(serde_json::json!({
            "id": "x", "timezone": "Mars/Olympus",
            "weekly_days_off": ["caturday"],
            "working_hours": [{"from": "08:00", "to": "12:00"}, {"from": "11:00", "to": "13:00"}, {"from": "25:00", "to": "26:00"}],
            "holidays": [{"date": "1405-13-01", "name": "x"}],
            "closures": [{"date": "1404-12-30", "province": "atlantis", "reason": "r"},
                         {"date": "1405-09-10", "area": "Tehran District 6", "reason": "r"},
                         {"date": "1405-09-10", "province": "tehran", "area": "fars", "reason": "r"}]
        }))
        .unwrap();
        let fields: Vec<String> = Calendar::from_document(document).unwrap_err().into_iter().map(|i| i.field).collect();
        assert_eq!(
            fields,
            [
                "timezone",
                "weekly_days_off[0]",
                "working_hours[2].from",
                "working_hours[2].to",
                "working_hours[1]",
                "holidays[0].date",
                "closures[0].province",
                "closures[0].date",
                "closures[1].area",
                "closures[2].area",
            ]
        );
    }

    /// Two windows a day with a lunch break, Friday only off: 7 working hours a day too.
    fn split_day() -> Calendar {
        let document: CalendarDocument = serde_json::from_value(serde_json::json!({
            "id": "split", "timezone": "+03:30", "weekly_days_off": ["friday"],
            "working_hours": [{"from": "13:00", "to": "16:00"}, {"from": "08:00", "to": "12:00"}],
            "holidays": [{"date": "1405-01-01", "name": "نوروز"}]
        }))
        .unwrap();
        Calendar::from_document(document).unwrap()
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        // 2026-03-01 .. 2027-03-01, in seconds.
        const FROM: i64 = 1_772_323_200;
        const TO: i64 = 1_803_859_200;

        fn calendars() -> [Calendar; 2] {
            [tehran(), split_day()]
        }

        fn instant(seconds: i64) -> DateTime<Utc> {
            DateTime::from_timestamp(seconds, 0).unwrap()
        }

        fn tehran_path() -> Vec<String> {
            path(&["tehran"])
        }

        fn inside_a_window(calendar: &Calendar, due: DateTime<Utc>, area_path: &[String]) -> bool {
            calendar
                .windows_of(calendar.local_date(due), area_path)
                .iter()
                .any(|(open, close)| *open < due && due <= *close)
        }

        proptest! {
            #[test]
            fn due_grows_with_the_budget(start in FROM..TO, a in 1u32..60, b in 1u32..60, which in 0usize..2) {
                let calendar = &calendars()[which];
                let (small, large) = (a.min(b), a.max(b));
                let start = instant(start);
                for (low, high) in [
                    (Budget::BusinessHours(small), Budget::BusinessHours(large)),
                    (Budget::BusinessDays(small), Budget::BusinessDays(large)),
                ] {
                    prop_assert!(calendar.due(start, low, &tehran_path()).unwrap() <= calendar.due(start, high, &tehran_path()).unwrap());
                }
            }

            #[test]
            fn a_due_instant_falls_inside_a_working_window(start in FROM..TO, n in 1u32..40, which in 0usize..2) {
                let calendar = &calendars()[which];
                let start = instant(start);
                let hours = calendar.due(start, Budget::BusinessHours(n), &tehran_path()).unwrap();
                prop_assert!(inside_a_window(calendar, hours, &tehran_path()), "{hours}");
                let days = calendar.due(start, Budget::BusinessDays(n), &tehran_path()).unwrap();
                prop_assert!(inside_a_window(calendar, days, &tehran_path()), "{days}");
                prop_assert!(calendar.local_date(days) > calendar.local_date(start));
            }

            #[test]
            fn days_and_hours_agree_on_whole_working_days(day in 0i64..365, n in 1u32..30, which in 0usize..2) {
                let calendar = &calendars()[which];
                let date = instant(FROM).date_naive() + Duration::days(day);
                prop_assume!(calendar.is_working_day(date, &[]));
                let close = calendar.windows_of(date, &[]).last().unwrap().1;
                let per_day = calendar.hours_per_day().num_hours() as u32;
                prop_assert_eq!(
                    calendar.due(close, Budget::BusinessDays(n), &[]).unwrap(),
                    calendar.due(close, Budget::BusinessHours(n * per_day), &[]).unwrap()
                );
            }

            #[test]
            fn the_same_instant_in_utc_or_tehran_time_gives_the_same_due(start in FROM..TO, n in 1u32..20) {
                let calendar = tehran();
                let moment = instant(start);
                let in_utc = DateTime::parse_from_rfc3339(&moment.to_rfc3339()).unwrap().with_timezone(&Utc);
                let in_tehran = DateTime::parse_from_rfc3339(&calendar.local_rfc3339(moment)).unwrap().with_timezone(&Utc);
                for budget in [Budget::BusinessHours(n), Budget::BusinessDays(n)] {
                    prop_assert_eq!(calendar.due(in_utc, budget, &[]).unwrap(), calendar.due(in_tehran, budget, &[]).unwrap());
                }
            }
        }
    }

    const DISTRICT_06: [&str; 3] = ["tehran", "tehran-city", "tehran-district-06"];
    const DISTRICT_07: [&str; 3] = ["tehran", "tehran-city", "tehran-district-07"];
    const NEIGHBOURHOOD: [&str; 5] =
        ["tehran", "tehran-city", "tehran-district-06", "tehran-subdistrict-06-1", "tehran-neighbourhood-yusefabad"];

    #[test]
    fn a_province_closure_applies_to_every_message_located_in_the_province() {
        assert!(closure_applies(Some("tehran"), &path(&["tehran"])));
        assert!(closure_applies(Some("tehran"), &path(&DISTRICT_06)));
        assert!(closure_applies(Some("tehran"), &path(&NEIGHBOURHOOD)));
        assert!(!closure_applies(Some("tehran"), &path(&["fars"])));
        assert!(!closure_applies(Some("tehran"), &[]), "a message located nowhere");
    }

    #[test]
    fn a_district_closure_applies_to_its_district_and_what_lies_under_it_only() {
        let district = Some("tehran-district-06");
        assert!(closure_applies(district, &path(&DISTRICT_06)));
        assert!(closure_applies(district, &path(&NEIGHBOURHOOD)));
        assert!(!closure_applies(district, &path(&DISTRICT_07)), "not the neighbouring district");
        assert!(!closure_applies(district, &path(&["tehran"])), "not a message known by its province alone");
        assert!(!closure_applies(district, &path(&["tehran", "tehran-city"])), "not the city around it");
    }

    #[test]
    fn a_closure_of_everywhere_applies_to_every_message() {
        for area_path in [path(&[]), path(&["fars"]), path(&NEIGHBOURHOOD)] {
            assert!(closure_applies(None, &area_path), "{area_path:?}");
        }
    }

    #[test]
    fn the_arithmetic_skips_a_day_closed_in_the_messages_district_only() {
        let mut document = tehran().document().clone();
        document.closures.push(ClosureDocument {
            date: "1405-09-11".into(),
            province: None,
            area: Some("tehran-district-06".into()),
            reason: "آلودگی هوا".into(),
        });
        let calendar = Calendar::from_document(document).unwrap();
        // Monday 1405-09-09: Tuesday is closed in all Tehran, Wednesday in district 6 only.
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &NEIGHBOURHOOD), "2026-12-06T14:30:00+03:30");
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &DISTRICT_07), "2026-12-02T14:30:00+03:30");
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &["tehran"]), "2026-12-02T14:30:00+03:30");
        assert_eq!(due(&calendar, "2026-11-30T09:00:00+03:30", "1d", &["fars"]), "2026-12-01T14:30:00+03:30");
    }

    #[test]
    fn a_closure_shows_its_area_beside_its_province() {
        let calendar = tehran();
        let shown: Vec<(Option<&str>, Option<&str>)> =
            calendar.document().closures.iter().map(|c| (c.province.as_deref(), c.area.as_deref())).collect();
        assert_eq!(shown, [(Some("tehran"), Some("tehran")), (None, None)]);
        let mut document = calendar.document().clone();
        document.closures = vec![ClosureDocument {
            date: "1405-09-10".into(),
            province: None,
            area: Some("isfahan".into()),
            reason: "r".into(),
        }];
        let calendar = Calendar::from_document(document).unwrap();
        let closure = &calendar.document().closures[0];
        assert_eq!((closure.province.as_deref(), closure.area.as_deref()), (Some("isfahan"), Some("isfahan")));
    }

    fn known() -> AreaPaths {
        [path(&["tehran"]), path(&DISTRICT_06), path(&["fars"])]
            .into_iter()
            .map(|p| (p.last().unwrap().clone(), p))
            .collect()
    }

    fn closure(province: Option<&str>, area: Option<&str>) -> ClosureDocument {
        ClosureDocument {
            date: "1405-09-10".into(),
            province: province.map(str::to_string),
            area: area.map(str::to_string),
            reason: "r".into(),
        }
    }

    #[test]
    fn a_closure_is_placed_in_the_tree() {
        let mut by_area = closure(None, Some("tehran-district-06"));
        assert_eq!(place_closure("area", &mut by_area, &known()).unwrap(), DISTRICT_06);
        assert_eq!(by_area, closure(Some("tehran"), Some("tehran-district-06")), "its province is shown");
        let mut both = closure(Some("tehran"), Some("tehran-district-06"));
        assert_eq!(place_closure("area", &mut both, &known()).unwrap(), DISTRICT_06);
        let mut by_province = closure(Some("fars"), None);
        assert_eq!(place_closure("area", &mut by_province, &known()).unwrap(), ["fars"]);
        assert_eq!(by_province, closure(Some("fars"), Some("fars")));
        let mut everywhere = closure(None, None);
        assert!(place_closure("area", &mut everywhere, &known()).unwrap().is_empty());
        assert_eq!(everywhere, closure(None, None));
    }

    #[test]
    fn an_unknown_area_or_one_in_another_province_is_named() {
        let issue = place_closure("area", &mut closure(None, Some("tehran-district-99")), &known()).unwrap_err();
        assert_eq!(issue.field, "area");
        assert!(issue.problem.contains("GET /api/v1/areas"), "{}", issue.problem);
        let issue = place_closure("closures[2].area", &mut closure(Some("fars"), Some("tehran-district-06")), &known())
            .unwrap_err();
        assert_eq!(issue.field, "closures[2].area");
        assert!(issue.problem.contains("lies in `tehran`"), "{}", issue.problem);
    }

    #[test]
    fn a_document_round_trips() {
        let calendar = tehran();
        let again = Calendar::from_document(calendar.document().clone()).unwrap();
        assert_eq!(again, calendar);
    }
}
