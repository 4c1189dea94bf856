//! Helpers shared by deadline-timer's integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use diesel::prelude::*;
use nazer_deadline_timer::deadlines::store;
use nazer_deadline_timer::policy::store as policy_store;
use nazer_deadline_timer::policy::{PolicyDocument, SlaPolicy};
use nazer_deadline_timer::schema::{deadlines, warnings};
use nazer_shared::db::{DbConnection, DbError, from_db_time};
use nazer_shared::events::{MessageAssigned, WarningIssued};
use nazer_shared::iran::{JalaliDate, tehran_offset};
use nazer_shared::testing::fixtures::{message_assigned, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::json;

pub const FALLBACK: &str = "P7D";

/// `message.assigned` of `message_id` to `agency_id`, with its tracking code and category.
pub fn assigned(message_id: &str, tracking_code: &str, category: &str, agency_id: &str) -> MessageAssigned {
    MessageAssigned {
        tracking_code: tracking_code.into(),
        category: category.into(),
        ..message_assigned(message_id, agency_id)
    }
}

/// Schedules `event` as assigned at `now` and handled at once.
pub fn schedule(app: &TestApp, event: &MessageAssigned, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let event = MessageAssigned { assigned_at: now, ..event.clone() };
    write(app, |conn| store::schedule(conn, &event, FALLBACK, now))
}

/// Fires everything due at `at`, reminders included.
pub fn fire_all(app: &TestApp, at: DateTime<Utc>) -> nazer_deadline_timer::firing::store::Fired {
    write(app, |conn| store::fire_due(conn, at, 500))
}

/// The message's one deadline, as the API shows it.
pub fn only_deadline(app: &TestApp, message_id: &str) -> store::DeadlineView {
    let mut conn = app.db().get().unwrap();
    store::deadlines_of(&mut conn, message_id).unwrap().remove(0)
}

pub fn fire(app: &TestApp, now: DateTime<Utc>) -> Vec<WarningIssued> {
    fire_all(app, now).warnings
}

/// A policy of one respond stage with a plain budget, no reminders and no further levels.
pub fn plain_policy(conn: &mut DbConnection, category: &str, budget: &str) -> Result<(), DbError> {
    let id = if category == "*" { "default" } else { category };
    let document: PolicyDocument = serde_json::from_value(json!({
        "id": id, "category": category, "stages": [{"stage": "respond", "budget": budget, "reminders": []}]
    }))
    .map_err(|e| DbError::Refused(e.to_string()))?;
    let policy = SlaPolicy::from_document(document).map_err(|e| DbError::Refused(format!("{e:?}")))?;
    policy_store::put_policy(conn, &policy, Utc::now()).map_err(|e| DbError::Refused(e.to_string()))?;
    Ok(())
}

/// A deadline as stored, as much of it as the tests check.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = deadlines)]
pub struct StoredClock {
    pub id: String,
    pub state: String,
    pub due_at: chrono::NaiveDateTime,
}

impl StoredClock {
    pub fn due(&self) -> DateTime<Utc> {
        from_db_time(self.due_at)
    }
}

/// The message's deadlines, as stored.
pub fn deadlines_of(app: &TestApp, message_id: &str) -> Vec<StoredClock> {
    let mut conn = app.db().get().unwrap();
    deadlines::table
        .filter(deadlines::message_id.eq(message_id))
        .select(StoredClock::as_select())
        .load(&mut *conn)
        .unwrap()
}

pub fn warning_count(app: &TestApp) -> i64 {
    let mut conn = app.db().get().unwrap();
    warnings::table.count().get_result(&mut *conn).unwrap()
}

pub async fn put_policy(app: &TestApp, category: &str, budget: &str) {
    let id = if category == "*" { "default" } else { category };
    let document =
        json!({"id": id, "category": category, "stages": [{"stage": "respond", "budget": budget, "reminders": []}]});
    let (status, body) = app.put(&format!("/api/v1/sla-policies/{id}"), ADMIN_KEY, &document).await;
    assert!(status == 201 || status == 200, "{status} {body}");
    assert_eq!(body["stages"][0]["budget"], budget, "{body}");
}

/// A Saturday a month or more ahead, and its days as Solar Hijri dates.
pub struct Week {
    pub saturday: NaiveDate,
}

impl Week {
    pub fn ahead() -> Self {
        let mut day = (Utc::now() + Duration::days(30)).with_timezone(&tehran_offset()).date_naive();
        while day.weekday() != Weekday::Sat {
            day = day.succ_opt().unwrap();
        }
        Self { saturday: day }
    }

    pub fn day(&self, offset: i64) -> NaiveDate {
        self.saturday + Duration::days(offset)
    }

    pub fn jalali(&self, offset: i64) -> String {
        let j = JalaliDate::from_gregorian(self.day(offset));
        format!("{}-{:02}-{:02}", j.year, j.month, j.day)
    }

    /// `hh:mm` Tehran time on day `offset`.
    pub fn at(&self, offset: i64, time: &str) -> DateTime<Utc> {
        let local = self.day(offset).and_time(NaiveTime::parse_from_str(time, "%H:%M").unwrap());
        local.and_local_timezone(tehran_offset()).unwrap().with_timezone(&Utc)
    }
}

pub const SAT: i64 = 0;
pub const SUN: i64 = 1;
pub const MON: i64 = 2;
pub const TUE: i64 = 3;
pub const WED: i64 = 4;
