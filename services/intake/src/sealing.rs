//! Reporters' identities sealed at rest, each field on its own (see `nazer_shared::sealing`),
//! bound to its message and field; and the reseal that moves them to the active key.

use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, write_transaction};
use nazer_shared::sealing::substr;
pub use nazer_shared::sealing::{EMBEDDED_KEY_FILE, Resealed, SealError, SealingKeys as ReporterKeys};
use nazer_shared::select_for_update;

use crate::schema::reporters;

/// The reporter columns that hold identity.
const FIELDS: [&str; 5] = ["full_name", "national_id", "mobile", "email", "tracking_pin"];

/// A reporter's identity columns, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = reporters)]
struct ReporterRow {
    message_id: String,
    full_name: Option<String>,
    national_id: Option<String>,
    mobile: Option<String>,
    email: Option<String>,
    tracking_pin: Option<String>,
}

const RESEAL_BATCH: i64 = 500;

/// Seals what is still plaintext (rows from before sealing) and reseals what an older key
/// sealed, so a retired key can be dropped. Works in batches, each its own transaction, in
/// message-id order (so two reseals at once neither deadlock nor undo each other); only rows
/// that need it are read. Idempotent.
pub fn reseal_all(conn: &mut DbConnection, keys: &ReporterKeys) -> Result<Resealed, DbError> {
    // Compared exactly: LIKE would take `_` in a key id as a wildcard (and, on SQLite, ignore
    // case), so rows under `nazer-2` would pass as `nazer_2`'s and never be resealed.
    let current = keys.current_prefix();
    let n = current.len() as i32;
    let mut done = Resealed::default();
    let mut after = String::new();
    loop {
        let batch = write_transaction(conn, |conn| {
            let rows: Vec<ReporterRow> = select_for_update!(
                conn,
                reporters::table
                    .filter(reporters::message_id.gt(&after))
                    .filter(
                        substr(reporters::full_name, 1, n)
                            .ne(&current)
                            .or(substr(reporters::national_id, 1, n).ne(&current))
                            .or(substr(reporters::mobile, 1, n).ne(&current))
                            .or(substr(reporters::email, 1, n).ne(&current))
                            .or(substr(reporters::tracking_pin, 1, n).ne(&current)),
                    )
                    .order(reporters::message_id)
                    .limit(RESEAL_BATCH)
                    .select(ReporterRow::as_select())
            )?;
            let mut rewritten = 0;
            let mut unreadable = Vec::new();
            let last = rows.last().map(|row| row.message_id.clone());
            for ReporterRow { message_id, full_name, national_id, mobile, email, tracking_pin } in rows {
                match reseal_row(keys, &message_id, [full_name, national_id, mobile, email, tracking_pin]) {
                    Ok(values) => {
                        diesel::update(reporters::table.find(&message_id))
                            .set((
                                reporters::full_name.eq(&values[0]),
                                reporters::national_id.eq(&values[1]),
                                reporters::mobile.eq(&values[2]),
                                reporters::email.eq(&values[3]),
                                reporters::tracking_pin.eq(&values[4]),
                            ))
                            .execute(conn)?;
                        rewritten += 1;
                    }
                    Err(_) => unreadable.push(message_id),
                }
            }
            Ok::<_, DbError>((rewritten, unreadable, last))
        })?;
        let (rewritten, unreadable, last) = batch;
        done.rewritten += rewritten;
        done.unreadable.extend(unreadable);
        match last {
            Some(last) => after = last,
            None => return Ok(done),
        }
    }
}

/// A row's values, each sealed under the active key.
fn reseal_row(
    keys: &ReporterKeys,
    message_id: &str,
    values: [Option<String>; 5],
) -> Result<Vec<Option<String>>, SealError> {
    FIELDS
        .iter()
        .zip(values)
        .map(|(field, value)| value.map(|v| keys.reseal(message_id, field, &v)).transpose())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_plaintext_that_starts_like_a_sealed_value_is_still_plaintext() {
        let keys = ReporterKeys::parse(K1).unwrap();
        assert!(!ReporterKeys::is_sealed("v1:x@y.ir"));
        assert!(!ReporterKeys::is_sealed("v1:k1:not hex at all, and long enough to pass a length check ......"));
        assert!(ReporterKeys::is_sealed(&keys.seal("m-1", "email", "x@y.ir").unwrap()));
        let values = [None, None, None, Some("v1:x@y.ir".to_string()), None];
        let resealed = reseal_row(&keys, "m-1", values).unwrap();
        assert_eq!(keys.open("m-1", "email", resealed[3].as_deref().unwrap()).unwrap(), "v1:x@y.ir");
    }
}
