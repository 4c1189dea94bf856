//! Counterpart units (معاونت‌های نظیر): the units of the inspection organization that examine
//! the culpability of those responsible for a violation, each named by the violation types it
//! answers for. Shipped in `counterpart-units.json`, maintained by admins
//! (`PUT /api/v1/counterpart-units/{id}`, `nazer import`).

pub mod api;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, to_db_time};
use nazer_shared::http::{FieldIssue, IDENTIFIER_RULE, is_identifier};
use serde::{Deserialize, Serialize};

use crate::schema::counterpart_units;

/// The units every installation starts with, stored when absent.
pub const SHIPPED: &str = include_str!("../../counterpart-units.json");

/// A counterpart unit, as the admin API takes and gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterpartUnit {
    /// 1–64 lowercase letters, digits, '.', '_' or '-'; the same as the path's.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub id: String,
    /// The Persian name.
    #[schema(min_length = 1, max_length = 200)]
    pub name_fa: String,
    /// The English name.
    #[schema(min_length = 1, max_length = 200)]
    pub name_en: String,
}

impl CounterpartUnit {
    /// Trims and checks a unit; every bad field named.
    pub fn checked(mut self) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        self.id = self.id.trim().to_string();
        if !is_identifier(&self.id) {
            issues.push(FieldIssue::new("id", IDENTIFIER_RULE));
        }
        crate::types::check_names(&mut issues, [("name_fa", &mut self.name_fa), ("name_en", &mut self.name_en)]);
        if issues.is_empty() { Ok(self) } else { Err(issues) }
    }
}

/// The shipped units, each checked.
pub fn shipped() -> Result<Vec<CounterpartUnit>, String> {
    crate::read_shipped("counterpart-units.json", SHIPPED, "counterpart_units", CounterpartUnit::checked, |u| {
        u.id.clone()
    })
}

/// The columns a unit is read from.
type UnitColumns = (counterpart_units::id, counterpart_units::name_fa, counterpart_units::name_en);
const UNIT_COLUMNS: UnitColumns = (counterpart_units::id, counterpart_units::name_fa, counterpart_units::name_en);

fn unit_of((id, name_fa, name_en): (String, String, String)) -> CounterpartUnit {
    CounterpartUnit { id, name_fa, name_en }
}

/// Whether a unit has the id `id`.
pub fn unit_exists(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(counterpart_units::table.find(id).count().get_result::<i64>(conn)? > 0)
}

/// Stores `unit` (checked), replacing one with the same id; true when it is new.
pub fn put_unit(conn: &mut DbConnection, unit: &CounterpartUnit, now: DateTime<Utc>) -> Result<bool, DbError> {
    let at = to_db_time(now);
    let exists = unit_exists(conn, &unit.id)?;
    let values = (
        counterpart_units::name_fa.eq(&unit.name_fa),
        counterpart_units::name_en.eq(&unit.name_en),
        counterpart_units::updated_at.eq(at),
    );
    if exists {
        diesel::update(counterpart_units::table.find(&unit.id)).set(values).execute(conn)?;
    } else {
        diesel::insert_into(counterpart_units::table)
            .values((counterpart_units::id.eq(&unit.id), values))
            .execute(conn)?;
    }
    Ok(!exists)
}

pub fn find_unit(conn: &mut DbConnection, id: &str) -> Result<Option<CounterpartUnit>, DbError> {
    let row = counterpart_units::table.find(id).select(UNIT_COLUMNS).first(conn).optional()?;
    Ok(row.map(unit_of))
}

/// Every unit, by id.
pub fn list_units(conn: &mut DbConnection) -> Result<Vec<CounterpartUnit>, DbError> {
    let rows = counterpart_units::table.order(counterpart_units::id).select(UNIT_COLUMNS).load(conn)?;
    Ok(rows.into_iter().map(unit_of).collect())
}

/// Stores the shipped units that are absent (an admin's edits are kept): how many were stored.
pub fn seed_shipped(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, DbError> {
    let mut stored = 0;
    for unit in shipped().map_err(DbError::Refused)? {
        if !unit_exists(conn, &unit.id)? {
            put_unit(conn, &unit, now)?;
            stored += 1;
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_units_read_and_a_bad_unit_is_named_field_by_field() {
        let units = shipped().unwrap_or_else(|e| panic!("{e}"));
        assert!(units.iter().any(|u| u.id == "inspection-urban-planning"));
        let bad = CounterpartUnit { id: "Bad Id".into(), name_fa: " ".into(), name_en: "x".into() };
        let fields: Vec<String> = bad.checked().err().unwrap_or_default().into_iter().map(|i| i.field).collect();
        assert_eq!(fields, ["id", "name_fa"]);
    }

    #[test]
    fn every_shipped_violation_type_names_a_shipped_unit() {
        let units: Vec<String> = shipped().unwrap_or_default().into_iter().map(|u| u.id).collect();
        for violation_type in crate::types::catalogue().unwrap_or_else(|e| panic!("{e}")) {
            let unit = &violation_type.document().counterpart_unit;
            assert!(units.contains(unit), "{}: {unit}", violation_type.code());
        }
    }
}
