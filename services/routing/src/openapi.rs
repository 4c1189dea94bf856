//! This service's operations, described (OpenAPI 3.1, from the handlers).

use crate::api;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::get_agencies,
        api::post_agency,
        api::get_agency,
        api::get_rules,
        api::post_rule,
        api::delete_rule,
        api::get_triage,
        api::post_triage_assignment
    ),
    components(schemas())
)]
pub struct ApiDoc;
