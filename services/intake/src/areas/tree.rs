//! An import of areas: `parse_feature_collection` reads a GeoJSON `FeatureCollection` (one
//! feature per area), `check_import` checks it against the stored tree it is upserted into and
//! orders it parents first. Issues are named by the feature (`features[3].properties.parent`),
//! and each message names the feature's area when it has a code.

use std::collections::{HashMap, HashSet};

use geo::Contains;
use nazer_shared::http::{FieldIssue, is_identifier};
use serde_json::{Map, Value};

use super::{Area, Level, geometry};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

const CODE_FORM: &str =
    "a code is 1 to 64 lowercase ASCII letters, digits, '.', '_' or '-', such as `tehran-district-06`";

fn code_problem(text: &str) -> String {
    let lowercase = text.to_ascii_lowercase();
    if lowercase != text && is_identifier(&lowercase) {
        format!("`{text}` is not a code: write it in lowercase, `{lowercase}`")
    } else {
        format!("`{text}` is not a code; {CODE_FORM}")
    }
}

/// Reads a GeoJSON `FeatureCollection` of areas. Each feature's `properties` give `code`
/// (required), `parent` (a code, or null/absent at the top), `level`, `name_fa`, `name_en`
/// (required) and `illustrative` (a boolean, false when absent); its `geometry` is null or a
/// `Polygon`/`MultiPolygon` (see `geometry::parse`). Every issue found is returned, not just
/// the first; an empty collection is an issue.
pub fn parse_feature_collection(value: &Value) -> Result<Vec<Area>, Vec<FieldIssue>> {
    const SHAPE: &str = "send a GeoJSON FeatureCollection: {\"type\": \"FeatureCollection\", \"features\": \
        [{\"type\": \"Feature\", \"properties\": {\"code\": …, \"parent\": …, \"level\": …, \"name_fa\": …, \
        \"name_en\": …}, \"geometry\": …}, …]}";
    let Some(object) = value.as_object() else {
        return Err(vec![FieldIssue::new("type", format!("the body is not a JSON object; {SHAPE}"))]);
    };
    let mut issues = Vec::new();
    match object.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {}
        Some(other) => issues.push(FieldIssue::new("type", format!("is `{other}`; {SHAPE}"))),
        None => issues.push(FieldIssue::new("type", format!("is required, `FeatureCollection`; {SHAPE}"))),
    }
    let features = match object.get("features") {
        Some(Value::Array(features)) if features.is_empty() => {
            issues.push(FieldIssue::new("features", "is empty; give at least one area, one feature for each"));
            return Err(issues);
        }
        Some(Value::Array(features)) => features,
        _ => {
            issues.push(FieldIssue::new("features", format!("is required: an array of features; {SHAPE}")));
            return Err(issues);
        }
    };
    let mut areas = Vec::with_capacity(features.len());
    for (i, feature) in features.iter().enumerate() {
        if let Some(area) = read_feature(feature, &format!("features[{i}]"), &mut issues) {
            areas.push(area);
        }
    }
    if issues.is_empty() { Ok(areas) } else { Err(issues) }
}

/// "area `code`: " when the feature has a code, so a message says which area it is about.
fn about(code: Option<&str>) -> String {
    code.map(|c| format!("area `{c}`: ")).unwrap_or_default()
}

