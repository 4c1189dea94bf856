//! The known areas, as stored: recorded from `areas.imported` (and by the demo seeding), and
//! looked up with their paths when a closure or a due question names one.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, lock_key, to_db_time};
use nazer_shared::events::AreaSummary;

use crate::areas::{AreaPaths, path_of};
use crate::schema::calendar_areas;

/// One known area, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = calendar_areas, primary_key(code), treat_none_as_null = true)]
pub struct AreaRow {
    pub code: String,
    pub parent_code: Option<String>,
    pub level: String,
    pub name_fa: String,
    pub name_en: String,
    pub updated_at: NaiveDateTime,
}

impl AreaRow {
    fn new(area: &AreaSummary, at: NaiveDateTime) -> Self {
        Self {
            code: area.code.clone(),
            parent_code: area.parent.clone(),
            level: area.level.clone(),
            name_fa: area.name_fa.clone(),
            name_en: area.name_en.clone(),
            updated_at: at,
        }
    }
}

/// Records imported areas, each added or changed in place, as of `at` (the import's instant):
/// the same import again changes nothing, and an area already recorded by a later import keeps
/// what that one said. Returns how many rows were written.
pub fn record_areas(conn: &mut DbConnection, areas: &[AreaSummary], at: DateTime<Utc>) -> Result<usize, DbError> {
    // Two imports handled at once must not both insert the same new area.
    lock_key(conn, "calendar-areas")?;
    let at = to_db_time(at);
    let mut stored: BTreeMap<String, NaiveDateTime> = BTreeMap::new();
    // A few hundred codes to a query, well under either backend's bind limit.
    for chunk in areas.chunks(500) {
        let codes: Vec<&str> = chunk.iter().map(|a| a.code.as_str()).collect();
        stored.extend(
            calendar_areas::table
                .filter(calendar_areas::code.eq_any(&codes))
                .select((calendar_areas::code, calendar_areas::updated_at))
                .load::<(String, NaiveDateTime)>(conn)?,
        );
    }
    let mut written = 0;
    for area in areas {
        let row = AreaRow::new(area, at);
        written += match stored.get(&area.code) {
            None => diesel::insert_into(calendar_areas::table).values(&row).execute(conn)?,
            Some(recorded) if *recorded <= at => {
                diesel::update(calendar_areas::table.find(&area.code)).set(&row).execute(conn)?
            }
            Some(_) => 0,
        };
    }
    Ok(written)
}

/// The known areas among `codes`, each with its path from its province down; an unknown code
/// is left out.
pub fn paths_of<'a>(conn: &mut DbConnection, codes: impl IntoIterator<Item = &'a str>) -> Result<AreaPaths, DbError> {
    let mut parents: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut paths = AreaPaths::new();
    for code in codes {
        let mut failure = None;
        let path = path_of(code, |current| {
            if let Some(parent) = parents.get(current) {
                return Some(parent.clone());
            }
            let found: Result<Option<Option<String>>, DbError> = calendar_areas::table
                .find(current)
                .select(calendar_areas::parent_code)
                .first(conn)
                .optional()
                .map_err(DbError::from);
            match found {
                Ok(Some(parent)) => {
                    parents.insert(current.to_string(), parent.clone());
                    Some(parent)
                }
                Ok(None) => None,
                Err(error) => {
                    failure = Some(error);
                    None
                }
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        if let Some(path) = path {
            paths.insert(code.to_string(), path);
        }
    }
    Ok(paths)
}

/// A known area, as stored.
pub fn find_area(conn: &mut DbConnection, code: &str) -> Result<Option<AreaRow>, DbError> {
    Ok(calendar_areas::table.find(code).select(AreaRow::as_select()).first(conn).optional()?)
}
