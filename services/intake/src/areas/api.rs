//! The areas API: the tree as a list or a GeoJSON FeatureCollection, one area with its
//! boundary, and the admin's import of a FeatureCollection.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_shared::http::body::MAX_IMPORT_BODY;
use nazer_shared::http::json::parse_json;
use nazer_shared::http::{ApiError, Caller, QueryParams, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::store::{self, AreaHead, ImportSummary, StoredArea};
use super::{AreaStep, Level, geometry, tree};
use crate::api::{IntakeState, TAG};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/areas", web::get().to(get_areas))
        .route("/api/v1/areas", web::put().to(put_areas))
        .route("/api/v1/areas/{code}", web::get().to(get_area));
}

/// An area as a list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AreaListItem {
    pub code: String,
    /// The parent's code; null for a province.
    #[schema(required = true)]
    pub parent: Option<String>,
    /// `province`, `county`, `city`, `district`, `subdistrict` or `neighbourhood`.
    pub level: String,
    pub name_fa: String,
    pub name_en: String,
    /// Whether a boundary is known (`GET /api/v1/areas/{code}` shows it).
    pub has_geometry: bool,
    /// The boundary only shows roughly where the area is (demo data), not the real one.
    pub illustrative: bool,
    pub updated_at: DateTime<Utc>,
}

/// A level of the tree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AreaLevel)]
pub struct LevelView {
    pub code: String,
    /// 1 for provinces; larger is deeper.
    pub rank: i32,
    pub name_fa: String,
    pub name_en: String,
}

/// The areas, parents before children.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaList {
    /// The levels of the tree, top first.
    pub levels: Vec<LevelView>,
    /// Top level first, then by code within a level.
    pub areas: Vec<AreaListItem>,
}

/// One area with its boundary and its place in the tree.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AreaView {
    #[serde(flatten)]
    pub area: AreaListItem,
    /// A GeoJSON Polygon or MultiPolygon (WGS84, longitude first); null when none is known.
    #[schema(value_type = Option<Object>, required = true)]
    pub geometry: Option<Value>,
    /// From the province down to this area.
    pub path: Vec<AreaStep>,
    /// The codes of the areas directly under it.
    pub children: Vec<String>,
}

/// Filters of the area list; all optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AreaQuery {
    /// Only areas of this level, such as `district`.
    level: Option<String>,
    /// Only the areas directly under this one (its code).
    parent: Option<String>,
    /// `json` (the default) or `geojson`: a GeoJSON FeatureCollection with every boundary.
    #[param(pattern = "^(json|geojson)$")]
    format: Option<String>,
}

impl From<AreaHead> for AreaListItem {
    fn from(head: AreaHead) -> Self {
        let AreaHead { code, parent, level, name_fa, name_en, has_geometry, illustrative, updated_at } = head;
        let updated_at = nazer_shared::db::from_db_time(updated_at);
        Self { code, parent, level, name_fa, name_en, has_geometry, illustrative, updated_at }
    }
}

/// `area` as a GeoJSON Feature: its properties are what an import takes.
fn feature(stored: &StoredArea) -> Value {
    let area = &stored.area;
    json!({
        "type": "Feature",
        "id": area.code,
        "properties": {
            "code": area.code,
            "parent": area.parent,
            "level": area.level,
            "name_fa": area.name_fa,
            "name_en": area.name_en,
            "illustrative": area.illustrative,
        },
        "geometry": area.geometry.as_ref().map(geometry::to_geojson),
    })
}

fn rank_of(levels: &[Level], level: &str) -> i32 {
    levels.iter().find(|l| l.code == level).map_or(i32::MAX, |l| l.rank)
}

/// Lists the areas: the tree from the provinces down, as a list or a GeoJSON FeatureCollection.
///
/// Any authenticated client. `format=geojson` answers `application/geo+json` with every
/// boundary, in the form `PUT /api/v1/areas` takes back.
#[utoipa::path(get, path = "/api/v1/areas", tag = TAG, params(AreaQuery),
    responses((status = 200, description = "The areas (with `format=geojson`, a GeoJSON FeatureCollection)",
        content((AreaList = "application/json"), (Object = "application/geo+json")))))]
