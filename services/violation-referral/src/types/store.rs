//! Stored violation types: the checked JSON document, by code.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, to_db_time};
use nazer_shared::http::{ApiError, FieldIssue};

use super::{ViolationType, ViolationTypeDocument, catalogue};
use crate::schema::violation_types;
use crate::units;

#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// Fields naming what does not exist (the counterpart unit), with how to fix them.
    #[error("invalid fields")]
    Invalid(Vec<FieldIssue>),
}

nazer_shared::from_diesel_error!(TypeError);

impl From<TypeError> for ApiError {
    fn from(error: TypeError) -> Self {
        match error {
            TypeError::Db(error) => error.into(),
            TypeError::Invalid(issues) => ApiError::invalid(issues),
        }
    }
}

/// Stores `violation_type`, replacing one with the same code; true when it is new. Its
/// counterpart unit must exist.
pub fn put_type(
    conn: &mut DbConnection,
    violation_type: &ViolationType,
    now: DateTime<Utc>,
) -> Result<bool, TypeError> {
    let unit = &violation_type.document().counterpart_unit;
    if !units::unit_exists(conn, unit)? {
        let problem = format!("no counterpart unit has the id `{unit}`; GET /api/v1/counterpart-units lists them");
        return Err(TypeError::Invalid(vec![FieldIssue::new("counterpart_unit", problem)]));
    }
    let document = serde_json::to_string(violation_type.document()).map_err(|e| DbError::Encode(e.to_string()))?;
    let at = to_db_time(now);
    let code = violation_type.code();
    let exists = type_exists(conn, code)?;
    if exists {
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
    Ok(!exists)
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

/// Whether a type has the code `code`.
fn type_exists(conn: &mut DbConnection, code: &str) -> Result<bool, DbError> {
    Ok(violation_types::table.find(code).count().get_result::<i64>(conn)? > 0)
}

/// What seeding stored: how many shipped counterpart units and violation types were absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub units: usize,
    pub types: usize,
}

/// Stores the shipped counterpart units and catalogue types that are absent (an admin's edits
/// are kept).
pub fn seed_catalogue(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<Seeded, DbError> {
    let units = units::seed_shipped(conn, now)?;
    let mut types = 0;
    for violation_type in &catalogue().map_err(DbError::Refused)? {
        if !type_exists(conn, violation_type.code())? {
            put_type(conn, violation_type, now).map_err(|error| match error {
                TypeError::Db(error) => error,
                TypeError::Invalid(issues) => {
                    DbError::Refused(format!("shipped {}: {issues:?}", violation_type.code()))
                }
            })?;
            types += 1;
        }
    }
    Ok(Seeded { units, types })
}

/// The demo's budget of every stage of every track: a minute, so a case left alone is warned
/// (and escalated) while one walks through it.
pub const DEMO_BUDGET: &str = "PT60S";

/// Demo budgets: every stored type's stages on [`DEMO_BUDGET`] instead of days.
pub fn seed_demo(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, DbError> {
    let types = list_types(conn)?;
    for violation_type in &types {
        let mut document = violation_type.document().clone();
        for budget in document.budgets.remedial.values_mut().chain(document.budgets.culpability.values_mut()) {
            *budget = DEMO_BUDGET.to_string();
        }
        let demo = ViolationType::from_document(document)
            .map_err(|issues| DbError::Refused(format!("demo {}: {issues:?}", violation_type.code())))?;
        put_type(conn, &demo, now).map_err(|error| match error {
            TypeError::Db(error) => error,
            TypeError::Invalid(issues) => DbError::Refused(format!("demo {}: {issues:?}", demo.code())),
        })?;
    }
    Ok(types.len())
}
