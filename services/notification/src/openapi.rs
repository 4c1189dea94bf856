//! This service's operations, described (OpenAPI 3.1, from the handlers).

use crate::api;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api::post_subscription, api::get_subscriptions, api::delete_subscription, api::get_deliveries),
    components(schemas())
)]
pub struct ApiDoc;
