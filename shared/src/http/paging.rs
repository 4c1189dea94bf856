//! Lists in pages: a stable order (an instant, then the id), an opaque cursor naming where the
//! previous page ended, and the sort direction. Each list applies the cursor to its own table.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::FieldIssue;

/// Where a page ended: the last item's ordering instant and id (`<microseconds>_<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: NaiveDateTime,
    pub id: String,
}

/// The years of an instant both backends store.
const STORED_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.and_utc().timestamp_micros(), self.id)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
        // No list stores an instant outside these years, and PostgreSQL refuses (a 500) some that
        // chrono reads (before 4713 BC), so such a cursor was never one of ours.
        if !STORED_YEARS.contains(&at.year()) {
            return None;
        }
        uuid::Uuid::parse_str(id).ok()?;
        Some(Self { at, id: id.to_string() })
    }
}

/// The `cursor` parameter, or what is wrong with it (added to `issues`).
pub fn cursor_param(text: Option<&str>, issues: &mut Vec<FieldIssue>) -> Option<Cursor> {
    let text = text?;
    let cursor = Cursor::parse(text);
    if cursor.is_none() {
        issues.push(FieldIssue::new("cursor", "pass back the `next_cursor` of the previous page unchanged"));
    }
    cursor
}

/// The default order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    /// A work queue: the longest waiting first.
    OldestFirst,
}

/// Whether a list runs newest first: `sort` is `<field>` (oldest first) or `-<field>` (newest
/// first); absent, the list's `default`; anything else is added to `issues`.
pub fn newest_first(field: &str, sort: Option<&str>, default: Order, issues: &mut Vec<FieldIssue>) -> bool {
    match sort {
        None => default == Order::NewestFirst,
        Some(text) if text.strip_prefix('-') == Some(field) => true,
        Some(text) if text == field => false,
        Some(_) => {
            let (oldest, newest) = match default {
                Order::NewestFirst => ("", ", the default"),
                Order::OldestFirst => (", the default", ""),
            };
            issues.push(FieldIssue::new(
                "sort",
                format!("{field} (oldest first{oldest}) or -{field} (newest first{newest})"),
            ));
            default == Order::NewestFirst
        }
    }
}

/// Orders a boxed Diesel query by `(at, id)` in the list's direction and, given a cursor, starts
/// it just after the cursor's item: the same keyset wherever a list pages.
#[macro_export]
macro_rules! keyset {
    ($query:expr, $at:expr, $id:expr, $after:expr, $newest_first:expr) => {{
        let mut query = $query;
        let newest_first: bool = $newest_first;
        if let Some($crate::http::paging::Cursor { at, id }) = $after {
            query = if newest_first {
                query.filter($at.lt(at).or($at.eq(at).and($id.lt(id))))
            } else {
                query.filter($at.gt(at).or($at.eq(at).and($id.gt(id))))
            };
        }
        if newest_first { query.order(($at.desc(), $id.desc())) } else { query.order(($at.asc(), $id.asc())) }
    }};
}

/// Keeps the rows of a boxed Diesel query whose `at` lies in the period [`from`, `until`) (each
/// bound optional), as every list's `from`/`to` filter reads.
#[macro_export]
macro_rules! period {
    ($query:expr, $at:expr, $from:expr, $until:expr) => {{
        let mut query = $query;
        if let Some(from) = $from {
            query = query.filter($at.ge($crate::db::to_db_time(from)));
        }
        if let Some(until) = $until {
            query = query.filter($at.lt($crate::db::to_db_time(until)));
        }
        query
    }};
}

/// One page of `rows` fetched with `limit + 1` (the extra row says another page follows), and
/// the cursor of that next page.
pub fn page<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|last| cursor_of(last).encode());
    (rows, next)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_refuses_anything_else() {
        let at = DateTime::<Utc>::from_timestamp_micros(1_764_400_000_123_456).unwrap().naive_utc();
        let cursor = Cursor { at, id: "01a22750-dc1b-7267-b816-dfb7dae0045e".into() };
        assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        for bad in ["", "123", "abc_01a22750-dc1b-7267-b816-dfb7dae0045e", "1764400000123456_x"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_cursor_outside_the_years_both_backends_store_is_refused() {
        let id = "01a22750-dc1b-7267-b816-dfb7dae0045e";
        let at = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(0, 0, 0).unwrap();
        for edge in [at(1, 1, 1), at(9999, 12, 31)] {
            let cursor = Cursor { at: edge, id: id.into() };
            assert_eq!(Cursor::parse(&cursor.encode()), Some(cursor));
        }
        // chrono reaches ±262143; PostgreSQL starts at 4713 BC.
        for outside in [at(0, 12, 31), at(-5000, 1, 1), at(10000, 1, 1), at(262_000, 1, 1)] {
            let text = Cursor { at: outside, id: id.into() }.encode();
            assert_eq!(Cursor::parse(&text), None, "{text}");
        }
    }

    #[test]
    fn sorting_names_its_field() {
        let mut issues = Vec::new();
        assert!(newest_first("issued_at", None, Order::NewestFirst, &mut issues));
        assert!(!newest_first("queued_at", None, Order::OldestFirst, &mut issues));
        assert!(newest_first("issued_at", Some("-issued_at"), Order::OldestFirst, &mut issues));
        assert!(!newest_first("issued_at", Some("issued_at"), Order::NewestFirst, &mut issues));
        assert!(issues.is_empty());
        newest_first("issued_at", Some("level"), Order::NewestFirst, &mut issues);
        assert_eq!(issues[0].field, "sort");
        assert_eq!(issues[0].problem, "issued_at (oldest first) or -issued_at (newest first, the default)");
        newest_first("queued_at", Some("x"), Order::OldestFirst, &mut issues);
        assert_eq!(issues[1].problem, "queued_at (oldest first, the default) or -queued_at (newest first)");
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        let cursor = |n: &i64| Cursor { at: NaiveDateTime::default(), id: format!("{n}") };
        assert_eq!(page(vec![1, 2], 2, cursor), (vec![1, 2], None));
        let (rows, next) = page(vec![1, 2, 3], 2, cursor);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next, Some(format!("{}_2", NaiveDateTime::default().and_utc().timestamp_micros())));
    }
}
