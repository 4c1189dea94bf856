//! The areas closures may name: a projection of intake's tree (province → county → city →
//! district → subdistrict → neighbourhood), kept from `areas.imported` and starting with the 31
//! provinces at its top. Deadline-timer needs to know only where an area lies: its path, the
//! codes from its province down to itself.

pub mod store;

use std::collections::BTreeMap;

/// Known areas, each with its path: the codes from its province down to itself.
pub type AreaPaths = BTreeMap<String, Vec<String>>;

/// Where the codes are listed, said wherever an unknown area is refused.
pub const AREAS_LISTED: &str = "GET /api/v1/areas lists the codes";

/// How deep the tree may go before a chain of parents is taken for a loop.
const MAX_DEPTH: usize = 16;

/// What a refused area code is told.
pub fn unknown_area(code: &str) -> String {
    format!("`{code}` is not a known area; {AREAS_LISTED}")
}

/// The path of a known `area`, which must lie in `province` when that is given too; else what
/// is wrong with the area.
pub fn locate<'a>(area: &str, province: Option<&str>, known: &'a AreaPaths) -> Result<&'a [String], String> {
    let path = known.get(area).filter(|p| !p.is_empty()).ok_or_else(|| unknown_area(area))?;
    match (province, path.first()) {
        (Some(province), Some(_)) if path.len() == 1 && province != area => {
            Err(format!("`{area}` is a province other than `{province}`; give one of them, or an area in `{province}`"))
        }
        (Some(province), Some(lies_in)) if province != lies_in => {
            Err(format!("`{area}` lies in `{lies_in}`, not in `{province}`; give the area alone, or its province"))
        }
        _ => Ok(path),
    }
}

/// Where a message is located: the area path its event carries, or — on events written before
/// areas, or whose path does not start at their province — its province alone.
pub fn message_area_path(province: &str, area_path: &[String]) -> Vec<String> {
    match area_path.first() {
        Some(top) if top == province => area_path.to_vec(),
        _ => vec![province.to_string()],
    }
}

/// The path of `code` (its province first, itself last), following `parent_of` (None: the
/// area is unknown; Some(None): it is at the top). An area whose chain of parents breaks off
/// (a parent unknown) or loops is not known either.
pub fn path_of(code: &str, mut parent_of: impl FnMut(&str) -> Option<Option<String>>) -> Option<Vec<String>> {
    let mut path = vec![code.to_string()];
    loop {
        let current = path.last().map(String::as_str).unwrap_or(code);
        match parent_of(current)? {
            None => {
                path.reverse();
                return Some(path);
            }
            Some(parent) if path.len() < MAX_DEPTH && !path.contains(&parent) => path.push(parent),
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> BTreeMap<&'static str, Option<&'static str>> {
        BTreeMap::from([
            ("tehran", None),
            ("tehran-city", Some("tehran")),
            ("tehran-district-06", Some("tehran-city")),
            ("orphan", Some("nowhere")),
            ("loop-a", Some("loop-b")),
            ("loop-b", Some("loop-a")),
        ])
    }

    fn path(code: &str) -> Option<Vec<String>> {
        let tree = tree();
        path_of(code, |c| tree.get(c).map(|p| p.map(str::to_string)))
    }

    #[test]
    fn a_path_runs_from_the_province_down_to_the_area() {
        assert_eq!(path("tehran-district-06").unwrap(), ["tehran", "tehran-city", "tehran-district-06"]);
        assert_eq!(path("tehran").unwrap(), ["tehran"]);
    }

    #[test]
    fn unknown_areas_broken_chains_and_loops_have_no_path() {
        assert_eq!(path("mars"), None);
        assert_eq!(path("orphan"), None);
        assert_eq!(path("loop-a"), None);
    }

    #[test]
    fn an_area_is_located_in_its_province_or_refused() {
        let tree = tree();
        let known: AreaPaths = ["tehran", "tehran-district-06"]
            .into_iter()
            .map(|c| (c.to_string(), path_of(c, |c| tree.get(c).map(|p| p.map(str::to_string))).unwrap()))
            .collect();
        assert_eq!(
            locate("tehran-district-06", None, &known).unwrap(),
            ["tehran", "tehran-city", "tehran-district-06"]
        );
        assert_eq!(locate("tehran-district-06", Some("tehran"), &known).unwrap().len(), 3);
        assert_eq!(locate("tehran", Some("tehran"), &known).unwrap(), ["tehran"]);
        let wrong = locate("tehran-district-06", Some("fars"), &known).unwrap_err();
        assert!(wrong.contains("lies in `tehran`, not in `fars`"), "{wrong}");
        let other = locate("tehran", Some("fars"), &known).unwrap_err();
        assert!(other.contains("a province other than `fars`"), "{other}");
        let unknown = locate("mars", None, &known).unwrap_err();
        assert!(unknown.contains("is not a known area") && unknown.contains(AREAS_LISTED), "{unknown}");
    }

    #[test]
    fn a_message_written_before_areas_is_located_in_its_province() {
        assert_eq!(message_area_path("fars", &[]), ["fars"]);
        let district = ["tehran".to_string(), "tehran-city".into(), "tehran-district-06".into()];
        assert_eq!(message_area_path("tehran", &district), district);
        assert_eq!(message_area_path("fars", &district), ["fars"], "the province says otherwise");
    }
}
