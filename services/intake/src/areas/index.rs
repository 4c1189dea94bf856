//! `AreaIndex`: the whole tree of areas, built once, to find the deepest area holding a point
//! (an R-tree of the polygons' bounding boxes, then an exact point-in-polygon test on the few
//! candidates), to walk an area's path from the top, and to resolve where a posted message is.

use std::collections::HashMap;

use geo::{BoundingRect, Coord, Intersects, Polygon};
use nazer_shared::http::FieldIssue;
use rstar::{AABB, RTree, RTreeObject};

use super::{Area, Level};

/// What the index tells of an area: everything but its boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaEntry {
    pub code: String,
    pub parent: Option<String>,
    pub level: String,
    /// The level's rank (1 at the top); None when the level is not among the known levels.
    pub rank: Option<i32>,
    pub name_fa: String,
    pub name_en: String,
    /// The boundary only shows roughly where the area is.
    pub illustrative: bool,
    /// Whether the area has a boundary, so points can be located in it.
    pub has_boundary: bool,
}

/// How many candidate boxes `locate` sorts before testing; past that, it tests the rest as
/// they come.
const CANDIDATES: usize = 16;

/// One polygon of an area's boundary, in the R-tree by its bounding box.
struct Piece {
    polygon: Polygon<f64>,
    envelope: AABB<[f64; 2]>,
    /// Which of the areas holding a point wins: lower wins (the deepest, then the smallest code).
    preference: u32,
    area: usize,
}

impl RTreeObject for Piece {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// The tree of areas, read-only once built, to share between threads (`Arc<AreaIndex>`).
pub struct AreaIndex {
    entries: Vec<AreaEntry>,
    by_code: HashMap<String, usize>,
    /// Each entry's parent, when it is in the index.
    parents: Vec<Option<usize>>,
    pieces: RTree<Piece>,
    top_rank: Option<i32>,
}

impl AreaIndex {
    /// Indexes the whole tree. An area's depth is its level's rank; areas whose level is not
    /// among `levels` count as shallowest. A parent missing from `areas` ends a path there.
    pub fn build(areas: &[Area], levels: &[Level]) -> AreaIndex {
        let ranks: HashMap<&str, i32> = levels.iter().map(|l| (l.code.as_str(), l.rank)).collect();
        let entries: Vec<AreaEntry> = areas
            .iter()
            .map(|a| AreaEntry {
                code: a.code.clone(),
                parent: a.parent.clone(),
                level: a.level.clone(),
                rank: ranks.get(a.level.as_str()).copied(),
                name_fa: a.name_fa.clone(),
                name_en: a.name_en.clone(),
                illustrative: a.illustrative,
                has_boundary: a.geometry.as_ref().is_some_and(|g| !g.0.is_empty()),
            })
            .collect();
        let by_code: HashMap<String, usize> = entries.iter().enumerate().map(|(i, e)| (e.code.clone(), i)).collect();
        let parents: Vec<Option<usize>> =
            entries.iter().map(|e| e.parent.as_ref().and_then(|p| by_code.get(p).copied())).collect();

        // The deepest first: by rank, then by depth in the tree, then by code.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        let depths: Vec<usize> = (0..entries.len()).map(|i| ancestors(&parents, i).count()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| (std::cmp::Reverse(entries[i].rank), std::cmp::Reverse(depths[i]));
            key(a).cmp(&key(b)).then_with(|| entries[a].code.cmp(&entries[b].code))
        });
        let mut preference = vec![0u32; entries.len()];
        for (place, &i) in order.iter().enumerate() {
            preference[i] = u32::try_from(place).unwrap_or(u32::MAX);
        }

