//! The contract every paged list keeps, checked once here for all of them: pages of `limit`
//! followed by `next_cursor` to the end, a sort in both directions, `from` inclusive and `to`
//! exclusive, whole days given in the Solar Hijri or the Gregorian calendar, and bad paging
//! refused with 422 naming each field at fault.

use serde_json::Value;

use super::{TestApp, page_through, problem_fields};

/// A list endpoint as its tests see it.
pub struct ListContract<'a> {
    pub app: &'a TestApp,
    /// The list's path, without a query.
    pub path: &'a str,
    pub key: &'a str,
    /// The array holding the items, and the field naming each item.
    pub items: (&'a str, &'a str),
}

impl ListContract<'_> {
    /// The ids of every item `query` selects, walked two at a time (every page but the last
    /// full, `next_cursor` null on the last).
    pub async fn ids(&self, query: &str) -> Vec<String> {
        let path = format!("{}?limit=2{}{query}", self.path, if query.is_empty() { "" } else { "&" });
        page_through(self.app, &path, self.key, self.items, None).await.concat()
    }

    /// How many items one answer to `query` holds (one page; keep `query` under the limit).
    pub async fn count(&self, query: &str) -> usize {
        let (status, body) = self.app.get(&format!("{}?{query}", self.path), self.key).await;
        assert_eq!(status, 200, "{query}: {body}");
        body[self.items.0].as_array().map(Vec::len).unwrap_or_else(|| panic!("no `{}` in {body}", self.items.0))
    }

    /// Walks the list in `sort` and in `-sort`: `ascending` and its reverse.
    pub async fn sorts_both_ways(&self, sort: &str, ascending: &[String]) {
        let descending: Vec<String> = ascending.iter().rev().cloned().collect();
        assert_eq!(self.ids(&format!("sort={sort}")).await, ascending, "sort={sort}");
        assert_eq!(self.ids(&format!("sort=-{sort}")).await, descending, "sort=-{sort}");
    }

    /// `day` in Tehran, written `jalali` and `gregorian`, holds `count` items whichever way it
    /// is written, and `next_jalali` (the day after) none of them.
    pub async fn whole_days(&self, (jalali, gregorian): (&str, &str), next_jalali: &str, count: usize) {
        for day in [jalali, gregorian] {
            assert_eq!(self.count(&format!("from={day}&to={day}")).await, count, "the whole of {day}");
        }
        assert_eq!(self.count(&format!("from={next_jalali}")).await, 0, "from {next_jalali}");
    }

    /// Refuses, naming the field, the paging every time-ordered list refuses (a cursor that is
    /// not one, an unknown sort, periods that are not instants or days, a zero limit), then
    /// `more` (the list's own filters, as (query, field)), and two faults at once naming both.
    pub async fn refuses_bad_paging(&self, more: &[(&str, &str)]) {
        let common = [
            ("cursor=abc", "cursor"),
            ("cursor=1764400000123456_not-a-uuid", "cursor"),
            ("sort=size", "sort"),
            ("from=yesterday", "from"),
            ("to=1405-13-01", "to"),
            ("limit=0", "limit"),
        ];
        for (query, field) in common.iter().chain(more) {
            self.refuses(query, &[field]).await;
        }
        let (status, body) = self.app.get(&format!("{}?cursor=abc&sort=size", self.path), self.key).await;
        let mut named = problem_fields(&body);
        named.sort();
        assert_eq!((status, named), (422, vec!["cursor".to_string(), "sort".to_string()]), "{body}");
    }

    /// Answers `query` 422 naming exactly `fields`, in order.
    pub async fn refuses(&self, query: &str, fields: &[&str]) -> Value {
        let (status, body) = self.app.get(&format!("{}?{query}", self.path), self.key).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(problem_fields(&body), fields, "{query}: {body}");
        body
    }
}
