//! Many deadlines at once, written by PostgreSQL itself: for the benchmark and for the tests
//! that race replicas over a burst. Not for production data.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};

/// `n` pending respond deadlines due at `due`, each with a one-step ladder (a level-1 warning),
/// ids and message ids `<tag>-<k>`. PostgreSQL only.
pub fn insert_due_deadlines(conn: &mut DbConnection, tag: &str, n: i64, due: DateTime<Utc>) -> Result<(), DbError> {
    let DbConnection::Pg(c) = conn else { return Err(DbError::Refused("bulk seeding runs on PostgreSQL".into())) };
    let due = to_db_time(due);
    let ladder = format!(r#"[{{"kind":"warning","level":1,"at":"{}"}}]"#, from_db_time(due).to_rfc3339());
    let chunk = 200_000;
    let mut from = 1;
    while from <= n {
        let to = (from + chunk - 1).min(n);
        diesel::sql_query(
            "INSERT INTO deadlines (id, message_id, tracking_code, agency_id, stage, budget, started_at, due_at, \
             state, province, area_path, stage_policy, ladder, next_step, next_fire_at) \
             SELECT $1 || '-' || g, $1 || '-message-' || g, lpad(g::text, 10, '0'), 'agency-' || (g % 50), \
             'respond', 'PT1H', $2 - interval '1 hour', $2, 'pending', 'tehran', '[\"tehran\"]', \
             '{\"stage\":\"respond\",\"budget\":\"PT1H\",\"reminders\":[]}', $3, 0, $2 \
             FROM generate_series($4::bigint, $5::bigint) AS g",
        )
        .bind::<Text, _>(tag)
        .bind::<Timestamp, _>(due)
        .bind::<Text, _>(&ladder)
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .execute(c)?;
        from = to + 1;
    }
    Ok(())
}
