//! The demo installation's reference data, Tehran's 1888: the example files of
//! `reference-data/tehran-1888` (described in `reference-data/README.md`), built into the
//! binary and loaded as `nazer import` loads a directory.

use crate::import::{self, source::ReferenceData};

pub const AREAS: &str = include_str!("../reference-data/tehran-1888/areas.geojson");
pub const CATEGORIES: &str = include_str!("../reference-data/tehran-1888/categories.json");
pub const AGENCIES: &str = include_str!("../reference-data/tehran-1888/agencies.json");
pub const ROUTING_RULES: &str = include_str!("../reference-data/tehran-1888/routing-rules.json");
#[cfg(test)]
pub const SLA_POLICIES: &str = include_str!("../reference-data/tehran-1888/sla-policies.json");

/// The demo's reference data: the example files but its SLA policies, whose business-day
/// budgets the demo replaces with budgets of seconds so that warnings show within a minute.
pub fn demo() -> Result<ReferenceData, String> {
    import::from_texts(&[
        ("areas.geojson", AREAS),
        ("categories.json", CATEGORIES),
        ("agencies.json", AGENCIES),
        ("routing-rules.json", ROUTING_RULES),
    ])
}

/// The ids of the agencies `data` lists.
pub fn agency_ids(data: &ReferenceData) -> Vec<String> {
    data.agencies.iter().flat_map(|a| &a.records).map(|r| r.item.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_files_read_as_tehran_1888() {
        let with_policies = import::from_texts(&[
            ("areas.geojson", AREAS),
            ("categories.json", CATEGORIES),
            ("agencies.json", AGENCIES),
            ("routing-rules.json", ROUTING_RULES),
            ("sla-policies.json", SLA_POLICIES),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(with_policies.sla_policies.is_some_and(|p| !p.records.is_empty()));
        let data = demo().unwrap_or_else(|e| panic!("{e}"));
        let ids = agency_ids(&data);
        assert_eq!(ids.iter().filter(|id| id.starts_with("district-")).count(), 22, "the 22 district municipalities");
        let agencies = &data.agencies.as_ref().map(|a| a.records.clone()).unwrap_or_default();
        for (n, agency) in agencies.iter().enumerate() {
            if let Some(parent) = &agency.item.parent_id {
                assert!(ids[..n].contains(parent), "{} is listed after its parent", agency.item.id);
            }
        }
        let rules = data.routing_rules.map(|r| r.records).unwrap_or_default();
        assert!(rules.iter().all(|r| ids.contains(&r.item.agency_id)), "every rule names a demo agency");
        let areas = data.areas.map(|a| a.areas).unwrap_or_default();
        assert_eq!(areas.iter().filter(|a| a.level == "district").count(), 22);
        assert!(areas.iter().all(|a| a.geometry.is_none() || a.illustrative), "no invented boundary passes for real");
    }
}
