//! Areas: the places messages are located in, as data — a tree from the provinces down to
//! Tehran's districts, sub-districts and neighbourhoods, each with an optional boundary.
//! `tree` checks an import, `geometry` reads and writes GeoJSON boundaries, `index` finds the
//! deepest area holding a point.

pub(crate) mod api;
pub mod geometry;
pub mod index;
pub mod store;
pub mod tree;

use geo::MultiPolygon;
use serde::Serialize;

/// A level of the tree (`province`, `county`, `city`, `district`, `subdistrict`,
/// `neighbourhood`): data, ranked from the top. A child's level ranks below its parent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub code: String,
    /// 1 for the top (provinces); larger is deeper.
    pub rank: i32,
    pub name_fa: String,
    pub name_en: String,
}

/// One area: its place in the tree, its names and, when known, its boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Lowercase letters, digits, '.', '_' or '-', such as `tehran` or `tehran-district-05`.
    pub code: String,
    /// None only at the top level.
    pub parent: Option<String>,
    pub level: String,
    pub name_fa: String,
    pub name_en: String,
    /// In WGS84, longitude first as GeoJSON has it.
    pub geometry: Option<MultiPolygon<f64>>,
    /// The boundary only shows roughly where the area is (the demo's): never to be taken as
    /// the real one.
    pub illustrative: bool,
}

/// One step of an area's path: its code, level and Persian name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AreaStep {
    pub code: String,
    pub level: String,
    pub name_fa: String,
}

impl Area {
    /// The area as other services know it, without its boundary.
    pub fn summary(&self) -> nazer_shared::events::AreaSummary {
        nazer_shared::events::AreaSummary {
            code: self.code.clone(),
            parent: self.parent.clone(),
            level: self.level.clone(),
            name_fa: self.name_fa.clone(),
            name_en: self.name_en.clone(),
        }
    }
}

/// The 31 provinces as areas without boundaries, as the first migration stores them.
pub fn provinces() -> Vec<Area> {
    nazer_shared::iran::PROVINCES
        .iter()
        .map(|(code, fa, en)| Area {
            code: (*code).into(),
            parent: None,
            level: "province".into(),
            name_fa: (*fa).into(),
            name_en: (*en).into(),
            geometry: None,
            illustrative: false,
        })
        .collect()
}

/// The levels the first migration stores.
#[cfg(test)]
pub(crate) fn stored_levels() -> Vec<Level> {
    ["province", "county", "city", "district", "subdistrict", "neighbourhood"]
        .iter()
        .zip(1..)
        .map(|(code, rank)| Level { code: (*code).into(), rank, name_fa: String::new(), name_en: String::new() })
        .collect()
}
