//! Notification's REST API: webhook subscriptions and the delivery log.

use actix_web::{HttpResponse, web};
use nazer_shared::http::auth::generate_secret;
use nazer_shared::http::paging::{self, Order};
use nazer_shared::http::{
    ApiError, Caller, FieldIssue, JsonBody, QueryParams, Scope, is_identifier, page_limit, period_bound,
};
use nazer_shared::runtime::ServiceContext;
use nazer_shared::sealing::SealingKeys;
use nazer_shared::topology::{COMPLIANCE_COMMITTEE, UNIT_RECIPIENT};
use serde::{Deserialize, Serialize};

use crate::egress::EgressPolicy;
use crate::store::{self, ALL_EVENTS, DeliveryFilter, DeliveryState, DeliveryView, Subscription};

pub struct NotificationState {
    pub ctx: ServiceContext,
    /// Where webhooks may go.
    pub policy: EgressPolicy,
    /// Seal the signing secrets.
    pub keys: SealingKeys,
}

pub fn routes(cfg: &mut web::ServiceConfig, state: web::Data<NotificationState>) {
    cfg.app_data(state)
        .route("/api/v1/webhook-subscriptions", web::post().to(post_subscription))
        .route("/api/v1/webhook-subscriptions", web::get().to(get_subscriptions))
        .route("/api/v1/webhook-subscriptions/{id}", web::delete().to(delete_subscription))
        .route("/api/v1/deliveries", web::get().to(get_deliveries));
}

/// What a subscription may be for: an agency's id, `unit:` and a counterpart unit's, or the
/// compliance committee's.
fn is_recipient(id: &str) -> bool {
    is_identifier(id) || id.strip_prefix(UNIT_RECIPIENT).is_some_and(is_identifier) || id == COMPLIANCE_COMMITTEE
}

const RECIPIENT_RULE: &str = "an agency's id (1–64 lowercase letters, digits, '.', '_' or '-'), `unit:` and a \
     counterpart unit's id, or `committee:compliance`";

/// A new webhook subscription: where an agency receives the events that concern it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhookSubscription)]
pub(crate) struct SubscriptionRequest {
    /// The agency's id: 1–64 lowercase letters, digits, '.', '_' or '-'; or a counterpart
    /// unit's, `unit:` and its id, which receives its culpability cases' events and warnings;
    /// or `committee:compliance`, the compliance committee's warnings.
    #[schema(required = true, value_type = String, pattern = "^((unit:)?[a-z0-9._-]{1,64}|committee:compliance)$")]
    agency_id: Option<String>,
    /// The absolute http:// or https:// URL of the agency's receiver, without user name or
    /// password. Its host must be, and resolve to, public addresses (or addresses in the
    /// operator's `webhooks.allowed_networks`): loopback, link-local, private, shared (CGNAT),
    /// unique-local, multicast and unspecified addresses are refused in any spelling. A name
    /// that does not resolve yet is accepted; every delivery is judged again when it connects.
    #[schema(required = true, value_type = String, format = "uri")]
    url: Option<String>,
    /// The HMAC-SHA256 key that signs each delivery, at least 16 characters; absent or null,
    /// one is generated. Shown once, in the answer; stored sealed.
    #[schema(min_length = 16)]
    secret: Option<String>,
    /// The event types to deliver, at least one: `*` (all, the default when absent or null) or
    /// any of message.assigned, message.reopened, deadline.reminder, deadline.moved,
    /// deadline.paused, deadline.resumed, warning.issued, violation.classified,
    /// violation.remedial_step, violation.verdict, and for a counterpart unit
    /// violation.culpability_opened, violation.culpability_referred, committee.decision_recorded,
    /// violation.culpability_closed.
    #[schema(min_items = 1)]
    event_types: Option<Vec<String>>,
}

/// A subscription just created, with its signing secret (never shown again).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedWebhookSubscription {
    #[serde(flatten)]
    subscription: Subscription,
    /// The HMAC-SHA256 key that signs each delivery.
    secret: String,
}

/// Subscribes an agency's receiver to its events. Admins only.
///
/// Each delivery is a signed POST of the event's envelope; failed deliveries are retried with
/// a growing delay.
#[utoipa::path(post, path = "/api/v1/webhook-subscriptions", tag = "notification",
    request_body(content = SubscriptionRequest, content_type = "application/json"),
    responses((status = 201, description = "The subscription, with its secret", body = CreatedWebhookSubscription)))]
pub(crate) async fn post_subscription(
    state: web::Data<NotificationState>,
    caller: Caller,
    JsonBody(request): JsonBody<SubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let mut issues = Vec::new();
    let agency_id = request.agency_id.unwrap_or_default().trim().to_string();
    if !is_recipient(&agency_id) {
        issues.push(FieldIssue::new("agency_id", RECIPIENT_RULE));
    }
    let url = request.url.unwrap_or_default().trim().to_string();
    if let Err(problem) = state.policy.check_subscription_url(&url).await {
        issues.push(FieldIssue::new("url", problem.fix()));
    }
    let secret = request.secret.unwrap_or_else(generate_secret);
    if secret.len() < 16 {
        issues.push(FieldIssue::new("secret", "at least 16 characters; leave it out to have one generated"));
    }
    let heard = crate::heard();
    let event_types = request.event_types.unwrap_or_else(|| vec![ALL_EVENTS.to_string()]);
    if event_types.is_empty() || event_types.iter().any(|t| t != ALL_EVENTS && !heard.contains(&t.as_str())) {
        issues.push(FieldIssue::new("event_types", format!("list `*` or any of: {}", heard.join(", "))));
    }
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let now = state.ctx.clock.now();
    let shown_secret = secret.clone();
    let keys = state.keys.clone();
    let subscription = state
        .ctx
        .db
        .write(move |conn| store::create_subscription(conn, &keys, &agency_id, &url, &secret, &event_types, now))
        .await?;
    Ok(HttpResponse::Created().json(CreatedWebhookSubscription { subscription, secret: shown_secret }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubscriptionQuery {
    /// Only this agency's subscriptions (its id, exact match).
    #[param(required = false, value_type = String)]
    agency_id: Option<String>,
}

/// The webhook subscriptions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookSubscriptionList {
    webhook_subscriptions: Vec<Subscription>,
}

/// Lists the webhook subscriptions, removed ones included. Admins only.
#[utoipa::path(get, path = "/api/v1/webhook-subscriptions", tag = "notification",
    params(SubscriptionQuery),
    responses((status = 200, description = "The subscriptions (secrets are never shown)", body = WebhookSubscriptionList)))]
