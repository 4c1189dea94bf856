//! Notification's REST API: webhook subscriptions and the delivery log.

use actix_web::{HttpResponse, web};
use nazer_shared::http::auth::generate_secret;
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, IDENTIFIER_RULE, JsonBody, QueryParams, Scope, is_identifier, page_limit,
};
use nazer_shared::runtime::ServiceContext;
use nazer_shared::topology;
use serde::Deserialize;
use serde_json::json;

use crate::store::{self, ALL_EVENTS, DeliveryFilter};

pub struct NotificationState {
    pub ctx: ServiceContext,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<NotificationState>) {
    cfg.app_data(state)
        .route("/api/v1/webhook-subscriptions", web::post().to(post_subscription))
        .route("/api/v1/webhook-subscriptions", web::get().to(get_subscriptions))
        .route("/api/v1/webhook-subscriptions/{id}", web::delete().to(delete_subscription))
        .route("/api/v1/deliveries", web::get().to(get_deliveries));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionRequest {
    agency_id: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    event_types: Option<Vec<String>>,
}

async fn post_subscription(
    state: web::Data<NotificationState>,
    caller: Caller,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    let agency_id = request.agency_id.unwrap_or_default().trim().to_string();
    if !is_identifier(&agency_id) {
        issues.push(FieldIssue::new("agency_id", IDENTIFIER_RULE));
    }
    let url = request.url.unwrap_or_default().trim().to_string();
    match reqwest::Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
        _ => issues.push(FieldIssue::new("url", "an absolute http:// or https:// URL of the agency's receiver")),
    }
    let secret = request.secret.unwrap_or_else(generate_secret);
    if secret.len() < 16 {
        issues.push(FieldIssue::new("secret", "at least 16 characters; leave it out to have one generated"));
    }
    let heard = topology::consumed_by(topology::NOTIFICATION);
    let event_types = request.event_types.unwrap_or_else(|| vec![ALL_EVENTS.to_string()]);
    if event_types.is_empty() || event_types.iter().any(|t| t != ALL_EVENTS && !heard.contains(&t.as_str())) {
        issues.push(FieldIssue::new("event_types", format!("list `*` or any of: {}", heard.join(", "))));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let shown_secret = secret.clone();
    let subscription = state
        .ctx
        .db
        .write(move |conn| store::create_subscription(conn, &agency_id, &url, &secret, &event_types, now))
        .await?;
    let mut body = serde_json::to_value(&subscription).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["secret"] = json!(shown_secret);
    Ok(HttpResponse::Created().json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionQuery {
    agency_id: Option<String>,
}

async fn get_subscriptions(
    state: web::Data<NotificationState>,
    caller: Caller,
    QueryParams(query): QueryParams<SubscriptionQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let agency = query.agency_id;
    let subscriptions = state.ctx.db.run(move |conn| store::list_subscriptions(conn, agency.as_deref())).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhook_subscriptions": subscriptions })))
}

async fn delete_subscription(
    state: web::Data<NotificationState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let id = path.into_inner();
    let now = state.ctx.clock.now();
    let changed = state.ctx.db.write(move |conn| store::deactivate_subscription(conn, &id, now)).await?;
    if changed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no active subscription has this id".into()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    event_id: Option<String>,
    subscription_id: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
}

async fn get_deliveries(
    state: web::Data<NotificationState>,
    caller: Caller,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let limit = page_limit(query.limit)?;
    let states = [store::state::PENDING, store::state::DELIVERED, store::state::FAILED, store::state::CANCELLED];
    if query.state.as_deref().is_some_and(|s| !states.contains(&s)) {
        return Err(ApiError::invalid_field("state", format!("one of: {}", states.join(", "))));
    }
    let filter =
        DeliveryFilter { event_id: query.event_id, subscription_id: query.subscription_id, state: query.state, limit };
    let deliveries = state.ctx.db.run(move |conn| store::list_deliveries(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": deliveries })))
}
