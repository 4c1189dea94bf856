//! This service's operations, described (OpenAPI 3.1, from the handlers).

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        crate::get_cases,
        crate::get_case,
        crate::tracks::api::post_case,
        crate::tracks::api::post_classification,
        crate::tracks::api::post_remedial_step,
        crate::tracks::api::post_remedial_verdict,
        crate::tracks::api::post_remedial_withdrawal,
        crate::tracks::api::post_remedial_pause,
        crate::tracks::api::post_remedial_resume,
        crate::tracks::culpability_api::post_culpability,
        crate::tracks::culpability_api::post_findings,
        crate::tracks::culpability_api::post_culpability_referral,
        crate::tracks::culpability_api::post_culpability_outcome,
        crate::tracks::culpability_api::post_culpability_closure,
        crate::committee::api::post_committee_session,
        crate::committee::api::get_committee_sessions,
        crate::committee::api::get_committee_session,
        crate::committee::api::post_committee_decision,
        crate::committee::api::get_committee_agenda,
        crate::types::api::get_types,
        crate::types::api::get_type,
        crate::types::api::put_type,
        crate::types::api::get_administrative_violations,
        crate::units::api::get_units,
        crate::units::api::put_unit_at
    ),
    components(schemas(
        crate::store::CaseStatus,
        crate::tracks::remedial::RemedialState,
        crate::tracks::remedial::RemedialStep,
        crate::tracks::culpability::CulpabilityState,
        crate::tracks::culpability::Fault,
        crate::tracks::culpability::Decision,
        nazer_shared::iran::Province
    ))
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    #[test]
    fn the_province_and_status_filters_refer_to_their_registered_schemas() {
        let doc = serde_json::to_value(<super::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        assert_eq!(doc["components"]["schemas"]["Province"]["enum"].as_array().unwrap().len(), 31);
        let parameters = doc["paths"]["/api/v1/violation-cases"]["get"]["parameters"].as_array().unwrap();
        let province = parameters.iter().find(|p| p["name"] == "province").unwrap();
        assert_eq!(province["schema"]["$ref"], "#/components/schemas/Province", "{province}");
        let status = parameters.iter().find(|p| p["name"] == "status").unwrap();
        assert_eq!(status["schema"]["$ref"], "#/components/schemas/CaseStatus", "{status}");
        assert_eq!(doc["components"]["schemas"]["CaseStatus"]["enum"], serde_json::json!(["open"]));
    }
}