pub(crate) async fn get_subscriptions(
    state: web::Data<NotificationState>,
    caller: Caller,
    QueryParams(query): QueryParams<SubscriptionQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let agency = query.agency_id;
    let subscriptions = state.ctx.db.run(move |conn| store::list_subscriptions(conn, agency.as_deref())).await?;
    Ok(HttpResponse::Ok().json(WebhookSubscriptionList { webhook_subscriptions: subscriptions }))
}

/// Removes a webhook subscription; its pending deliveries are cancelled. Admins only.
#[utoipa::path(delete, path = "/api/v1/webhook-subscriptions/{id}", tag = "notification",
    params(("id" = String, Path, description = "The subscription's id")),
    responses((status = 204, description = "The subscription is removed")))]
pub(crate) async fn delete_subscription(
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only the deliveries of this event (its id).
    #[param(required = false, value_type = String)]
    event_id: Option<String>,
    /// Only the deliveries to this subscription (its id).
    #[param(required = false, value_type = String)]
    subscription_id: Option<String>,
    /// Only the deliveries to this agency's subscriptions (its id, or `unit:` and a counterpart
    /// unit's).
    #[param(required = false, value_type = String, pattern = "^((unit:)?[a-z0-9._-]{1,64}|committee:compliance)$")]
    agency_id: Option<String>,
    /// Only deliveries in this state: pending, delivered, failed or cancelled.
    #[param(required = false, value_type = DeliveryState)]
    state: Option<String>,
    /// Created at or after: a day (Solar Hijri such as 1405-09-08, or Gregorian such as
    /// 2026-11-29, Tehran time) or an RFC 3339 instant.
    #[param(required = false, value_type = String)]
    from: Option<String>,
    /// Created before: a day (Solar Hijri or Gregorian, the whole day included) or an RFC 3339
    /// instant; after `from`.
    #[param(required = false, value_type = String)]
    to: Option<String>,
    /// `-created_at` (newest first, the default) or `created_at` (oldest first); ties by id.
    #[param(required = false, value_type = String, pattern = "^-?created_at$")]
    sort: Option<String>,
    /// The `next_cursor` of the previous page, unchanged.
    #[param(required = false, value_type = String)]
    cursor: Option<String>,
    /// How many deliveries at most: 1–200, 50 when absent.
    #[param(required = false, value_type = i64, minimum = 1, maximum = 200, default = 50)]
    limit: Option<i64>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct DeliveryList {
    /// In the order of `sort`: newest first by default.
    deliveries: Vec<DeliveryView>,
    /// Pass it as `cursor` for the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Lists webhook deliveries with every attempt, a page at a time, newest first by default. Admins only.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "notification",
    params(DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = DeliveryList)))]
pub(crate) async fn get_deliveries(
    state: web::Data<NotificationState>,
    caller: Caller,
    QueryParams(query): QueryParams<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Scope::Admin])?;
    let limit = page_limit(query.limit)?;
    let mut issues = Vec::new();
    if query.agency_id.as_deref().is_some_and(|a| !is_recipient(a)) {
        issues.push(FieldIssue::new("agency_id", RECIPIENT_RULE));
    }
    let delivery_state = query.state.as_deref().map(DeliveryState::parse);
    if delivery_state.is_some_and(|s| s.is_none()) {
        issues.push(FieldIssue::new("state", format!("one of: {}", DeliveryState::listed())));
    }
    let from = query.from.as_deref().and_then(|t| period_bound("from", t, false, &mut issues));
    let until = query.to.as_deref().and_then(|t| period_bound("to", t, true, &mut issues));
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        issues.push(FieldIssue::new("to", "must not be before `from`"));
    }
    let newest_first = paging::newest_first("created_at", query.sort.as_deref(), Order::NewestFirst, &mut issues);
    let after = paging::cursor_param(query.cursor.as_deref(), &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::invalid(issues));
    }
    let filter = DeliveryFilter {
        event_id: query.event_id,
        subscription_id: query.subscription_id,
        agency_id: query.agency_id,
        state: delivery_state.flatten(),
        from,
        until,
        oldest_first: !newest_first,
        after,
        limit,
    };
    let (deliveries, next_cursor) = state.ctx.db.run(move |conn| store::list_deliveries(conn, &filter)).await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_request_names_every_event_type_heard() {
        let schema = serde_json::to_value(<SubscriptionRequest as utoipa::PartialSchema>::schema()).unwrap();
        let described = schema["properties"]["event_types"]["description"].as_str().unwrap().replace('\n', " ");
        for event_type in crate::heard() {
            assert!(described.contains(&format!(" {event_type},")) || described.contains(&format!(" {event_type}.")));
        }
    }
}
