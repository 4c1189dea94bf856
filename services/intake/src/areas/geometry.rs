//! Boundaries as GeoJSON: `parse` reads a `Polygon` or `MultiPolygon` geometry into a checked
//! `MultiPolygon` (positions `[longitude, latitude]` in WGS84), `to_geojson` writes one back.
//!
//! Errors say where the problem is, counting from 1 as a person reads the file: "polygon 2,
//! ring 1, position 7" (ring 1 is a polygon's outer boundary, the next ones its holes; "polygon
//! N" is left out for a plain `Polygon`).

use geo::algorithm::validation::{InvalidMultiPolygon, InvalidPolygon, RingRole};
use geo::{Coord, Intersects, Line, LineString, MultiPolygon, Polygon, Validation};
use serde_json::{Value, json};

const ACCEPTED: &str = "a boundary is a GeoJSON `Polygon` or `MultiPolygon`, such as \
    {\"type\": \"Polygon\", \"coordinates\": [[[51.30, 35.60], [51.50, 35.60], [51.50, 35.80], [51.30, 35.60]]]}";

/// Reads a GeoJSON geometry object of type `Polygon` or `MultiPolygon` and checks it: every
/// position `[longitude, latitude]` within −180..180 and −90..90 (further elements such as an
/// altitude are ignored), every ring closed with at least 4 positions and not crossing itself,
/// holes inside their outer boundary, the polygons of a `MultiPolygon` not overlapping. The
/// error says what is wrong, where, and how to fix it.
pub fn parse(value: &Value) -> Result<MultiPolygon<f64>, String> {
    let (geometry, multi) = read_shape(value)?;
    check_ring_lengths(&geometry, multi)?;
    check(&geometry, multi)?;
    Ok(geometry)
}

/// Reads a boundary stored after `parse` checked it, without checking it again (the checks
/// cost time that grows with the square of a ring's length).
pub fn read_checked(value: &Value) -> Result<MultiPolygon<f64>, String> {
    read_shape(value).map(|(geometry, _)| geometry)
}

/// The most positions a ring may have: checking a ring for crossings compares its edges pair by
/// pair, so a longer one would hold an import for seconds. Real district and neighbourhood
/// boundaries need far fewer.
pub const MAX_RING_POSITIONS: usize = 10_000;

/// Refuses a ring too long to check, before it is checked. Only new boundaries are held to it:
/// one stored before the limit is still read.
fn check_ring_lengths(geometry: &MultiPolygon<f64>, multi: bool) -> Result<(), String> {
    for (p, polygon) in geometry.0.iter().enumerate() {
        for (r, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
            if ring.0.len() > MAX_RING_POSITIONS {
                return Err(format!(
                    "{}: has {} positions, more than the {MAX_RING_POSITIONS} a ring may have; simplify the boundary",
                    at(multi.then_some(p + 1), Some(r + 1), None),
                    ring.0.len()
                ));
            }
        }
    }
    Ok(())
}

