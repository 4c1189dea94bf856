//! Areas: the places messages are located in, as data — a tree from the provinces down to
//! Tehran's districts, sub-districts and neighbourhoods, each with an optional boundary.
//! `tree` checks an import, `geometry` reads and writes GeoJSON boundaries, `index` finds the
//! deepest area holding a point.

pub mod geometry;
pub mod index;
pub mod tree;

use geo::MultiPolygon;

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
