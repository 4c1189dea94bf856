//! The reference-data files an installation loads (`reference-data/README.md` describes them),
//! and the demo's: Tehran's 1888, built into the binary.

use serde::Deserialize;

/// The demo installation's files.
pub mod demo {
    pub const AREAS: &str = include_str!("../reference-data/tehran-1888/areas.geojson");
    pub const CATEGORIES: &str = include_str!("../reference-data/tehran-1888/categories.json");
    pub const AGENCIES: &str = include_str!("../reference-data/tehran-1888/agencies.json");
    pub const ROUTING_RULES: &str = include_str!("../reference-data/tehran-1888/routing-rules.json");
}

/// An agency as `agencies.json` lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    pub id: String,
    /// Its Persian name.
    pub name: String,
    /// Listed before it.
    pub parent: Option<String>,
    /// The area codes it serves.
    #[serde(default)]
    pub areas: Vec<String>,
}

/// A routing rule as `routing-rules.json` lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// A category code, or a prefix of codes such as `municipal`.
    pub category: String,
    /// An area code, or `*` for everywhere.
    pub area: String,
    pub agency_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyFile {
    agencies: Vec<Agency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    routing_rules: Vec<RoutingRule>,
}

/// The agencies of an `agencies.json`.
pub fn agencies(text: &str) -> Result<Vec<Agency>, serde_json::Error> {
    serde_json::from_str::<AgencyFile>(text).map(|f| f.agencies)
}

/// The rules of a `routing-rules.json`.
pub fn routing_rules(text: &str) -> Result<Vec<RoutingRule>, serde_json::Error> {
    serde_json::from_str::<RuleFile>(text).map(|f| f.routing_rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_files_read_as_tehran_1888() {
        let agencies = agencies(demo::AGENCIES).unwrap();
        let districts = agencies.iter().filter(|a| a.id.starts_with("district-")).count();
        assert_eq!(districts, 22, "the 22 district municipalities");
        for (n, agency) in agencies.iter().enumerate() {
            if let Some(parent) = &agency.parent {
                assert!(agencies[..n].iter().any(|a| &a.id == parent), "{} is listed after its parent", agency.id);
            }
        }
        let rules = routing_rules(demo::ROUTING_RULES).unwrap();
        assert!(rules.iter().all(|r| agencies.iter().any(|a| a.id == r.agency_id)), "every rule names a demo agency");
    }
}
