//! Stored violation types: the checked JSON document, by code.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, to_db_time};

use super::{ViolationType, ViolationTypeDocument, catalogue};
use crate::schema::violation_types;

/// Stores `violation_type`, replacing one with the same code; true when it is new.
pub fn put_type(conn: &mut DbConnection, violation_type: &ViolationType, now: DateTime<Utc>) -> Result<bool, DbError> {
    let document = serde_json::to_string(violation_type.document()).map_err(|e| DbError::Encode(e.to_string()))?;
    let at = to_db_time(now);
    let code = violation_type.code();
    let exists: i64 = violation_types::table.find(code).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(violation_types::table.find(code))
            .set((violation_types::document.eq(&document), violation_types::updated_at.eq(at)))
            .execute(conn)?;
    } else {
        diesel::insert_into(violation_types::table)
            .values((
                violation_types::code.eq(code),
                violation_types::document.eq(&document),
                violation_types::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(exists == 0)
}

/// A stored document read back; a row that no longer reads is a broken row, not a panic.
fn read(code: &str, text: &str) -> Result<ViolationType, DbError> {
    let document: ViolationTypeDocument = serde_json::from_str(text)
        .map_err(|e| DbError::Refused(format!("stored violation type `{code}` is unreadable: {e}")))?;
    ViolationType::from_document(document)
        .map_err(|issues| DbError::Refused(format!("stored violation type `{code}` is invalid: {issues:?}")))
}

pub fn find_type(conn: &mut DbConnection, code: &str) -> Result<Option<ViolationType>, DbError> {
    let stored: Option<String> =
        violation_types::table.find(code).select(violation_types::document).first(conn).optional()?;
    stored.map(|text| read(code, &text)).transpose()
}

/// Every stored type, by code.
pub fn list_types(conn: &mut DbConnection) -> Result<Vec<ViolationType>, DbError> {
    let rows: Vec<(String, String)> = violation_types::table
        .order(violation_types::code)
        .select((violation_types::code, violation_types::document))
        .load(conn)?;
    rows.iter().map(|(code, text)| read(code, text)).collect()
}

/// Stores the shipped catalogue's types that are absent (an admin's edits are kept): how many
/// were stored.
pub fn seed_catalogue(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, DbError> {
    let shipped = catalogue().map_err(DbError::Refused)?;
    let mut stored = 0;
    for violation_type in &shipped {
        if find_type(conn, violation_type.code())?.is_none() {
            put_type(conn, violation_type, now)?;
            stored += 1;
        }
    }
    Ok(stored)
}