fn read_feature(feature: &Value, at: &str, issues: &mut Vec<FieldIssue>) -> Option<Area> {
    let Some(object) = feature.as_object() else {
        issues.push(FieldIssue::new(
            at,
            "is not a GeoJSON feature; write {\"type\": \"Feature\", \"properties\": {…}, \"geometry\": …}",
        ));
        return None;
    };
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        issues.push(FieldIssue::new(
            format!("{at}.properties"),
            "is required: an object with `code`, `parent`, `level`, `name_fa` and `name_en`",
        ));
        return None;
    };
    let before = issues.len();
    let field = |name: &str| format!("{at}.properties.{name}");

    let code = match properties.get("code") {
        Some(Value::String(code)) if is_identifier(code) => Some(code.clone()),
        Some(Value::String(code)) => {
            issues.push(FieldIssue::new(field("code"), code_problem(code)));
            None
        }
        None | Some(Value::Null) => {
            issues.push(FieldIssue::new(field("code"), format!("is required; {CODE_FORM}")));
            None
        }
        Some(_) => {
            issues.push(FieldIssue::new(field("code"), format!("is not a string; {CODE_FORM}")));
            None
        }
    };
    let who = about(code.as_deref());

    if let Some(kind) = object.get("type").and_then(Value::as_str)
        && kind != "Feature"
    {
        issues.push(FieldIssue::new(format!("{at}.type"), format!("{who}is `{kind}`; each area is a `Feature`")));
    }

    let parent = match properties.get("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(parent)) if is_identifier(parent) => Some(parent.clone()),
        Some(Value::String(parent)) => {
            issues.push(FieldIssue::new(field("parent"), format!("{who}{}", code_problem(parent))));
            None
        }
        Some(_) => {
            issues.push(FieldIssue::new(
                field("parent"),
                format!("{who}is not a string; give the parent area's code, or null at the top of the tree"),
            ));
            None
        }
    };
    let level =
        required_text(properties, "level", &field("level"), &who, "the level's code, such as `district`", issues);
    let name_fa = required_text(properties, "name_fa", &field("name_fa"), &who, "the area's Persian name", issues);
    let name_en = required_text(properties, "name_en", &field("name_en"), &who, "the area's English name", issues);
    let illustrative = match properties.get("illustrative") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            issues.push(FieldIssue::new(
                field("illustrative"),
                format!("{who}is not a boolean; write true when the boundary only shows roughly where the area is"),
            ));
            false
        }
    };
    let geometry = match object.get("geometry") {
        None | Some(Value::Null) => None,
        Some(value) => match geometry::parse(value) {
            Ok(geometry) => Some(geometry),
            Err(problem) => {
                issues.push(FieldIssue::new(format!("{at}.geometry"), format!("{who}{problem}")));
                None
            }
        },
    };
    if issues.len() > before {
        return None;
    }
    Some(Area { code: code?, parent, level: level?, name_fa: name_fa?, name_en: name_en?, geometry, illustrative })
}

fn required_text(
    properties: &Map<String, Value>,
    name: &str,
    field: &str,
    who: &str,
    what: &str,
    issues: &mut Vec<FieldIssue>,
) -> Option<String> {
    match properties.get(name) {
        Some(Value::String(text)) if text.trim().chars().count() > MAX_NAME_CHARS => {
            issues.push(FieldIssue::new(field, format!("{who}is longer than {MAX_NAME_CHARS} characters")));
            None
        }
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Some(Value::String(_)) => {
            issues.push(FieldIssue::new(field, format!("{who}is empty; give {what}")));
            None
        }
        None | Some(Value::Null) => {
            issues.push(FieldIssue::new(field, format!("{who}is required: {what}")));
            None
        }
        Some(_) => {
            issues.push(FieldIssue::new(field, format!("{who}is not a string; give {what}")));
            None
        }
    }
}

