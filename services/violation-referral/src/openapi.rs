//! This service's operations, described (OpenAPI 3.1, from the handlers).

#[derive(utoipa::OpenApi)]
#[openapi(paths(crate::get_cases, crate::get_case), components(schemas(crate::store::CaseStatus)))]
pub struct ApiDoc;
