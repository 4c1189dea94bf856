//! This service's operations, described (OpenAPI 3.1, from the handlers).

#[derive(utoipa::OpenApi)]
#[openapi(paths(), components(schemas()))]
pub struct ApiDoc;