/// Checks areas read from a file (`incoming`, in file order, issues named `features[i]…`)
/// against the stored tree (`existing`) they are upserted into, an incoming code replacing the
/// stored area of that code: codes given twice in the file, unknown levels, unknown parents
/// (neither stored nor in the file), a parent missing below the top level, a child whose level
/// does not rank below its parent's, cycles (also through stored areas), and a boundary not
/// within its parent's (shared borders are fine) — for the file's areas under their parents,
/// and for stored children under a parent whose boundary the file replaces. Returns the
/// incoming areas ordered parents before children (file order otherwise).
pub fn check_import(existing: &[Area], incoming: &[Area], levels: &[Level]) -> Result<Vec<Area>, Vec<FieldIssue>> {
    let ranks: HashMap<&str, i32> = levels.iter().map(|l| (l.code.as_str(), l.rank)).collect();
    let top_rank = levels.iter().map(|l| l.rank).min();
    let mut by_rank: Vec<&Level> = levels.iter().collect();
    by_rank.sort_by(|a, b| (a.rank, &a.code).cmp(&(b.rank, &b.code)));
    let level_names = by_rank.iter().map(|l| format!("`{}`", l.code)).collect::<Vec<_>>().join(", ");
    let top_levels = by_rank.iter().filter(|l| Some(l.rank) == top_rank).map(|l| format!("`{}`", l.code));
    let top_levels = top_levels.collect::<Vec<_>>().join(", ");

    let mut issues = Vec::new();
    // The first feature of each code; later ones are duplicates.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut duplicate = vec![false; incoming.len()];
    for (i, area) in incoming.iter().enumerate() {
        match first.get(area.code.as_str()) {
            Some(&j) => {
                duplicate[i] = true;
                issues.push((
                    i,
                    FieldIssue::new(
                        format!("features[{i}].properties.code"),
                        format!("area `{}` is also features[{j}]; give each area once", area.code),
                    ),
                ));
            }
            None => {
                first.insert(&area.code, i);
            }
        }
    }

    // The tree as it will be: stored areas, replaced by the file's.
    let mut tree: HashMap<&str, &Area> = existing.iter().map(|a| (a.code.as_str(), a)).collect();
    for &i in first.values() {
        tree.insert(&incoming[i].code, &incoming[i]);
    }
    let mut stored_children: HashMap<&str, Vec<&Area>> = HashMap::new();
    for area in existing.iter().filter(|a| !first.contains_key(a.code.as_str())) {
        if let Some(parent) = &area.parent {
            stored_children.entry(parent).or_default().push(area);
        }
    }
    let rank_of = |area: &Area| ranks.get(area.level.as_str()).copied();
    let origin = |code: &str| match first.get(code) {
        Some(j) => format!("features[{j}]"),
        None => "stored".to_string(),
    };

    for (i, area) in incoming.iter().enumerate().filter(|(i, _)| !duplicate[*i]) {
        let code = &area.code;
        let field = |name: &str| format!("features[{i}].properties.{name}");
        let rank = rank_of(area);
        if rank.is_none() {
            issues.push((
                i,
                FieldIssue::new(
                    field("level"),
                    format!("area `{code}`: `{}` is not a level; use one of: {level_names}", area.level),
                ),
            ));
        }
        match &area.parent {
            None => {
                if rank.is_some() && rank != top_rank {
                    issues.push((
                        i,
                        FieldIssue::new(
                            field("parent"),
                            format!(
                                "area `{code}`: a `{}` needs a parent; only {top_levels} areas stand at the top",
                                area.level
                            ),
                        ),
                    ));
                } else if rank.is_some() && nazer_shared::iran::Province::parse(code).is_none() {
                    // Messages take their province from the top of their path, and every
                    // service knows the 31 provinces: the top of the tree is theirs alone.
                    issues.push((
                        i,
                        FieldIssue::new(
                            field("parent"),
                            format!(
                                "area `{code}` would stand at the top of the tree, where only the 31 provinces \
                                 stand; give it its province (or the area it lies in) as parent"
                            ),
                        ),
                    ));
                }
            }
            Some(parent_code) => match tree.get(parent_code.as_str()) {
                None => issues.push((
                    i,
                    FieldIssue::new(
                        field("parent"),
                        format!(
                            "area `{code}`: `{parent_code}` is not a known area, neither stored nor in this file; \
                             give a stored area's code or add the parent to the file"
                        ),
                    ),
                )),
                Some(parent) => {
                    if let (Some(rank), Some(parent_rank)) = (rank, rank_of(parent))
                        && rank <= parent_rank
                    {
                        issues.push((
                            i,
                            FieldIssue::new(
                                field("parent"),
                                format!(
                                    "area `{code}` is a `{}`, which does not rank below its parent `{parent_code}`, a \
                                     `{}`; a child's level must rank below its parent's: fix the level or the parent",
                                    area.level, parent.level
                                ),
                            ),
                        ));
                    }
                    if let (Some(inner), Some(outer)) = (&area.geometry, &parent.geometry)
                        && !outer.contains(inner)
                    {
                        issues.push((
                            i,
                            FieldIssue::new(
                                format!("features[{i}].geometry"),
                                format!(
                                    "area `{code}`: its boundary is not within its parent `{parent_code}`'s ({}); a \
                                     child lies inside its parent, borders may be shared: fix either boundary or the \
                                     parent",
                                    origin(parent_code)
                                ),
                            ),
                        ));
                    }
                }
            },
        }
        if let Some(cycle) = cycle_from(&tree, code)
            && cycle.iter().filter_map(|c| first.get(c)).min() == Some(&i)
        {
            issues.push((
                i,
                FieldIssue::new(
                    field("parent"),
                    format!(
                        "area `{code}` would be its own ancestor: {}; give it a parent that is not below it",
                        cycle.join(" → ")
                    ),
                ),
            ));
        }
        for child in stored_children.get(code.as_str()).into_iter().flatten() {
            if let (Some(rank), Some(child_rank)) = (rank, rank_of(child))
                && child_rank <= rank
            {
                issues.push((
                    i,
                    FieldIssue::new(
                        field("level"),
                        format!(
                            "area `{code}`: as a `{}` it would not rank above its stored child `{}`, a `{}`; a \
                             child's level must rank below its parent's",
                            area.level, child.code, child.level
                        ),
                    ),
                ));
            }
            if let (Some(outer), Some(inner)) = (&area.geometry, &child.geometry)
                && !outer.contains(inner)
            {
                issues.push((
                    i,
                    FieldIssue::new(
                        format!("features[{i}].geometry"),
                        format!(
                            "area `{code}`: this boundary does not hold the stored boundary of its child `{}`; a \
                             child lies inside its parent: widen this boundary, or import the child too",
                            child.code
                        ),
                    ),
                ));
            }
        }
    }
    if !issues.is_empty() {
        // In file order; within a feature, in the order of the checks.
        issues.sort_by_key(|(i, _)| *i);
        return Err(issues.into_iter().map(|(_, issue)| issue).collect());
    }

    let mut ordered: Vec<(usize, &Area)> = incoming.iter().map(|a| (depth(&tree, &a.code), a)).collect();
    ordered.sort_by_key(|(depth, _)| *depth);
    Ok(ordered.into_iter().map(|(_, area)| area.clone()).collect())
}