pub(crate) async fn get_areas(
    state: web::Data<IntakeState>,
    caller: Caller,
    QueryParams(query): QueryParams<AreaQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let geojson = match query.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("geojson") => true,
        Some(other) => {
            return Err(ApiError::invalid_field("format", format!("`{other}` is not a format; use json or geojson")));
        }
    };
    // Boundaries are read only for GeoJSON: a list says whether an area has one.
    let (levels, mut areas) =
        state.ctx.db.run(|conn| Ok((store::load_levels(conn)?, store::load_heads(conn)?))).await?;
    let level = query.level.map(|l| l.trim().to_string()).filter(|l| !l.is_empty());
    if let Some(level) = &level
        && !levels.iter().any(|l| &l.code == level)
    {
        let known = levels.iter().map(|l| l.code.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ApiError::invalid_field("level", format!("`{level}` is not a level; use one of: {known}")));
    }
    let parent = query.parent.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
    if let Some(parent) = &parent
        && !areas.iter().any(|a| &a.code == parent)
    {
        return Err(ApiError::invalid_field(
            "parent",
            format!("no area has the code `{parent}`; GET /api/v1/areas lists them"),
        ));
    }
    areas.retain(|a| {
        level.as_ref().is_none_or(|l| &a.level == l) && parent.as_ref().is_none_or(|p| a.parent.as_ref() == Some(p))
    });
    areas.sort_by(|a, b| (rank_of(&levels, &a.level), &a.code).cmp(&(rank_of(&levels, &b.level), &b.code)));
    if geojson {
        let selected: std::collections::HashSet<String> = areas.iter().map(|a| a.code.clone()).collect();
        let mut stored = state.ctx.db.run(store::load_areas).await?;
        stored.retain(|s| selected.contains(&s.area.code));
        stored.sort_by(|a, b| {
            (rank_of(&levels, &a.area.level), &a.area.code).cmp(&(rank_of(&levels, &b.area.level), &b.area.code))
        });
        let features: Vec<Value> = stored.iter().map(feature).collect();
        let collection = json!({ "type": "FeatureCollection", "features": features });
        return Ok(HttpResponse::Ok().content_type("application/geo+json").json(collection));
    }
    let levels = levels
        .into_iter()
        .map(|l| LevelView { code: l.code, rank: l.rank, name_fa: l.name_fa, name_en: l.name_en })
        .collect();
    Ok(HttpResponse::Ok().json(AreaList { levels, areas: areas.into_iter().map(AreaListItem::from).collect() }))
}

/// One area: its names, its boundary as GeoJSON when known, its path and its children.
///
/// Any authenticated client.
#[utoipa::path(get, path = "/api/v1/areas/{code}", tag = TAG,
    params(("code" = String, Path, description = "The area's code, such as `tehran` or `tehran-district-06`")),
    responses((status = 200, description = "The area", body = AreaView)))]
pub(crate) async fn get_area(
    state: web::Data<IntakeState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&Scope::ALL)?;
    let code = path.into_inner();
    let wanted = code.clone();
    // The tree without boundaries, and the one boundary asked for.
    let (heads, found) =
        state.ctx.db.run(move |conn| Ok((store::load_heads(conn)?, store::find_area(conn, &wanted)?))).await?;
    let Some(found) = found else {
        return Err(ApiError::NotFound(format!("no area has the code `{code}`; GET /api/v1/areas lists them")));
    };
    let mut path = Vec::new();
    let mut step = heads.iter().find(|a| a.code == code);
    while let Some(current) = step {
        // A stored tree has no cycle; the bound keeps a broken one from looping.
        if path.len() > heads.len() {
            return Err(ApiError::Internal(format!("the area tree loops at `{}`", current.code)));
        }
        path.push(AreaStep {
            code: current.code.clone(),
            level: current.level.clone(),
            name_fa: current.name_fa.clone(),
        });
        step = current.parent.as_ref().and_then(|p| heads.iter().find(|a| &a.code == p));
    }
    path.reverse();
    let children = heads.iter().filter(|a| a.parent.as_ref() == Some(&code)).map(|a| a.code.clone()).collect();
    let geometry = found.area.geometry.as_ref().map(geometry::to_geojson);
    let Some(head) = heads.into_iter().find(|a| a.code == code) else {
        return Err(ApiError::NotFound(format!("no area has the code `{code}`; GET /api/v1/areas lists them")));
    };
    Ok(HttpResponse::Ok().json(AreaView { area: AreaListItem::from(head), geometry, path, children }))
}

/// Imports areas from a GeoJSON FeatureCollection, upserting them by code.
///
/// Each feature's `properties` give `code`, `parent`, `level`, `name_fa`, `name_en` and
/// `illustrative`, its `geometry` the boundary. Admins only. Upserts by code, all or nothing: an unknown parent, a cycle, an invalid or
/// self-intersecting ring, or a child outside its parent refuses the whole import (422 naming
/// the feature). Areas given exactly as stored are left alone; the others are announced to the
/// other services (`areas.imported`). Bodies up to 32 MiB.
#[utoipa::path(put, path = "/api/v1/areas", tag = TAG,
    request_body(content = Object, content_type = "application/json",
        description = "A GeoJSON FeatureCollection (sent as `application/json` or `application/geo+json`)"),
    responses((status = 200, description = "What the import did", body = ImportSummary)))]
pub(crate) async fn put_areas(
    state: web::Data<IntakeState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::UnsupportedMediaType(
            "send a GeoJSON FeatureCollection with `Content-Type: application/geo+json`".into(),
        ));
    }
    // Larger than any other body: read here, not by the app-wide JSON limit.
    let body = payload
        .to_bytes_limited(MAX_IMPORT_BODY)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!("the import is larger than the {MAX_IMPORT_BODY} bytes accepted"))
        })?
        .map_err(|e| ApiError::bad_request(Some("body"), format!("the body could not be read ({e}); send it again")))?;
    // Reading and checking every boundary takes a while for a large file: off the async workers.
    let incoming = web::block(move || {
        let collection: Value = parse_json(&body)?;
        tree::parse_feature_collection(&collection).map_err(ApiError::invalid)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the import's check did not finish: {e}")))??;
    let now = state.ctx.clock.now();
    let summary = state.ctx.write(move |conn| store::import(conn, &incoming, now)?.map_err(ApiError::invalid)).await?;
    tracing::info!(created = summary.created, updated = summary.updated, "areas imported");
    Ok(HttpResponse::Ok().json(summary))
}
