//! Areas in the database: reading the tree, importing into it (all or nothing, announced as
//! `areas.imported`), and the point index every replica keeps in step with the stored
//! revision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

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
            let parsed = geometry::read_checked(&value)
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

/// An area without its boundary, for lists: whether it has one, not the boundary itself.
#[derive(Debug, Clone, Queryable)]
pub struct AreaHead {
    pub code: String,
    pub parent: Option<String>,
    pub level: String,
    pub name_fa: String,
    pub name_en: String,
    pub has_geometry: bool,
    pub illustrative: bool,
    pub updated_at: NaiveDateTime,
}

/// Every area without reading a boundary, by code.
pub fn load_heads(conn: &mut DbConnection) -> Result<Vec<AreaHead>, DbError> {
    Ok(areas::table
        .order(areas::code.asc())
        .select((
            areas::code,
            areas::parent_code,
            areas::level,
            areas::name_fa,
            areas::name_en,
            areas::geometry.is_not_null(),
            areas::illustrative,
            areas::updated_at,
        ))
        .load(conn)?)
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
    // Imports one at a time: two checked against the same tree could together break it.
    nazer_shared::db::lock_key(conn, "areas")?;
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

/// The point index of the stored tree, rebuilt only when an import changed the revision,
/// whichever replica made it.
#[derive(Default)]
pub struct AreaCache {
    current: RwLock<Option<(i64, Arc<AreaIndex>)>>,
    /// One rebuild at a time in this replica: the requests that find the index stale meanwhile
    /// wait for it rather than each building their own.
    building: Mutex<()>,
}

impl AreaCache {
    /// The index of the tree as `conn` sees it now (or of a later revision). Call it outside a
    /// write transaction: a rebuild reads every boundary.
    pub fn index(&self, conn: &mut DbConnection) -> Result<Arc<AreaIndex>, DbError> {
        let revision = revision(conn)?;
        if let Some(index) = self.cached(revision) {
            return Ok(index);
        }
        let _building = self.building.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(index) = self.cached(revision) {
            return Ok(index);
        }
        // The revision again, now that no other rebuild runs: the newest tree is built.
        let revision = self::revision(conn)?;
        let levels = load_levels(conn)?;
        let areas: Vec<Area> = load_areas(conn)?.into_iter().map(|s| s.area).collect();
        let index = Arc::new(AreaIndex::build(&areas, &levels));
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_none_or(|(cached, _)| *cached < revision) {
            *current = Some((revision, index.clone()));
        }
        Ok(index)
    }

    /// The cached index when it is of `revision` or a later one.
    fn cached(&self, revision: i64) -> Option<Arc<AreaIndex>> {
        let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        current.as_ref().filter(|(cached, _)| *cached >= revision).map(|(_, index)| index.clone())
    }
}
