//! This service's operations, described (OpenAPI 3.1, from the handlers).

use crate::api;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::get_agencies,
        api::post_agency,
        api::get_agency,
        api::put_agency,
        api::put_agency_areas,
        api::get_rules,
        api::post_rule,
        api::delete_rule,
        api::get_triage,
        api::post_triage_assignment
    ),
    components(schemas(nazer_shared::iran::Province))
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    #[test]
    fn the_province_filter_refers_to_the_registered_province_list() {
        let doc = serde_json::to_value(<super::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        assert_eq!(doc["components"]["schemas"]["Province"]["enum"].as_array().unwrap().len(), 31);
        let parameters = doc["paths"]["/api/v1/triage"]["get"]["parameters"].as_array().unwrap();
        let province = parameters.iter().find(|p| p["name"] == "province").unwrap();
        assert_eq!(province["schema"]["$ref"], "#/components/schemas/Province", "{province}");
    }
}
