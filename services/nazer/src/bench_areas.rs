//! `nazer bench areas`: how fast `AreaIndex::locate` finds the area holding a point. It makes
//! a tree like Tehran's — a province, its city, 25 districts, and a 20×20 grid of irregular
//! neighbourhoods (30 to 60 vertices each, neighbours sharing their borders exactly, districts
//! and the city bounded by the same wavy borders) — builds the index, times a million lookups
//! at random points over the city's bounding box on one thread, and times the same points against a
//! naive scan of every polygon with `Contains`, as a ratio. Pure computation: no database.

use std::hint::black_box;
use std::time::Instant;

use anyhow::bail;
use geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon, Validation};
use nazer_intake::areas::index::AreaIndex;
use nazer_intake::areas::{Area, Level};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub struct Options {
    /// Neighbourhoods per side of the grid.
    pub grid: usize,
    /// Neighbourhoods per side of a district.
    pub district_cells: usize,
    pub lookups: usize,
    pub baseline_lookups: usize,
    pub seed: u64,
}

/// The city's extent, in degrees: roughly Tehran's.
const WEST: f64 = 51.10;
const EAST: f64 = 51.60;
const SOUTH: f64 = 35.55;
const NORTH: f64 = 35.80;

pub fn run(options: &Options) -> anyhow::Result<()> {
    if options.grid == 0 || options.district_cells == 0 || !options.grid.is_multiple_of(options.district_cells) {
        bail!("--grid must be a positive multiple of --district-cells");
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let (areas, levels) = tree(options, &mut rng);
    for area in &areas {
        if let Some(geometry) = &area.geometry
            && let Err(problem) = geometry.check_validation()
        {
            bail!("the generated boundary of `{}` is invalid: {problem}", area.code);
        }
    }
    let neighbourhoods: Vec<&Area> = areas.iter().filter(|a| a.level == "neighbourhood").collect();
    let vertices: Vec<usize> =
        neighbourhoods.iter().filter_map(|a| a.geometry.as_ref()).map(|g| g.0[0].exterior().0.len() - 1).collect();
    let polygons: usize = areas.iter().filter_map(|a| a.geometry.as_ref()).map(|g| g.0.len()).sum();
    let all_vertices: usize =
        areas.iter().filter_map(|a| a.geometry.as_ref()).flat_map(|g| &g.0).map(|p| p.exterior().0.len() - 1).sum();
    println!(
        "tree: 1 province, 1 city, {} districts, {} neighbourhoods = {polygons} polygons, {all_vertices} vertices",
        areas.iter().filter(|a| a.level == "district").count(),
        neighbourhoods.len(),
    );
    println!(
        "neighbourhood polygons: {} to {} vertices, {:.1} on average",
        vertices.iter().min().copied().unwrap_or(0),
        vertices.iter().max().copied().unwrap_or(0),
        vertices.iter().sum::<usize>() as f64 / vertices.len().max(1) as f64
    );

    let started = Instant::now();
    let index = AreaIndex::build(&areas, &levels);
    let build = started.elapsed();
    println!("index build: {:.2} ms", build.as_secs_f64() * 1000.0);

    let points: Vec<(f64, f64)> =
        (0..options.lookups).map(|_| (rng.random_range(SOUTH..NORTH), rng.random_range(WEST..EAST))).collect();
    // Warm-up, then the timed run.
    for &(lat, long) in points.iter().take(10_000) {
        black_box(index.locate(lat, long));
    }
    let started = Instant::now();
    let mut located = 0usize;
    for &(lat, long) in &points {
        if black_box(index.locate(black_box(lat), black_box(long))).is_some() {
            located += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = points.len() as f64 / secs;
    println!(
        "index: {} lookups on one thread in {secs:.3} s = {rate:.0} lookups/s, {:.0} ns per lookup; {:.1} % of the \
         points located",
        points.len(),
        secs * 1e9 / points.len() as f64,
        located as f64 * 100.0 / points.len() as f64
    );
    let mut by_level = std::collections::BTreeMap::new();
    for &(lat, long) in &points {
        let level = index.locate(lat, long).and_then(|code| index.get(code)).map(|e| e.level.as_str());
        *by_level.entry(level.unwrap_or("(none)")).or_insert(0usize) += 1;
    }
    let shares: Vec<String> =
        by_level.iter().map(|(level, n)| format!("{level} {:.1} %", *n as f64 * 100.0 / points.len() as f64)).collect();
    println!("located at: {}", shares.join(", "));

    // The naive baseline: every polygon of every area, deepest wins, on the first points.
    let ranks: std::collections::HashMap<&str, i32> = levels.iter().map(|l| (l.code.as_str(), l.rank)).collect();
    let with_boundary: Vec<(&Area, &MultiPolygon<f64>, i32)> = areas
        .iter()
        .filter_map(|a| a.geometry.as_ref().map(|g| (a, g, ranks.get(a.level.as_str()).copied().unwrap_or(0))))
        .collect();
    let naive = |lat: f64, long: f64| -> Option<&str> {
        let point = Point::new(long, lat);
        let mut best: Option<(i32, &str)> = None;
        for (area, geometry, rank) in &with_boundary {
            let better = best.is_none_or(|(r, code)| *rank > r || (*rank == r && area.code.as_str() < code));
            if better && geometry.contains(&point) {
                best = Some((*rank, &area.code));
            }
        }
        best.map(|(_, code)| code)
    };
    let sample = &points[..options.baseline_lookups.min(points.len())];
    let started = Instant::now();
    let mut naive_located = 0usize;
    for &(lat, long) in sample {
        if black_box(naive(black_box(lat), black_box(long))).is_some() {
            naive_located += 1;
        }
    }
    let naive_secs = started.elapsed().as_secs_f64();
    let naive_rate = sample.len() as f64 / naive_secs;
    let differing = sample.iter().filter(|&&(lat, long)| naive(lat, long) != index.locate(lat, long)).count();
    println!(
        "naive scan of every polygon with Contains: the first {} of the same points in {naive_secs:.3} s = \
         {naive_rate:.0} lookups/s, {:.0} ns per lookup; {:.1} % located; {differing} answers differ from the index's",
        sample.len(),
        naive_secs * 1e9 / sample.len().max(1) as f64,
        naive_located as f64 * 100.0 / sample.len().max(1) as f64
    );
    println!("index / naive: {:.1} x", rate / naive_rate);
    Ok(())
}

fn levels() -> Vec<Level> {
    [("province", 1, "استان", "Province"), ("city", 3, "شهر", "City"), ("district", 4, "منطقه", "District")]
        .into_iter()
        .chain([("neighbourhood", 6, "محله", "Neighbourhood")])
        .map(|(code, rank, fa, en)| Level { code: code.into(), rank, name_fa: fa.into(), name_en: en.into() })
        .collect()
}

/// The tree: a lattice of jittered corners whose edges are wavy polylines, each edge made
/// once and shared by the cells on both sides, so the neighbourhoods tile the city exactly.
fn tree(options: &Options, rng: &mut StdRng) -> (Vec<Area>, Vec<Level>) {
    let n = options.grid;
    let (dx, dy) = ((EAST - WEST) / n as f64, (NORTH - SOUTH) / n as f64);
    // Corners, jittered inside the city (those on its edge stay on it).
    let mut corners = vec![vec![Coord { x: 0.0, y: 0.0 }; n + 1]; n + 1];
    for (i, row) in corners.iter_mut().enumerate() {
        for (j, corner) in row.iter_mut().enumerate() {
            let jitter_x = if j == 0 || j == n { 0.0 } else { rng.random_range(-0.2..0.2) * dx };
            let jitter_y = if i == 0 || i == n { 0.0 } else { rng.random_range(-0.2..0.2) * dy };
            *corner = Coord { x: WEST + j as f64 * dx + jitter_x, y: SOUTH + i as f64 * dy + jitter_y };
        }
    }
    // The wavy edges: `horizontal[i][j]` from corner (i, j) to (i, j + 1), `vertical[i][j]` from
    // (i, j) to (i + 1, j); each holds its start and its interior points, not its end.
    let mut wavy = |from: Coord<f64>, to: Coord<f64>| -> Vec<Coord<f64>> {
        let inner = rng.random_range(7..=14);
        let (ex, ey) = (to.x - from.x, to.y - from.y);
        // Perpendicular, in cell units so both axes wave alike.
        let (px, py) = (-ey / dy * dx, ex / dx * dy);
        let amplitude = 0.06;
        let mut points = vec![from];
        for k in 1..=inner {
            let t = k as f64 / (inner + 1) as f64;
            let wave = amplitude * (std::f64::consts::PI * t).sin() * rng.random_range(-1.0..1.0);
            points.push(Coord { x: from.x + ex * t + px * wave, y: from.y + ey * t + py * wave });
        }
        points
    };
    let horizontal: Vec<Vec<Vec<Coord<f64>>>> =
        (0..=n).map(|i| (0..n).map(|j| wavy(corners[i][j], corners[i][j + 1])).collect()).collect();
    let vertical: Vec<Vec<Vec<Coord<f64>>>> =
        (0..n).map(|i| (0..=n).map(|j| wavy(corners[i][j], corners[i + 1][j])).collect()).collect();

    // The boundary of the block of cells rows i0..i1, columns j0..j1, counter-clockwise.
    let block = |i0: usize, i1: usize, j0: usize, j1: usize| -> Polygon<f64> {
        let mut ring = Vec::new();
        ring.extend(horizontal[i0][j0..j1].iter().flatten());
        ring.extend(vertical[i0..i1].iter().flat_map(|row| &row[j1]));
        for j in (j0..j1).rev() {
            ring.push(corners[i1][j + 1]);
            ring.extend(horizontal[i1][j][1..].iter().rev());
        }
        for i in (i0..i1).rev() {
            ring.push(corners[i + 1][j0]);
            ring.extend(vertical[i][j0][1..].iter().rev());
        }
        ring.push(corners[i0][j0]);
        Polygon::new(LineString(ring), vec![])
    };
    let area = |code: String, parent: Option<&str>, level: &str, polygon: Polygon<f64>| Area {
        name_fa: code.clone(),
        name_en: code.clone(),
        code,
        parent: parent.map(str::to_string),
        level: level.into(),
        geometry: Some(MultiPolygon(vec![polygon])),
        illustrative: true,
    };

    // The province: a wide octagon-like ring around the city.
    let (cx, cy) = ((WEST + EAST) / 2.0, (SOUTH + NORTH) / 2.0);
    let province: Vec<Coord<f64>> = (0..=48)
        .map(|k| {
            let angle = std::f64::consts::TAU * (k % 48) as f64 / 48.0;
            Coord { x: cx + 0.6 * angle.cos(), y: cy + 0.4 * angle.sin() }
        })
        .collect();
    let mut areas = vec![
        area("tehran".into(), None, "province", Polygon::new(LineString(province), vec![])),
        area("tehran-city".into(), Some("tehran"), "city", block(0, n, 0, n)),
    ];
    let d = options.district_cells;
    for bi in 0..n / d {
        for bj in 0..n / d {
            let district = format!("district-{:02}", bi * (n / d) + bj + 1);
            areas.push(area(
                district.clone(),
                Some("tehran-city"),
                "district",
                block(bi * d, (bi + 1) * d, bj * d, (bj + 1) * d),
            ));
            for i in bi * d..(bi + 1) * d {
                for j in bj * d..(bj + 1) * d {
                    areas.push(area(
                        format!("{district}-n-{i:02}-{j:02}"),
                        Some(&district),
                        "neighbourhood",
                        block(i, i + 1, j, j + 1),
                    ));
                }
            }
        }
    }
    (areas, levels())
}
