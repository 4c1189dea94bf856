//! The shipped calendar, checked against days worked out by hand from the 1405 calendar.

use chrono::{DateTime, Utc};

use crate::DEFAULT_CALENDAR;
use crate::calendar::{Budget, Calendar, CalendarDocument};

fn shipped() -> Calendar {
    let document: CalendarDocument = serde_json::from_str(DEFAULT_CALENDAR).unwrap();
    Calendar::from_document(document).unwrap()
}

fn due(start: &str, budget: &str) -> String {
    let calendar = shipped();
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start).unwrap().with_timezone(&Utc);
    calendar.local_rfc3339(calendar.due(start, Budget::parse(budget).unwrap(), &["tehran".to_string()]).unwrap())
}

#[test]
fn the_shipped_calendar_is_valid_and_holds_the_25_holidays_of_1405() {
    let calendar = shipped();
    assert_eq!(calendar.id, crate::DEFAULT_CALENDAR_ID);
    assert_eq!(calendar.holidays.len(), 25);
    let first = calendar.holidays.keys().next().unwrap().to_string();
    let last = calendar.holidays.keys().last().unwrap().to_string();
    assert_eq!((first.as_str(), last.as_str()), ("2026-03-21", "2027-03-20"), "1 Farvardin to 29 Esfand 1405");
}

#[test]
fn nowruz_holds_the_first_four_days() {
    // 1 Farvardin 1405 is a Saturday: the 2nd to 4th are holidays, the 5th (Wednesday) works.
    assert_eq!(due("2026-03-21T09:00:00+03:30", "1d"), "2026-03-25T14:30:00+03:30");
}

#[test]
fn the_republic_day_and_nature_day_bridge_the_weekend() {
    // Tuesday 11 Farvardin from 10:00: 4.5 h; the 12th and 13th are holidays, then Thursday
    // and Friday; 3.5 h more on Saturday the 15th.
    assert_eq!(due("2026-03-31T10:00:00+03:30", "8h"), "2026-04-04T11:00:00+03:30");
}

#[test]
fn tasua_and_ashura_are_skipped() {
    // Tuesday 2 Tir: the 3rd and 4th are Tasua and Ashura, the 5th a Friday.
    assert_eq!(due("2026-06-23T09:00:00+03:30", "1d"), "2026-06-27T14:30:00+03:30");
}

#[test]
fn the_revolution_anniversary_is_skipped() {
    // Wednesday 21 Bahman: the 22nd is a holiday (and a Thursday), then Friday.
    assert_eq!(due("2027-02-10T09:00:00+03:30", "1d"), "2027-02-13T14:30:00+03:30");
}