        let mut pieces = Vec::new();
        for (i, area) in areas.iter().enumerate() {
            for polygon in area.geometry.iter().flat_map(|g| g.0.iter()) {
                let Some(rect) = polygon.bounding_rect() else { continue };
                let envelope = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
                pieces.push(Piece { polygon: polygon.clone(), envelope, preference: preference[i], area: i });
            }
        }
        AreaIndex {
            entries,
            by_code,
            parents,
            pieces: RTree::bulk_load(pieces),
            top_rank: levels.iter().map(|l| l.rank).min(),
        }
    }

    /// How many areas are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The code of the deepest area (highest level rank) whose boundary holds the point, a
    /// point on a boundary counting as held; among areas as deep, the smallest code (so a
    /// point on a shared border always lands in the same one). None when no boundary holds it.
    pub fn locate(&self, lat: f64, long: f64) -> Option<&str> {
        let coord = Coord { x: long, y: lat };
        let mut candidates = self.pieces.locate_in_envelope_intersecting(&AABB::from_point([long, lat]));
        // The few pieces whose box holds the point, the preferred first, so the exact test
        // usually runs on one small polygon (a neighbourhood) and stops there.
        let mut held: [Option<&Piece>; CANDIDATES] = [None; CANDIDATES];
        let mut count = 0;
        for piece in candidates.by_ref() {
            let mut at = count;
            while at > 0 && held[at - 1].is_some_and(|p| p.preference > piece.preference) {
                held[at] = held[at - 1];
                at -= 1;
            }
            held[at] = Some(piece);
            count += 1;
            if count == CANDIDATES {
                break;
            }
        }
        let mut best = held.iter().flatten().find(|piece| piece.polygon.intersects(&coord)).copied();
        // More boxes than the buffer holds: the rest one by one, each only when it would win.
        for piece in candidates {
            if best.is_some_and(|b| b.preference <= piece.preference) {
                continue;
            }
            if piece.polygon.intersects(&coord) {
                best = Some(piece);
            }
        }
        best.map(|piece| self.entries[piece.area].code.as_str())
    }

    /// The codes from the top of the tree down to `code`, inclusive; None for an unknown code.
    pub fn path(&self, code: &str) -> Option<Vec<&str>> {
        let &i = self.by_code.get(code)?;
        let mut path: Vec<&str> = ancestors(&self.parents, i).map(|a| self.entries[a].code.as_str()).collect();
        path.reverse();
        path.push(&self.entries[i].code);
        Some(path)
    }

    /// The area of that code, without its boundary.
    pub fn get(&self, code: &str) -> Option<&AreaEntry> {
        self.by_code.get(code).map(|&i| &self.entries[i])
    }

    /// The codes of the areas at the top level (the provinces), sorted.
    pub fn top_codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.entries.iter().filter(|e| self.is_top(e)).map(|e| e.code.as_str()).collect();
        codes.sort_unstable();
        codes
    }

    fn is_top(&self, entry: &AreaEntry) -> bool {
        entry.rank.is_some() && entry.rank == self.top_rank
    }

    fn named(&self, code: &str) -> String {
        match self.get(code) {
            Some(entry) => format!("`{code}` ({})", entry.name_en),
            None => format!("`{code}`"),
        }
    }

    /// Where a posted message is, as the path of codes from the top down: from `area` (an
    /// area's code), `location` (latitude, longitude; their ranges are the caller's to check)
    /// and `province` (a top-level code, as older clients send). Each one given resolves to a
    /// path and the paths must agree (one lies within the other); the deepest is returned.
    /// Issues are on the field at fault: `area`, `location` or `province`.
    pub fn resolve(
        &self,
        area: Option<&str>,
        location: Option<(f64, f64)>,
        province: Option<&str>,
    ) -> Result<Vec<String>, Vec<FieldIssue>> {
        if area.is_none() && location.is_none() && province.is_none() {
            return Err(vec![FieldIssue::new(
                "area",
                "is required: give `area` (an area's code), `location` (latitude and longitude) or `province`",
            )]);
        }
        let mut issues = Vec::new();
        let by_area = area.and_then(|code| {
            let path = self.path(code);
            if path.is_none() {
                issues.push(FieldIssue::new(
                    "area",
                    format!("`{code}` is not a known area; GET /api/v1/areas lists the codes"),
                ));
            }
            path
        });
        let located = location.and_then(|(lat, long)| {
            let found = self.locate(lat, long);
            // Where no boundary is known (a province without its districts' lines), a point
            // beside an `area` or `province` places nothing and contradicts nothing.
            if found.is_none() && area.is_none() && province.is_none() {
                issues.push(FieldIssue::new(
                    "location",
                    format!(
                        "no known area holds the point (latitude {lat}, longitude {long}); send `area` with the \
                         area's code instead"
                    ),
                ));
            }
            found.map(|code| (lat, long, code))
        });
        let by_location = located.and_then(|(_, _, code)| self.path(code));
        let by_province = province.and_then(|code| {
            match self.get(code) {
                Some(entry) if self.is_top(entry) => return self.path(code),
                Some(entry) => issues.push(FieldIssue::new(
                    "province",
                    format!("`{code}` is a `{}`, not a province; send it as `area` instead", entry.level),
                )),
                None => issues.push(FieldIssue::new(
                    "province",
                    format!("`{code}` is not a province code; use one of: {}", self.top_codes().join(", ")),
                )),
            }
            None
        });

        if let (Some(by_area), Some(by_location), Some((lat, long, found)), Some(code)) =
            (&by_area, &by_location, located, area)
            && !agree(by_area, by_location)
        {
            issues.push(FieldIssue::new(
                "location",
                format!(
                    "the point (latitude {lat}, longitude {long}) is in {}, which is neither within area {} nor \
                     holds it; correct `location` or `area`, or send only one of them",
                    self.named(found),
                    self.named(code)
                ),
            ));
        }
        if let (Some(by_province), Some(code)) = (&by_province, province) {
            let mut outside = None;
            if let (Some(given), Some(by_area)) = (area, &by_area)
                && !agree(by_area, by_province)
            {
                outside = Some(format!("area {}", self.named(given)));
            } else if let (Some((lat, long, found)), Some(by_location)) = (located, &by_location)
                && !agree(by_location, by_province)
            {
                outside = Some(format!("the point (latitude {lat}, longitude {long}), in {}", self.named(found)));
            }
            if let Some(outside) = outside {
                issues.push(FieldIssue::new(
                    "province",
                    format!(
                        "province {} does not hold {outside}; correct `province` or leave it out",
                        self.named(code)
                    ),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let deepest = [by_area, by_location, by_province].into_iter().flatten().max_by_key(Vec::len);
        Ok(deepest.unwrap_or_default().into_iter().map(str::to_string).collect())
    }
}

/// Whether one path lies within the other: the shorter is a prefix of the longer.
fn agree(a: &[&str], b: &[&str]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// The ancestors of entry `i`, nearest first; stops at a missing parent or a cycle.
fn ancestors(parents: &[Option<usize>], i: usize) -> impl Iterator<Item = usize> + '_ {
    let mut current = i;
    let mut steps = 0;
    std::iter::from_fn(move || {
        let parent = parents[current]?;
        steps += 1;
        if parent == i || steps > parents.len() {
            return None;
        }
        current = parent;
        Some(parent)
    })
}

#[cfg(test)]
mod tests {
    use geo::{LineString, MultiPolygon, polygon};

    use super::*;

    fn levels() -> Vec<Level> {
        [("province", 1), ("city", 3), ("district", 4), ("neighbourhood", 6)]
            .into_iter()
            .map(|(code, rank)| Level { code: code.into(), rank, name_fa: code.into(), name_en: code.into() })
            .collect()
    }

    fn ring(x0: f64, y0: f64, x1: f64, y1: f64) -> LineString<f64> {
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    }

    fn area(code: &str, parent: Option<&str>, level: &str, geometry: Option<Polygon<f64>>) -> Area {
        Area {
            code: code.into(),
            parent: parent.map(Into::into),
            level: level.into(),
            name_fa: format!("{code} fa"),
            name_en: format!("{code} en"),
            geometry: geometry.map(|p| MultiPolygon(vec![p])),
            illustrative: false,
        }
    }

    /// A province without a boundary; its city over x (longitude) 0..10, y (latitude) 0..10
    /// with a hole at 8..9; district 5 (x 0..5) and district 6 (x 5..10, with the hole)
    /// sharing the edge x = 5; a neighbourhood of district 6 at x 6..7, y 1..2; and a second
    /// province far away.
    fn index() -> AreaIndex {
        let hole = ring(8.0, 8.0, 9.0, 9.0);
        let areas = vec![
            area("tehran", None, "province", None),
            area(
                "tehran-city",
                Some("tehran"),
                "city",
                Some(Polygon::new(ring(0.0, 0.0, 10.0, 10.0), vec![hole.clone()])),
            ),
            area("district-05", Some("tehran-city"), "district", Some(Polygon::new(ring(0.0, 0.0, 5.0, 10.0), vec![]))),
            area(
                "district-06",
                Some("tehran-city"),
                "district",
                Some(Polygon::new(ring(5.0, 0.0, 10.0, 10.0), vec![hole])),
            ),
            area("n-06-a", Some("district-06"), "neighbourhood", Some(Polygon::new(ring(6.0, 1.0, 7.0, 2.0), vec![]))),
            area(
                "alborz",
                None,
                "province",
                Some(polygon![(x: 20.0, y: 20.0), (x: 30.0, y: 20.0), (x: 25.0, y: 30.0)]),
            ),
        ];
        AreaIndex::build(&areas, &levels())
    }

    fn fields(issues: &[FieldIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.field.as_str()).collect()
    }

    #[test]
    fn is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<AreaIndex>();
    }

    #[test]
    fn locates_the_deepest_area_holding_a_point() {
        let index = index();
        // (latitude, longitude): latitude is y.
        assert_eq!(index.locate(1.5, 6.5), Some("n-06-a"));
        assert_eq!(index.locate(6.5, 1.5), Some("district-05"));
        assert_eq!(index.locate(5.0, 8.0), Some("district-06"));
        assert_eq!(index.locate(25.0, 25.0), Some("alborz"));
        // Outside every boundary, and in the hole of the city and district 6.
        assert_eq!(index.locate(-1.0, 5.0), None);
        assert_eq!(index.locate(11.0, 5.0), None);
        assert_eq!(index.locate(8.5, 8.5), None);
        assert_eq!(index.locate(f64::NAN, 5.0), None);
    }

    #[test]
    fn a_point_on_a_border_lands_in_one_area_always() {
        let index = index();
        // On the edge districts 5 and 6 share: the smaller code of the two.
        assert_eq!(index.locate(3.0, 5.0), Some("district-05"));
        // On the neighbourhood's edge and corner: it is held.
        assert_eq!(index.locate(1.0, 6.5), Some("n-06-a"));
        assert_eq!(index.locate(2.0, 7.0), Some("n-06-a"));
        // On the city's outer edge, and on the hole's edge (part of district 6's boundary).
        assert_eq!(index.locate(0.0, 2.0), Some("district-05"));
        assert_eq!(index.locate(8.0, 8.5), Some("district-06"));
    }

    #[test]
    fn many_overlapping_boxes_still_give_the_deepest_then_smallest_code() {
        // More candidates at the centre than `locate` sorts at once.
        let mut areas: Vec<Area> = (0..3 * CANDIDATES)
            .rev()
            .map(|k| {
                let r = k as f64 + 1.0;
                area(&format!("sq-{k:02}"), None, "district", Some(Polygon::new(ring(-r, -r, r, r), vec![])))
            })
            .collect();
        assert_eq!(AreaIndex::build(&areas, &levels()).locate(0.0, 0.0), Some("sq-00"));
        assert_eq!(AreaIndex::build(&areas, &levels()).locate(30.5, -30.5), Some("sq-30"));
        areas.push(area("zz", None, "neighbourhood", Some(Polygon::new(ring(-0.5, -0.5, 0.5, 0.5), vec![]))));
        areas.push(area("a-city", None, "city", Some(Polygon::new(ring(-0.5, -0.5, 0.5, 0.5), vec![]))));
        let index = AreaIndex::build(&areas, &levels());
        assert_eq!(index.locate(0.0, 0.0), Some("zz"));
        assert_eq!(index.locate(0.7, 0.0), Some("sq-00"));
    }

    #[test]
    fn paths_and_entries() {
        let index = index();
        assert_eq!(index.path("n-06-a").unwrap(), ["tehran", "tehran-city", "district-06", "n-06-a"]);
        assert_eq!(index.path("tehran").unwrap(), ["tehran"]);
        assert_eq!(index.path("nowhere"), None);
        let entry = index.get("district-06").unwrap();
        assert_eq!(entry.parent.as_deref(), Some("tehran-city"));
        assert_eq!((entry.level.as_str(), entry.rank), ("district", Some(4)));
        assert_eq!((entry.name_fa.as_str(), entry.name_en.as_str()), ("district-06 fa", "district-06 en"));
        assert!(entry.has_boundary);
        assert!(!index.get("tehran").unwrap().has_boundary);
        assert_eq!(index.top_codes(), ["alborz", "tehran"]);
        assert_eq!(index.len(), 6);
    }

    #[test]
    fn a_path_stops_at_a_missing_parent_or_a_cycle() {
        let areas = vec![
            area("orphan", Some("gone"), "district", None),
            area("a", Some("b"), "city", None),
            area("b", Some("a"), "city", None),
        ];
        let index = AreaIndex::build(&areas, &levels());
        assert_eq!(index.path("orphan").unwrap(), ["orphan"]);
        assert_eq!(index.path("a").unwrap(), ["b", "a"]);
    }

    fn path(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn resolves_each_alone() {
        let index = index();
        assert_eq!(
            index.resolve(Some("district-06"), None, None).unwrap(),
            path(&["tehran", "tehran-city", "district-06"])
        );
        assert_eq!(
            index.resolve(None, Some((1.5, 6.5)), None).unwrap(),
            path(&["tehran", "tehran-city", "district-06", "n-06-a"])
        );
        assert_eq!(index.resolve(None, None, Some("tehran")).unwrap(), path(&["tehran"]));
    }

    #[test]
    fn agreeing_inputs_give_the_deepest_path() {
        let index = index();
        // A point in district 6's neighbourhood, with area district 6.
        assert_eq!(
            index.resolve(Some("district-06"), Some((1.5, 6.5)), Some("tehran")).unwrap(),
            path(&["tehran", "tehran-city", "district-06", "n-06-a"])
        );
        // The neighbourhood as area, the point elsewhere in its district.
        assert_eq!(
            index.resolve(Some("n-06-a"), Some((5.0, 8.0)), None).unwrap(),
            path(&["tehran", "tehran-city", "district-06", "n-06-a"])
        );
        assert_eq!(
            index.resolve(None, Some((6.5, 1.5)), Some("tehran")).unwrap(),
            path(&["tehran", "tehran-city", "district-05"])
        );
    }

    #[test]
    fn disagreeing_inputs_are_refused_naming_both() {
        let index = index();
        let issues = index.resolve(Some("district-06"), Some((6.5, 1.5)), None).unwrap_err();
        assert_eq!(fields(&issues), ["location"]);
        assert!(issues[0].problem.contains("is in `district-05`"), "{}", issues[0].problem);
        assert!(issues[0].problem.contains("area `district-06`"), "{}", issues[0].problem);

        let issues = index.resolve(Some("district-06"), None, Some("alborz")).unwrap_err();
        assert_eq!(fields(&issues), ["province"]);
        assert!(issues[0].problem.contains("province `alborz` (alborz en) does not hold area `district-06`"));

        let issues = index.resolve(None, Some((25.0, 25.0)), Some("tehran")).unwrap_err();
        assert_eq!(fields(&issues), ["province"]);
        assert!(issues[0].problem.contains("in `alborz`"), "{}", issues[0].problem);
    }

    #[test]
    fn unknown_inputs_are_refused_on_their_field() {
        let index = index();
        let issues = index.resolve(None, None, None).unwrap_err();
        assert_eq!(fields(&issues), ["area"]);
        assert!(issues[0].problem.contains("give `area`") && issues[0].problem.contains("or `province`"));

        let issues = index.resolve(Some("nowhere"), Some((8.5, 8.5)), Some("atlantis")).unwrap_err();
        assert_eq!(fields(&issues), ["area", "province"]);
        assert!(issues[1].problem.contains("use one of: alborz, tehran"), "{}", issues[1].problem);
        let issues = index.resolve(None, Some((8.5, 8.5)), None).unwrap_err();
        assert_eq!(fields(&issues), ["location"]);
        assert!(issues[0].problem.contains("no known area holds the point") && issues[0].problem.contains("`area`"));

        let issues = index.resolve(None, None, Some("tehran-city")).unwrap_err();
        assert_eq!(fields(&issues), ["province"]);
        assert!(issues[0].problem.contains("not a province; send it as `area`"), "{}", issues[0].problem);
    }

    #[test]
    fn a_province_without_a_boundary_still_resolves_a_point_below_it() {
        let index = index();
        assert!(!index.get("tehran").unwrap().has_boundary);
        assert_eq!(index.resolve(None, Some((3.0, 5.0)), Some("tehran")).unwrap()[0], "tehran");
    }

    #[test]
    fn a_point_no_boundary_holds_places_nothing_beside_an_area_or_a_province() {
        let index = index();
        assert_eq!(index.resolve(None, Some((8.5, 8.5)), Some("tehran")).unwrap(), ["tehran"]);
        assert_eq!(index.resolve(Some("tehran"), Some((8.5, 8.5)), None).unwrap(), ["tehran"]);
    }
}