/// The geometry's shape, and whether it was written as a `MultiPolygon`.
fn read_shape(value: &Value) -> Result<(MultiPolygon<f64>, bool), String> {
    let Some(object) = value.as_object() else {
        return Err(format!("is not a GeoJSON geometry object; {ACCEPTED}"));
    };
    let multi = match object.get("type").and_then(Value::as_str) {
        Some("Polygon") => false,
        Some("MultiPolygon") => true,
        Some(other) => return Err(format!("has type `{other}`, which is not accepted; {ACCEPTED}")),
        None => return Err(format!("has no `type`; {ACCEPTED}")),
    };
    let Some(value) = object.get("coordinates").filter(|c| c.is_array()) else {
        return Err(format!("has no `coordinates` array; {ACCEPTED}"));
    };
    let coordinates = value.as_array().map(Vec::as_slice).unwrap_or_default();
    let geometry = if multi {
        if coordinates.is_empty() {
            return Err("is a `MultiPolygon` with no polygons; give at least one, or no geometry (null)".into());
        }
        let polygons = coordinates
            .iter()
            .enumerate()
            .map(|(i, rings)| read_polygon(rings, Some(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        MultiPolygon(polygons)
    } else {
        MultiPolygon(vec![read_polygon(value, None)?])
    };
    Ok((geometry, multi))
}

/// Writes a boundary as a GeoJSON geometry: a `Polygon` when there is one polygon, else a
/// `MultiPolygon`; positions `[longitude, latitude]`. `parse` reads it back to the same value.
pub fn to_geojson(geometry: &MultiPolygon<f64>) -> Value {
    match geometry.0.as_slice() {
        [polygon] => json!({ "type": "Polygon", "coordinates": polygon_coordinates(polygon) }),
        polygons => json!({
            "type": "MultiPolygon",
            "coordinates": polygons.iter().map(polygon_coordinates).collect::<Vec<_>>(),
        }),
    }
}

fn polygon_coordinates(polygon: &Polygon<f64>) -> Vec<Vec<[f64; 2]>> {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .map(|ring| ring.coords().map(|c| [c.x, c.y]).collect())
        .collect()
}

/// Where a problem is: "polygon 2, ring 1, position 7", each part counted from 1.
fn at(polygon: Option<usize>, ring: Option<usize>, position: Option<usize>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = polygon {
        parts.push(format!("polygon {p}"));
    }
    if let Some(r) = ring {
        parts.push(format!("ring {r}"));
    }
    if let Some(p) = position {
        parts.push(format!("position {p}"));
    }
    if parts.is_empty() { "the polygon".into() } else { parts.join(", ") }
}

fn read_polygon(value: &Value, polygon: Option<usize>) -> Result<Polygon<f64>, String> {
    let Some(rings) = value.as_array() else {
        return Err(format!(
            "{}: is not a polygon; write an array of rings, the outer boundary first, then any holes",
            at(polygon, None, None)
        ));
    };
    let Some((exterior, holes)) = rings.split_first() else {
        return Err(format!("{}: has no rings; give at least its outer boundary", at(polygon, None, None)));
    };
    let exterior = read_ring(exterior, polygon, 1)?;
    let interiors =
        holes.iter().enumerate().map(|(h, ring)| read_ring(ring, polygon, h + 2)).collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn read_ring(value: &Value, polygon: Option<usize>, ring: usize) -> Result<LineString<f64>, String> {
    let here = at(polygon, Some(ring), None);
    let Some(positions) = value.as_array() else {
        return Err(format!("{here}: is not a ring; write an array of [longitude, latitude] positions"));
    };
    let coords = positions
        .iter()
        .enumerate()
        .map(|(i, position)| read_position(position, &at(polygon, Some(ring), Some(i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 4 {
        return Err(format!(
            "{here}: has {} position(s); a ring needs at least 4, the last one repeating the first",
            coords.len()
        ));
    }
    if let (Some(first), Some(last)) = (coords.first(), coords.last())
        && first != last
    {
        return Err(format!(
            "{here}: is not closed: its last position [{}, {}] differs from its first [{}, {}]; \
             repeat the first position at the end",
            last.x, last.y, first.x, first.y
        ));
    }
    Ok(LineString(coords))
}

fn read_position(value: &Value, here: &str) -> Result<Coord<f64>, String> {
    const FORM: &str = "write [longitude, latitude] in degrees, such as [51.389, 35.689]";
    let Some(numbers) = value.as_array() else {
        return Err(format!("{here}: is not a position; {FORM}"));
    };
    let (Some(long), Some(lat)) = (numbers.first().and_then(Value::as_f64), numbers.get(1).and_then(Value::as_f64))
    else {
        return Err(format!("{here}: is not a position of two numbers; {FORM}"));
    };
    if !long.is_finite() || !lat.is_finite() {
        return Err(format!("{here}: is not made of finite numbers; {FORM}"));
    }
    let swapped = (-90.0..=90.0).contains(&long) && (-180.0..=180.0).contains(&lat);
    let hint = if swapped { " (is it written [latitude, longitude]? GeoJSON puts the longitude first)" } else { "" };
    if !(-180.0..=180.0).contains(&long) {
        return Err(format!("{here}: longitude {long} is outside −180..180{hint}; {FORM}"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("{here}: latitude {lat} is outside −90..90{hint}; {FORM}"));
    }
    Ok(Coord { x: long, y: lat })
}

/// The checks that need whole rings and polygons (geo's validation), with the first problem
/// told where it is. `multi` says whether polygons are numbered in messages.
fn check(geometry: &MultiPolygon<f64>, multi: bool) -> Result<(), String> {
    let Err(problem) = geometry.check_validation() else { return Ok(()) };
    let number = |i: usize| multi.then_some(i + 1);
    Err(match problem {
        InvalidMultiPolygon::InvalidPolygon(index, problem) => {
            let p = index.0;
            let polygon = geometry.0.get(p);
            polygon_problem(polygon, number(p), problem)
        }
        InvalidMultiPolygon::ElementsOverlaps(a, b) => format!(
            "polygons {} and {} overlap; the polygons of a MultiPolygon must not overlap: merge them into one",
            a.0 + 1,
            b.0 + 1
        ),
        InvalidMultiPolygon::ElementsTouchOnALine(a, b) => format!(
            "polygons {} and {} share an edge; the polygons of a MultiPolygon may touch only at single \
             points: merge them into one polygon",
            a.0 + 1,
            b.0 + 1
        ),
    })
}

fn ring_number(role: RingRole) -> usize {
    match role {
        RingRole::Exterior => 1,
        RingRole::Interior(i) => i + 2,
    }
}

fn ring_of(polygon: &Polygon<f64>, role: RingRole) -> Option<&LineString<f64>> {
    match role {
        RingRole::Exterior => Some(polygon.exterior()),
        RingRole::Interior(i) => polygon.interiors().get(i),
    }
}

fn polygon_problem(polygon: Option<&Polygon<f64>>, number: Option<usize>, problem: InvalidPolygon) -> String {
    let ring_at = |role: RingRole| at(number, Some(ring_number(role)), None);
    match problem {
        InvalidPolygon::TooFewPointsInRing(role) => format!(
            "{}: has fewer than 3 distinct corners, so it encloses no area; give the ring's corners in order",
            ring_at(role)
        ),
        InvalidPolygon::SelfIntersection(role) => {
            let crossing = polygon.and_then(|p| ring_of(p, role)).and_then(self_crossing);
            let edges = match crossing {
                Some((i, j)) => format!(
                    " (the edge from position {} to {} meets the edge from position {} to {})",
                    i + 1,
                    i + 2,
                    j + 1,
                    j + 2
                ),
                None => String::new(),
            };
            format!(
                "{}: crosses or touches itself{edges}; a ring must be a simple loop: fix the positions, or \
                 make each loop a polygon of a MultiPolygon",
                ring_at(role)
            )
        }
        InvalidPolygon::NonFiniteCoord(role, index) => format!(
            "{}: is not made of finite numbers; write [longitude, latitude] in degrees",
            at(number, Some(ring_number(role)), Some(index.0 + 1))
        ),
        InvalidPolygon::InteriorRingNotContainedInExteriorRing(role) => format!(
            "{}: is a hole but is not inside ring 1, the outer boundary; a hole must lie within its outer \
             boundary (or make it a polygon of its own in a MultiPolygon)",
            ring_at(role)
        ),
        InvalidPolygon::IntersectingRingsOnALine(a, b) => format!(
            "{}: rings {} and {} share an edge; rings may touch only at single points",
            at(number, None, None),
            ring_number(a),
            ring_number(b)
        ),
        InvalidPolygon::IntersectingRingsOnAnArea(a, b) => format!(
            "{}: holes {} and {} overlap; merge them into one hole",
            at(number, None, None),
            ring_number(a),
            ring_number(b)
        ),
    }
}

/// The first pair of edges of a ring that meet other than where neighbours join, as the
/// indices of their first positions (the same rule as geo's self-intersection check).
fn self_crossing(ring: &LineString<f64>) -> Option<(usize, usize)> {
    let lines: Vec<Line<f64>> = ring.lines().collect();
    for (i, a) in lines.iter().enumerate() {
        for (j, b) in lines.iter().enumerate().skip(i + 1) {
            if a.intersects(b) && a.start != b.end && a.end != b.start {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f64, y: f64, size: f64) -> Value {
        json!([[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]])
    }

    fn polygon(rings: Value) -> Value {
        json!({ "type": "Polygon", "coordinates": rings })
    }

    fn multi(polygons: Value) -> Value {
        json!({ "type": "MultiPolygon", "coordinates": polygons })
    }

    fn error(value: Value) -> String {
        match parse(&value) {
            Ok(geometry) => panic!("expected an error, read {geometry:?}"),
            Err(message) => message,
        }
    }

    #[test]
    fn reads_a_polygon_with_a_hole() {
        let value = polygon(json!([square(51.0, 35.0, 1.0), square(51.25, 35.25, 0.5)]));
        let geometry = parse(&value).unwrap();
        assert_eq!(geometry.0.len(), 1);
        assert_eq!(geometry.0[0].exterior().0.len(), 5);
        assert_eq!(geometry.0[0].interiors().len(), 1);
        assert_eq!(geometry.0[0].exterior().0[1], Coord { x: 52.0, y: 35.0 });
    }

    #[test]
    fn reads_a_multipolygon_and_ignores_altitudes() {
        let with_altitude = json!([[[0.0, 0.0, 1200.0], [1.0, 0.0, 1200.0], [1.0, 1.0, 5.0], [0.0, 0.0, 1.0]]]);
        let geometry = parse(&multi(json!([with_altitude, [square(2.0, 0.0, 1.0)]]))).unwrap();
        assert_eq!(geometry.0.len(), 2);
        assert_eq!(geometry.0[0].exterior().0[2], Coord { x: 1.0, y: 1.0 });
    }

    #[test]
    fn round_trips() {
        let one = parse(&polygon(json!([square(51.0, 35.0, 1.0), square(51.25, 35.25, 0.5)]))).unwrap();
        let written = to_geojson(&one);
        assert_eq!(written["type"], "Polygon");
        assert_eq!(written["coordinates"][0][1], json!([52.0, 35.0]));
        assert_eq!(parse(&written).unwrap(), one);

        let two = parse(&multi(json!([[square(0.0, 0.0, 1.0)], [square(3.0, 3.0, 1.0)]]))).unwrap();
        let written = to_geojson(&two);
        assert_eq!(written["type"], "MultiPolygon");
        assert_eq!(parse(&written).unwrap(), two);
    }

    #[test]
    fn a_ring_too_long_to_check_is_refused_before_it_is_checked() {
        let positions = MAX_RING_POSITIONS + 1;
        let mut ring: Vec<Value> = (0..positions - 1)
            .map(|i| {
                let angle = std::f64::consts::TAU * i as f64 / (positions - 1) as f64;
                json!([51.4 + 0.1 * angle.cos(), 35.7 + 0.1 * angle.sin()])
            })
            .collect();
        ring.push(ring[0].clone());
        let long = json!({ "type": "Polygon", "coordinates": [ring] });
        let problem = parse(&long).unwrap_err();
        assert!(problem.contains("more than the 10000 a ring may have"), "{problem}");
        // One stored before the limit still reads.
        assert_eq!(read_checked(&long).map(|g| g.0[0].exterior().0.len()), Ok(positions));
    }

    #[test]
    fn names_the_accepted_types() {
        let message = error(json!({ "type": "Point", "coordinates": [51.0, 35.0] }));
        assert!(message.contains("`Point`") && message.contains("`Polygon` or `MultiPolygon`"), "{message}");
        assert!(error(json!("POLYGON((0 0, 1 0, 1 1, 0 0))")).contains("`Polygon` or `MultiPolygon`"));
        assert!(error(json!({ "coordinates": [] })).contains("no `type`"));
        assert!(error(json!({ "type": "Polygon" })).contains("no `coordinates`"));
        assert!(error(polygon(json!([]))).contains("no rings"));
        assert!(error(multi(json!([]))).contains("no polygons"));
    }

    #[test]
    fn positions_are_long_lat_in_range() {
        let message = error(polygon(json!([[[0.0, 0.0], [1.0, 0.0], [181.0, 1.0], [0.0, 0.0]]])));
        assert!(message.starts_with("ring 1, position 3: longitude 181"), "{message}");
        // Latitude first, as people often write it: the hint says so.
        let message = error(polygon(json!([[[35.7, 51.4], [35.8, 51.4], [35.8, 95.0], [35.7, 51.4]]])));
        assert!(message.starts_with("ring 1, position 3: latitude 95"), "{message}");
        assert!(message.contains("[latitude, longitude]"), "{message}");
        let message = error(multi(json!([[square(0.0, 0.0, 1.0)], [[[5.0, 5.0], [6.0], [6.0, 6.0], [5.0, 5.0]]]])));
        assert!(message.starts_with("polygon 2, ring 1, position 2: is not a position of two numbers"), "{message}");
        let message = error(polygon(json!([[[0.0, 0.0], "1,0", [1.0, 1.0], [0.0, 0.0]]])));
        assert!(message.starts_with("ring 1, position 2: is not a position"), "{message}");
    }

    #[test]
    fn rings_are_closed_with_four_positions() {
        let message = error(polygon(json!([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])));
        assert!(message.starts_with("ring 1: is not closed") && message.contains("repeat the first"), "{message}");
        let message = error(polygon(json!([[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])));
        assert!(message.starts_with("ring 1: has 3 position(s)"), "{message}");
        let message = error(polygon(json!([[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])));
        assert!(message.starts_with("ring 1: has fewer than 3 distinct corners"), "{message}");
    }

    #[test]
    fn a_ring_must_not_cross_itself() {
        // A bow tie: the edge 1→2 crosses the edge 3→4.
        let bow_tie = json!([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]);
        let message = error(multi(json!([[square(5.0, 5.0, 1.0)], [bow_tie]])));
        assert!(message.starts_with("polygon 2, ring 1: crosses or touches itself"), "{message}");
        assert!(message.contains("the edge from position 1 to 2 meets the edge from position 3 to 4"), "{message}");
    }

    #[test]
    fn holes_lie_inside_their_shell() {
        let message = error(polygon(json!([square(0.0, 0.0, 1.0), square(2.0, 2.0, 0.5)])));
        assert!(message.starts_with("ring 2: is a hole but is not inside ring 1"), "{message}");
        let message = error(polygon(json!([square(0.0, 0.0, 4.0), square(1.0, 1.0, 1.0), square(1.5, 1.5, 1.0)])));
        assert!(message.contains("holes 2 and 3 overlap"), "{message}");
    }

    #[test]
    fn polygons_of_a_multipolygon_do_not_overlap() {
        let message = error(multi(json!([[square(0.0, 0.0, 2.0)], [square(1.0, 1.0, 2.0)]])));
        assert!(message.starts_with("polygons 1 and 2 overlap"), "{message}");
        let message = error(multi(json!([[square(0.0, 0.0, 1.0)], [square(1.0, 0.0, 1.0)]])));
        assert!(message.starts_with("polygons 1 and 2 share an edge"), "{message}");
        // Touching at one corner is allowed.
        assert!(parse(&multi(json!([[square(0.0, 0.0, 1.0)], [square(1.0, 1.0, 1.0)]]))).is_ok());
    }
}
