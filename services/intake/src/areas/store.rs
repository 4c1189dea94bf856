//! Areas in the database: reading the tree, importing into it (all or nothing, announced as
//! `areas.imported`), and the point index every replica keeps in step with the stored
//! revision.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::AreasImported;
use nazer_shared::outbox;
use nazer_shared::topology::INTAKE;
use serde::Serialize;
use uuid::Uuid;

use super::index::AreaIndex;
use super::{Area, Level, geometry, tree};
use crate::schema::{area_levels, area_revision, areas};
use nazer_shared::http::FieldIssue;

#[derive(Queryable, Selectable)]
#[diesel(table_name = area_levels)]
struct LevelRow {
    code: String,
    rank: i32,
    name_fa: String,
    name_en: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = areas)]
struct AreaRow {
    code: String,
    parent_code: Option<String>,
    level: String,
    name_fa: String,
    name_en: String,
    geometry: Option<String>,
    illustrative: bool,
    updated_at: NaiveDateTime,
}

/// An area as stored, with when it last changed.
#[derive(Debug, Clone)]
pub struct StoredArea {
    pub area: Area,
    pub updated_at: DateTime<Utc>,
}

/// The levels, top first.
pub fn load_levels(conn: &mut DbConnection) -> Result<Vec<Level>, DbError> {
    let rows: Vec<LevelRow> =
        area_levels::table.order(area_levels::rank.asc()).select(LevelRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(|r| Level { code: r.code, rank: r.rank, name_fa: r.name_fa, name_en: r.name_en }).collect())
}

fn area_of(row: AreaRow) -> Result<StoredArea, DbError> {
    let geometry = match row.geometry.as_deref() {
        None => None,
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| DbError::Refused(format!("area `{}` holds a broken geometry: {e}", row.code)))?;
            let parsed = geometry::parse(&value)
                .map_err(|e| DbError::Refused(format!("area `{}` holds a broken geometry: {e}", row.code)))?;
            Some(parsed)
        }
    };
    let area = Area {
        code: row.code,
        parent: row.parent_code,
        level: row.level,
        name_fa: row.name_fa,
        name_en: row.name_en,
        geometry,
        illustrative: row.illustrative,
    };
    Ok(StoredArea { area, updated_at: from_db_time(row.updated_at) })
}

/// Every area, by code.
pub fn load_areas(conn: &mut DbConnection) -> Result<Vec<StoredArea>, DbError> {
    let rows: Vec<AreaRow> = areas::table.order(areas::code.asc()).select(AreaRow::as_select()).load(conn)?;
    rows.into_iter().map(area_of).collect()
}

/// One area, if the code is known.
pub fn find_area(conn: &mut DbConnection, code: &str) -> Result<Option<StoredArea>, DbError> {
    let row: Option<AreaRow> = areas::table.find(code).select(AreaRow::as_select()).first(conn).optional()?;
    row.map(area_of).transpose()
}

/// The names of the given areas, by code (for showing a path).
pub fn names_of(conn: &mut DbConnection, codes: &[String]) -> Result<HashMap<String, (String, String)>, DbError> {
    let rows: Vec<(String, String, String)> = areas::table
        .filter(areas::code.eq_any(codes))
        .select((areas::code, areas::level, areas::name_fa))
        .load(conn)?;
    Ok(rows.into_iter().map(|(code, level, name_fa)| (code, (level, name_fa))).collect())
}

/// The revision of the stored tree: it changes with every import that changed an area.
pub fn revision(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(area_revision::table.find(1).select(area_revision::revision).first(conn)?)
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Areas that were not known before.
    pub created: usize,
    /// Known areas whose place, names or boundary changed.
    pub updated: usize,
    /// Areas given exactly as stored.
    pub unchanged: usize,
}

/// Checks `incoming` against the stored tree and upserts it in the caller's transaction: what
/// the import did, or every issue (naming the feature) and nothing written.
pub fn import(
    conn: &mut DbConnection,
    incoming: &[Area],
    now: DateTime<Utc>,
) -> Result<Result<ImportSummary, Vec<FieldIssue>>, DbError> {
    let levels = load_levels(conn)?;
    let existing = load_areas(conn)?;
    let stored: Vec<Area> = existing.iter().map(|s| s.area.clone()).collect();
    match tree::check_import(&stored, incoming, &levels) {
        Ok(ordered) => Ok(Ok(upsert_areas(conn, &existing, &ordered, now)?)),
        Err(issues) => Ok(Err(issues)),
    }
}

/// Upserts `ordered` (checked, parents before children) in the caller's transaction: the
/// changed ones are written, the revision bumped and `areas.imported` enqueued; nothing
/// happens when nothing changed.
pub fn upsert_areas(
    conn: &mut DbConnection,
    existing: &[StoredArea],
    ordered: &[Area],
    now: DateTime<Utc>,
) -> Result<ImportSummary, DbError> {
    let stored: HashMap<&str, &Area> = existing.iter().map(|s| (s.area.code.as_str(), &s.area)).collect();
    let mut summary = ImportSummary::default();
    let mut changed = Vec::new();
    let at = to_db_time(now);
    for area in ordered {
        let before = stored.get(area.code.as_str());
        if before.is_some_and(|b| *b == area) {
            summary.unchanged += 1;
            continue;
        }
        let geometry = area.geometry.as_ref().map(|g| geometry::to_geojson(g).to_string());
        let values = (
            areas::parent_code.eq(&area.parent),
            areas::level.eq(&area.level),
            areas::name_fa.eq(&area.name_fa),
            areas::name_en.eq(&area.name_en),
            areas::geometry.eq(&geometry),
            areas::illustrative.eq(area.illustrative),
            areas::updated_at.eq(at),
        );
        if before.is_some() {
            diesel::update(areas::table.find(&area.code)).set(values).execute(conn)?;
            summary.updated += 1;
        } else {
            diesel::insert_into(areas::table).values((areas::code.eq(&area.code), values)).execute(conn)?;
            summary.created += 1;
        }
        changed.push(area.summary());
    }
    if !changed.is_empty() {
        diesel::update(area_revision::table.find(1))
            .set(area_revision::revision.eq(area_revision::revision + 1))
            .execute(conn)?;
        let event =
            AreasImported { import_id: Uuid::now_v7().to_string(), areas: changed, imported_at: from_db_time(at) };
        outbox::enqueue(conn, INTAKE, &event, now)?;
    }
    Ok(summary)
}

/// The point index of the stored tree, rebuilt only when another import changed the revision,
/// whichever replica made it.
#[derive(Default)]
pub struct AreaCache {
    current: RwLock<Option<(i64, Arc<AreaIndex>)>>,
}

impl AreaCache {
    /// The index of the tree as `conn` sees it now.
    pub fn index(&self, conn: &mut DbConnection) -> Result<Arc<AreaIndex>, DbError> {
        let revision = revision(conn)?;
        if let Ok(current) = self.current.read()
            && let Some((cached, index)) = current.as_ref()
            && *cached == revision
        {
            return Ok(index.clone());
        }
        let levels = load_levels(conn)?;
        let areas: Vec<Area> = load_areas(conn)?.into_iter().map(|s| s.area).collect();
        let index = Arc::new(AreaIndex::build(&areas, &levels));
        if let Ok(mut current) = self.current.write() {
            *current = Some((revision, index.clone()));
        }
        Ok(index)
    }
}