/// The chain `code → parent → … → code` when walking up from `code` comes back to it.
fn cycle_from<'a>(tree: &HashMap<&'a str, &'a Area>, code: &'a str) -> Option<Vec<&'a str>> {
    let mut chain = vec![code];
    let mut seen = HashSet::from([code]);
    let mut current = code;
    while let Some(parent) = tree.get(current).and_then(|a| a.parent.as_deref()) {
        if parent == code {
            chain.push(parent);
            return Some(chain);
        }
        if !seen.insert(parent) {
            // A cycle further up, not through `code`: reported from its own members.
            return None;
        }
        chain.push(parent);
        current = parent;
    }
    None
}

/// How many ancestors `code` has in the tree (the tree is acyclic here).
fn depth(tree: &HashMap<&str, &Area>, code: &str) -> usize {
    let mut depth = 0;
    let mut current = code;
    while let Some(parent) = tree.get(current).and_then(|a| a.parent.as_deref()) {
        depth += 1;
        if depth > tree.len() {
            break;
        }
        current = parent;
    }
    depth
}

#[cfg(test)]
mod tests {
    use geo::{MultiPolygon, polygon};
    use serde_json::json;

    use super::*;

    fn levels() -> Vec<Level> {
        [("province", 1), ("county", 2), ("city", 3), ("district", 4), ("neighbourhood", 6)]
            .into_iter()
            .map(|(code, rank)| Level { code: code.into(), rank, name_fa: code.into(), name_en: code.into() })
            .collect()
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Option<MultiPolygon<f64>> {
        Some(MultiPolygon(vec![
            polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)],
        ]))
    }

    fn area(code: &str, parent: Option<&str>, level: &str, geometry: Option<MultiPolygon<f64>>) -> Area {
        Area {
            code: code.into(),
            parent: parent.map(Into::into),
            level: level.into(),
            name_fa: format!("{code} fa"),
            name_en: format!("{code} en"),
            geometry,
            illustrative: false,
        }
    }

    /// Tehran province, Tehran county and city, district 6 with a neighbourhood.
    fn stored() -> Vec<Area> {
        vec![
            area("tehran", None, "province", None),
            area("tehran-county", Some("tehran"), "county", None),
            area("tehran-city", Some("tehran-county"), "city", rect(51.0, 35.0, 52.0, 36.0)),
            area("tehran-district-06", Some("tehran-city"), "district", rect(51.4, 35.7, 51.5, 35.8)),
            area("yousef-abad", Some("tehran-district-06"), "neighbourhood", rect(51.40, 35.70, 51.45, 35.75)),
        ]
    }

    fn fields(issues: &[FieldIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.field.as_str()).collect()
    }

    fn feature(properties: Value, geometry: Value) -> Value {
        json!({ "type": "Feature", "properties": properties, "geometry": geometry })
    }

    fn collection(features: Vec<Value>) -> Value {
        json!({ "type": "FeatureCollection", "features": features })
    }

    #[test]
    fn reads_a_feature_collection() {
        let square =
            json!({ "type": "Polygon", "coordinates": [[[51.4, 35.7], [51.5, 35.7], [51.5, 35.8], [51.4, 35.7]]] });
        let value = collection(vec![
            feature(
                json!({ "code": "tehran-district-06", "parent": "tehran-city", "level": "district",
                        "name_fa": " منطقه ۶ ", "name_en": "District 6", "illustrative": true }),
                square,
            ),
            feature(
                json!({ "code": "tehran", "parent": null, "level": "province", "name_fa": "تهران", "name_en": "Tehran" }),
                Value::Null,
            ),
        ]);
        let areas = parse_feature_collection(&value).unwrap();
        assert_eq!(areas.len(), 2);
        assert_eq!(areas[0].code, "tehran-district-06");
        assert_eq!(areas[0].parent.as_deref(), Some("tehran-city"));
        assert_eq!(areas[0].name_fa, "منطقه ۶");
        assert!(areas[0].illustrative);
        assert!(areas[0].geometry.is_some());
        assert_eq!(areas[1].parent, None);
        assert!(!areas[1].illustrative);
        assert_eq!(areas[1].geometry, None);
    }

    #[test]
    fn an_empty_or_misshapen_collection_is_refused() {
        let issues = parse_feature_collection(&collection(vec![])).unwrap_err();
        assert_eq!(fields(&issues), ["features"]);
        assert!(issues[0].problem.contains("at least one area"));
        let issues = parse_feature_collection(&json!({ "type": "Feature" })).unwrap_err();
        assert_eq!(fields(&issues), ["type", "features"]);
        let issues = parse_feature_collection(&json!([1, 2])).unwrap_err();
        assert_eq!(fields(&issues), ["type"]);
    }

    #[test]
    fn collects_every_issue_named_by_feature_and_code() {
        let bow_tie =
            json!({ "type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]] });
        let value = collection(vec![
            feature(json!({ "code": "ok", "level": "province", "name_fa": "الف", "name_en": "A" }), Value::Null),
            feature(json!({ "code": "Tehran", "level": "province", "name_fa": "", "name_en": "B" }), Value::Null),
            json!("not a feature"),
            feature(
                json!({ "code": "d-1", "parent": 7, "level": "district", "name_fa": "د", "illustrative": "yes" }),
                bow_tie,
            ),
            json!({ "type": "Feature", "geometry": null }),
        ]);
        let issues = parse_feature_collection(&value).unwrap_err();
        assert_eq!(
            fields(&issues),
            [
                "features[1].properties.code",
                "features[1].properties.name_fa",
                "features[2]",
                "features[3].properties.parent",
                "features[3].properties.name_en",
                "features[3].properties.illustrative",
                "features[3].geometry",
                "features[4].properties",
            ]
        );
        assert!(issues[0].problem.contains("write it in lowercase, `tehran`"), "{}", issues[0].problem);
        assert!(issues[1].problem.starts_with("is empty"), "{}", issues[1].problem);
        assert!(issues[3].problem.starts_with("area `d-1`: "), "{}", issues[3].problem);
        assert!(issues[4].problem.starts_with("area `d-1`: is required"), "{}", issues[4].problem);
        assert!(
            issues[6].problem.starts_with("area `d-1`: ring 1: crosses or touches itself"),
            "{}",
            issues[6].problem
        );
    }

    #[test]
    fn codes_are_checked() {
        assert!(is_identifier("tehran-district-06"));
        assert!(is_identifier("a.b_c-1"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("Tehran"));
        assert!(!is_identifier("tehran district"));
        assert!(!is_identifier("تهران"));
        assert!(is_identifier(&"a".repeat(64)));
        assert!(!is_identifier(&"a".repeat(65)));
    }

    #[test]
    fn an_import_comes_back_parents_first() {
        let incoming = vec![
            area("narmak", Some("tehran-district-08"), "neighbourhood", rect(51.60, 35.70, 51.65, 35.75)),
            area("tehran-district-08", Some("tehran-city"), "district", rect(51.6, 35.7, 51.7, 35.8)),
            area("alborz", None, "province", None),
        ];
        let ordered = check_import(&stored(), &incoming, &levels()).unwrap();
        let codes: Vec<&str> = ordered.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["alborz", "tehran-district-08", "narmak"]);
    }

    #[test]
    fn a_whole_tree_imports_into_an_empty_store() {
        let mut incoming = stored();
        incoming.reverse();
        let ordered = check_import(&[], &incoming, &levels()).unwrap();
        let codes: Vec<&str> = ordered.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["tehran", "tehran-county", "tehran-city", "tehran-district-06", "yousef-abad"]);
    }

    #[test]
    fn duplicates_levels_and_parents_are_checked() {
        let incoming = vec![
            area("qom", None, "province", None),
            area("qom", None, "province", None),
            area("b", Some("qom"), "borough", None),
            area("c", Some("nowhere"), "city", None),
            area("d", None, "district", None),
            area("e", Some("tehran-district-06"), "city", None),
        ];
        let issues = check_import(&stored(), &incoming, &levels()).unwrap_err();
        assert_eq!(
            fields(&issues),
            [
                "features[1].properties.code",
                "features[2].properties.level",
                "features[3].properties.parent",
                "features[4].properties.parent",
                "features[5].properties.parent",
            ]
        );
        assert!(issues[0].problem.contains("also features[0]"), "{}", issues[0].problem);
        assert!(
            issues[1].problem.contains("use one of: `province`, `county`, `city`, `district`, `neighbourhood`"),
            "{}",
            issues[1].problem
        );
        assert!(issues[2].problem.contains("`nowhere` is not a known area"), "{}", issues[2].problem);
        assert!(issues[3].problem.contains("a `district` needs a parent; only `province`"), "{}", issues[3].problem);
        assert!(
            issues[4].problem.contains("does not rank below its parent `tehran-district-06`"),
            "{}",
            issues[4].problem
        );
    }

    #[test]
    fn only_the_provinces_stand_at_the_top() {
        let issues = check_import(&stored(), &[area("atlantis", None, "province", None)], &levels()).unwrap_err();
        assert_eq!(fields(&issues), ["features[0].properties.parent"]);
        assert!(issues[0].problem.contains("only the 31 provinces stand;"), "{}", issues[0].problem);
    }

    #[test]
    fn a_parent_may_come_from_the_file_listed_later() {
        let incoming =
            vec![area("x-city", Some("x-county"), "city", None), area("x-county", Some("tehran"), "county", None)];
        let ordered = check_import(&stored(), &incoming, &levels()).unwrap();
        assert_eq!(ordered[0].code, "x-county");
    }

    #[test]
    fn cycles_are_refused_also_through_stored_areas() {
        // Without levels that rank, only the cycle check can see it.
        let flat: Vec<Level> = vec![Level { code: "place".into(), rank: 1, name_fa: "p".into(), name_en: "p".into() }];
        let existing = vec![area("a", None, "place", None), area("b", Some("a"), "place", None)];
        // Re-parent the stored `a` under its own child `b`.
        let issues = check_import(&existing, &[area("a", Some("b"), "place", None)], &flat).unwrap_err();
        let cycle: Vec<&FieldIssue> = issues.iter().filter(|i| i.problem.contains("its own ancestor")).collect();
        assert_eq!(cycle.len(), 1);
        assert_eq!(cycle[0].field, "features[0].properties.parent");
        assert!(cycle[0].problem.contains("a → b → a"), "{}", cycle[0].problem);

        // A cycle within the file is reported once, on its first member.
        let incoming = vec![area("p", Some("q"), "place", None), area("q", Some("p"), "place", None)];
        let issues = check_import(&[], &incoming, &flat).unwrap_err();
        let cycle: Vec<&FieldIssue> = issues.iter().filter(|i| i.problem.contains("its own ancestor")).collect();
        assert_eq!(cycle.len(), 1);
        assert_eq!(cycle[0].field, "features[0].properties.parent");

        // With ranked levels, a stored city moved under its own district is refused too.
        let issues = check_import(
            &stored(),
            &[area("tehran-city", Some("tehran-district-06"), "city", rect(51.0, 35.0, 52.0, 36.0))],
            &levels(),
        )
        .unwrap_err();
        assert!(issues.iter().any(|i| i.problem.contains("tehran-city → tehran-district-06 → tehran-city")));
    }

    #[test]
    fn a_child_lies_within_its_parent() {
        // Sharing the parent's border is fine.
        let along_the_edge = area("tehran-district-05", Some("tehran-city"), "district", rect(51.0, 35.0, 51.2, 35.2));
        assert!(check_import(&stored(), &[along_the_edge], &levels()).is_ok());

        // Partly outside the stored parent.
        let outside = area("tehran-district-22", Some("tehran-city"), "district", rect(51.9, 35.9, 52.1, 36.0));
        let issues = check_import(&stored(), &[outside], &levels()).unwrap_err();
        assert_eq!(fields(&issues), ["features[0].geometry"]);
        assert!(issues[0].problem.contains("not within its parent `tehran-city`'s (stored)"), "{}", issues[0].problem);

        // A parent from the file, a child inside its bounding box but in its notch.
        let l_shape = MultiPolygon(vec![polygon![
            (x: 51.6, y: 35.6), (x: 51.8, y: 35.6), (x: 51.8, y: 35.7), (x: 51.7, y: 35.7), (x: 51.7, y: 35.8),
            (x: 51.6, y: 35.8), (x: 51.6, y: 35.6)
        ]]);
        let incoming = vec![
            area("tehran-district-13", Some("tehran-city"), "district", Some(l_shape)),
            area("notch", Some("tehran-district-13"), "neighbourhood", rect(51.72, 35.72, 51.78, 35.78)),
        ];
        let issues = check_import(&stored(), &incoming, &levels()).unwrap_err();
        assert_eq!(fields(&issues), ["features[1].geometry"]);
        assert!(issues[0].problem.contains("(features[0])"), "{}", issues[0].problem);

        // A parent without a boundary takes any child's.
        let under_county = area("tehran-city-2", Some("tehran-county"), "city", rect(10.0, 10.0, 11.0, 11.0));
        assert!(check_import(&stored(), &[under_county], &levels()).is_ok());
    }

    #[test]
    fn a_new_parent_boundary_still_holds_its_stored_children() {
        let shrunk = area("tehran-district-06", Some("tehran-city"), "district", rect(51.45, 35.7, 51.5, 35.8));
        let issues = check_import(&stored(), &[shrunk], &levels()).unwrap_err();
        assert_eq!(fields(&issues), ["features[0].geometry"]);
        assert!(issues[0].problem.contains("child `yousef-abad`"), "{}", issues[0].problem);

        // Importing the child too, with a boundary that fits, is fine.
        let incoming = vec![
            area("tehran-district-06", Some("tehran-city"), "district", rect(51.45, 35.7, 51.5, 35.8)),
            area("yousef-abad", Some("tehran-district-06"), "neighbourhood", rect(51.45, 35.7, 51.5, 35.75)),
        ];
        assert!(check_import(&stored(), &incoming, &levels()).is_ok());

        // A level change that would put the parent at or below its stored child.
        let demoted = area("tehran-district-06", Some("tehran-city"), "neighbourhood", None);
        let issues = check_import(&stored(), &[demoted], &levels()).unwrap_err();
        assert_eq!(fields(&issues), ["features[0].properties.level"]);
        assert!(issues[0].problem.contains("stored child `yousef-abad`"), "{}", issues[0].problem);
    }
}
