//! Notification against a real host and a local webhook receiver: subscriptions and their
//! validation, signed deliveries to the right agency only, retries with backoff and the final
//! outcome events. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use nazer_notification::signature;
use nazer_notification::store;
use nazer_shared::events::{
    DeadlineMoved, DeadlinePaused, DeadlineReminderSent, DeadlineResumed, Envelope, NotificationDelivered,
    NotificationFailed, WarningIssued,
};
use nazer_shared::sealing::SealingKeys;
use nazer_shared::testing::fixtures::{self, message_assigned, write};
use nazer_shared::testing::{
    ADMIN_KEY, REPORTER_KEYS, ReceivedWebhook, TestApp, WebhookReceiver, eventually, problem_fields,
};
use serde_json::{Value, json};

const SECRET: &str = "a-known-webhook-secret-0123456789";

/// The sealing keys of test hosts.
fn keys() -> SealingKeys {
    SealingKeys::parse(REPORTER_KEYS).unwrap_or_else(|e| panic!("{e}"))
}

/// What the consumer does with an event for `agency_id`; returns how many deliveries it queued.
fn enqueue(app: &TestApp, envelope: &Envelope, agency_id: &str) -> usize {
    write(app, |conn| store::enqueue_deliveries(conn, envelope, agency_id, Utc::now()))
}

async fn subscribe(app: &TestApp, agency_id: &str, url: &str, event_types: Value) -> Value {
    let body = json!({ "agency_id": agency_id, "url": url, "secret": SECRET, "event_types": event_types });
    let (status, body) = app.post("/api/v1/webhook-subscriptions", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The delivery of `event_id`, once it is final.
async fn final_delivery(app: &TestApp, event_id: &str) -> Value {
    let path = format!("/api/v1/deliveries?event_id={event_id}");
    eventually(StdDuration::from_secs(15), "the delivery to become final", || {
        let path = path.clone();
        async move {
            let (status, body) = app.get(&path, ADMIN_KEY).await;
            assert_eq!(status, 200, "{body}");
            let delivery = body["deliveries"].as_array().and_then(|d| d.first().cloned())?;
            (delivery["state"] != "pending").then_some(delivery)
        }
    })
    .await
}

async fn received_for(receiver: &WebhookReceiver, event_id: &str) -> ReceivedWebhook {
    eventually(StdDuration::from_secs(15), "the webhook to arrive", || async {
        receiver.received().into_iter().find(|h| h.header("X-Nazer-Event-Id") == Some(event_id))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_validated_and_never_show_the_secret_again() {
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/webhook-subscriptions", ADMIN_KEY, &body).await }
    };
    let valid = json!({ "agency_id": "agency-a", "url": "https://agency-a.example/hooks", "secret": SECRET,
                        "event_types": ["message.assigned"] });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("url", json!("not a url")), "url"),
        (with("url", json!("ftp://agency-a.example/hooks")), "url"),
        (with("url", json!("/relative/path")), "url"),
        (with("event_types", json!(["message.received"])), "event_types"),
        (with("event_types", json!(["message.assigned", "nonsense"])), "event_types"),
        (with("event_types", json!([])), "event_types"),
        (with("secret", json!("short")), "secret"),
        (with("agency_id", json!("Agency A")), "agency_id"),
    ];
    for (body, field) in cases {
        let (status, problem) = post(body.clone()).await;
        assert_eq!((status, problem_fields(&problem)), (422, vec![field.to_string()]), "{body} → {problem}");
    }
    let (_, body) = app.get("/api/v1/webhook-subscriptions", ADMIN_KEY).await;
    assert_eq!(body["webhook_subscriptions"], json!([]), "refused subscriptions are not stored");

    let (status, created) = post(valid.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["secret"], SECRET, "the secret is shown once, at creation");
    assert_eq!(created["agency_id"], "agency-a");
    assert_eq!(created["url"], "https://agency-a.example/hooks");
    assert_eq!(created["event_types"], json!(["message.assigned"]));
    assert_eq!(created["active"], true);

    let (status, generated) = post(json!({ "agency_id": "agency-b", "url": "http://127.0.0.1:9/hook" })).await;
    assert_eq!(status, 201, "{generated}");
    let generated_secret = generated["secret"].as_str().unwrap().to_string();
    assert!(generated_secret.len() >= 16, "a generated secret: {generated_secret}");
    assert_eq!(generated["event_types"], json!(["*"]), "everything by default");

    let (status, body) = app.get("/api/v1/webhook-subscriptions", ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["webhook_subscriptions"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    for subscription in listed {
        assert!(subscription.get("secret").is_none(), "a listed subscription shows its secret: {subscription}");
    }
    let text = body.to_string();
    assert!(!text.contains(SECRET) && !text.contains(&generated_secret), "{text}");
    assert_eq!(listed[0]["id"], created["id"]);
    let (_, body) = app.get("/api/v1/webhook-subscriptions?agency_id=agency-b", ADMIN_KEY).await;
    assert_eq!(body["webhook_subscriptions"].as_array().unwrap().len(), 1);

    let response = app.client.get(app.url("/api/v1/webhook-subscriptions")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let path = format!("/api/v1/webhook-subscriptions/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, ADMIN_KEY).await.0, 204);
    assert_eq!(app.delete(&path, ADMIN_KEY).await.0, 404, "already inactive");
    let (_, body) = app.get("/api/v1/webhook-subscriptions?agency_id=agency-a", ADMIN_KEY).await;
    assert_eq!(body["webhook_subscriptions"][0]["active"], false, "{body}");
    // An inactive subscription gets no new deliveries.
    assert_eq!(
        write(&app, |conn| store::enqueue_deliveries(
            conn,
            &fixtures::envelope("routing", &message_assigned("m-x", "agency-a")),
            "agency-a",
            Utc::now()
        )),
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_delivered_signed_to_its_agency_only() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    let subscription =
        subscribe(&app, "agency-a", &format!("{}/hooks/agency-a", receiver.url), json!(["message.assigned"])).await;
    // Same agency, other event type only: must not get message.assigned.
    subscribe(&app, "agency-a", &format!("{}/hooks/warnings-only", receiver.url), json!(["warning.issued"])).await;
    subscribe(&app, "agency-b", &format!("{}/hooks/agency-b", receiver.url), json!(["*"])).await;

    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(enqueue(&app, &envelope, "agency-a"), 1, "one matching subscription");
    let event_id = envelope.event_id.to_string();

    let hook = received_for(&receiver, &event_id).await;
    assert_eq!(hook.path, "/hooks/agency-a");
    assert_eq!(hook.header("X-Nazer-Event-Type"), Some("message.assigned"));
    assert_eq!(hook.header("Content-Type"), Some("application/json"));
    let delivery_id = hook.header("X-Nazer-Delivery-Id").unwrap_or_else(|| panic!("{hook:?}")).to_string();
    let header = hook.header(signature::HEADER).unwrap_or_else(|| panic!("unsigned: {hook:?}"));
    let now = Utc::now().timestamp();
    assert!(signature::verify(SECRET, header, &hook.body, now, 300), "signature refused: {header}");
    assert!(!signature::verify("another-secret-0123456789", header, &hook.body, now, 300));
    assert!(!signature::verify(SECRET, header, b"{\"tampered\":true}", now, 300));
    assert_eq!(Envelope::from_bytes(&hook.body).unwrap(), envelope, "the body is the event's envelope");

    let delivery = final_delivery(&app, &event_id).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["id"], delivery_id.as_str());
    assert_eq!(delivery["subscription_id"], subscription["id"]);
    assert_eq!(delivery["event_type"], "message.assigned");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 204);
    let log = delivery["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 1, "{delivery}");
    assert_eq!((log[0]["attempt"].clone(), log[0]["status_code"].clone()), (json!(1), json!(204)));
    assert!(delivery["finished_at"].is_string());

    let delivered = app.outbox_events("notification", "notification.delivered");
    assert_eq!(delivered.len(), 1);
    let NotificationDelivered(outcome) = delivered[0].decode().unwrap();
    assert_eq!(outcome.delivery_id, delivery_id);
    assert_eq!(outcome.event_id, event_id);
    assert_eq!(outcome.event_type, "message.assigned");
    assert_eq!(outcome.agency_id, "agency-a");
    assert_eq!(outcome.subscription_id, subscription["id"].as_str().unwrap());
    assert_eq!((outcome.attempts, outcome.last_status), (1, Some(204)));
    assert!(app.outbox_events("notification", "notification.failed").is_empty());

    // An event for agency-c reaches no one; agency-a's next event is the next to arrive.
    let other = fixtures::envelope("routing", &message_assigned("m-2", "agency-c"));
    assert_eq!(enqueue(&app, &other, "agency-c"), 0);
    let next = fixtures::envelope("routing", &message_assigned("m-3", "agency-a"));
    assert_eq!(enqueue(&app, &next, "agency-a"), 1);
    received_for(&receiver, &next.event_id.to_string()).await;
    final_delivery(&app, &next.event_id.to_string()).await;
    let hooks = receiver.received();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(hooks.iter().all(|h| h.path == "/hooks/agency-a"), "{hooks:?}");
    assert!(hooks.iter().all(|h| h.header("X-Nazer-Event-Id") != Some(other.event_id.to_string().as_str())));
    let (_, body) = app.get(&format!("/api/v1/deliveries?event_id={}", other.event_id), ADMIN_KEY).await;
    assert_eq!(body["deliveries"], json!([]));
    let (_, body) = app.get("/api/v1/deliveries?state=delivered", ADMIN_KEY).await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 2);
    let (status, _) = app.get("/api/v1/deliveries?state=lost", ADMIN_KEY).await;
    assert_eq!(status, 422);
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumed_warning_is_delivered() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    subscribe(&app, "agency-a", &format!("{}/hooks/agency-a", receiver.url), json!(["warning.issued"])).await;
    let due = Utc::now() - Duration::minutes(1);
    let warning = WarningIssued {
        subject: None,
        warning_id: "w-1".into(),
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        level: 1,
        reason: "deadline_passed".into(),
        text_fa: "مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰ به پایان رسید".into(),
        due_at: due,
        issued_at: Utc::now(),
        escalated_to: None,
    };
    let envelope = fixtures::envelope("deadline-timer", &warning);
    // Through the bus and the consumer, delivered twice as a broker may.
    let bus = app.host.as_ref().unwrap().bus.clone();
    bus.publish(&envelope).await.unwrap();
    bus.publish(&envelope).await.unwrap();

    let hook = received_for(&receiver, &envelope.event_id.to_string()).await;
    assert_eq!(hook.header("X-Nazer-Event-Type"), Some("warning.issued"));
    let body = Envelope::from_bytes(&hook.body).unwrap();
    assert_eq!(body.decode::<WarningIssued>().unwrap(), warning);
    let delivery = final_delivery(&app, &envelope.event_id.to_string()).await;
    assert_eq!(delivery["state"], "delivered");
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "a redelivered event is sent once");
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_moves_and_escalated_warnings_reach_whoever_must_act() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    for agency in ["agency-a", "ministry", "special-follow-up"] {
        subscribe(&app, agency, &format!("{}/hooks/{agency}", receiver.url), json!(["*"])).await;
    }
    let bus = app.host.as_ref().unwrap().bus.clone();
    let reminder = DeadlineReminderSent {
        subject: None,
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        fraction: 0.5,
        text_fa: "یادآوری".into(),
        due_at: Utc::now(),
        sent_at: Utc::now(),
    };
    let level = |level: i32, escalated_to: &str| WarningIssued {
        subject: None,
        warning_id: format!("w-{level}"),
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        level,
        reason: "escalated".into(),
        text_fa: "تذکر".into(),
        due_at: Utc::now(),
        issued_at: Utc::now(),
        escalated_to: Some(escalated_to.into()),
    };
    let moved = DeadlineMoved {
        subject: None,
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        previous_due_at: Utc::now(),
        due_at: Utc::now() + Duration::days(1),
        reason: "closure added".into(),
        text_fa: "مهلت تغییر کرد".into(),
        moved_at: Utc::now(),
    };
    let paused = DeadlinePaused {
        subject: None,
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        reason: "waiting_for_citizen".into(),
        due_at: Utc::now(),
        paused_at: Utc::now(),
    };
    let resumed = DeadlineResumed {
        subject: None,
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        due_at: Utc::now() + Duration::days(1),
        resumed_at: Utc::now(),
    };
    let envelopes = [
        fixtures::envelope("deadline-timer", &reminder),
        fixtures::envelope("deadline-timer", &moved),
        fixtures::envelope("deadline-timer", &paused),
        fixtures::envelope("deadline-timer", &resumed),
        fixtures::envelope("deadline-timer", &level(2, "ministry")),
        fixtures::envelope("deadline-timer", &level(3, "special-follow-up")),
    ];
    for envelope in &envelopes {
        bus.publish(envelope).await.unwrap();
    }
    let expected = [
        ("/hooks/agency-a", "deadline.moved"),
        ("/hooks/agency-a", "deadline.paused"),
        ("/hooks/agency-a", "deadline.reminder"),
        ("/hooks/agency-a", "deadline.resumed"),
        ("/hooks/agency-a", "warning.issued"),
        ("/hooks/agency-a", "warning.issued"),
        ("/hooks/ministry", "warning.issued"),
        ("/hooks/special-follow-up", "warning.issued"),
    ];
    eventually(StdDuration::from_secs(20), "eight webhooks", || async {
        (receiver.received().len() >= expected.len()).then_some(())
    })
    .await;
    // Any extra delivery would arrive by now.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let mut seen: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|h| (h.path.clone(), h.header("X-Nazer-Event-Type").unwrap_or_default().to_string()))
        .collect();
    seen.sort();
    assert_eq!(seen, expected.map(|(p, t)| (p.to_string(), t.to_string())));
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_is_retried_until_the_delivery_fails() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(500);
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.webhooks.max_attempts = 3;
        settings.webhooks.initial_backoff_ms = 100;
    })
    .await;
    let subscription = subscribe(&app, "agency-a", &format!("{}/hooks", receiver.url), json!(["*"])).await;
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(enqueue(&app, &envelope, "agency-a"), 1);

    let delivery = final_delivery(&app, &envelope.event_id.to_string()).await;
    assert_eq!(delivery["state"], "failed", "{delivery}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 500);
    let log = delivery["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "{delivery}");
    for (n, attempt) in log.iter().enumerate() {
        assert_eq!(attempt["attempt"], n as i64 + 1);
        assert_eq!(attempt["status_code"], 500);
        assert!(attempt["error"].as_str().is_some_and(|e| e.contains("500")), "{attempt}");
    }
    // Backoff: the attempts are spread out, not fired back to back.
    let at = |n: usize| serde_json::from_value::<chrono::DateTime<Utc>>(log[n]["attempted_at"].clone()).unwrap();
    assert!(at(1) - at(0) >= Duration::milliseconds(100), "{delivery}");
    assert!(at(2) - at(1) >= Duration::milliseconds(200), "{delivery}");

    let failed = app.outbox_events("notification", "notification.failed");
    assert_eq!(failed.len(), 1);
    let NotificationFailed(outcome) = failed[0].decode().unwrap();
    assert_eq!(outcome.delivery_id, delivery["id"].as_str().unwrap());
    assert_eq!(outcome.subscription_id, subscription["id"].as_str().unwrap());
    assert_eq!((outcome.attempts, outcome.last_status), (3, Some(500)));
    assert!(outcome.last_error.is_some());
    assert!(app.outbox_events("notification", "notification.delivered").is_empty());

    // A failed delivery stays failed.
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    let (_, body) = app.get(&format!("/api/v1/deliveries?event_id={}", envelope.event_id), ADMIN_KEY).await;
    assert_eq!(body["deliveries"][0]["attempt_log"].as_array().unwrap().len(), 3);
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_recovers_gets_the_retry() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(500);
    // A backoff long enough that the test switches the receiver before the second attempt.
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.webhooks.max_attempts = 3;
        settings.webhooks.initial_backoff_ms = 1_000;
    })
    .await;
    subscribe(&app, "agency-a", &format!("{}/hooks", receiver.url), json!(["message.assigned"])).await;
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(enqueue(&app, &envelope, "agency-a"), 1);
    let path = format!("/api/v1/deliveries?event_id={}", envelope.event_id);

    eventually(StdDuration::from_secs(10), "the first attempt to be recorded", || async {
        let (_, body) = app.get(&path, ADMIN_KEY).await;
        let log = body["deliveries"][0]["attempt_log"].as_array().cloned().unwrap_or_default();
        (!log.is_empty()).then_some(())
    })
    .await;
    receiver.answer_with(204);

    let delivery = final_delivery(&app, &envelope.event_id.to_string()).await;
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 2);
    let statuses: Vec<Value> =
        delivery["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(statuses, vec![json!(500), json!(204)], "{delivery}");
    let hooks = receiver.received();
    assert_eq!(hooks.len(), 1, "the receiver accepted one request: {hooks:?}");
    assert_eq!(hooks[0].header("X-Nazer-Delivery-Id"), delivery["id"].as_str());
    let delivered = app.outbox_events("notification", "notification.delivered");
    assert_eq!(delivered.len(), 1);
    let NotificationDelivered(outcome) = delivered[0].decode().unwrap();
    assert_eq!((outcome.attempts, outcome.last_status), (2, Some(204)));
    assert!(app.outbox_events("notification", "notification.failed").is_empty());
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_subscription_cancels_its_pending_retries() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer_with(500);
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.webhooks.max_attempts = 5;
        settings.webhooks.initial_backoff_ms = 2_000;
    })
    .await;
    let subscription = subscribe(&app, "agency-a", &format!("{}/hooks", receiver.url), json!(["*"])).await;
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(enqueue(&app, &envelope, "agency-a"), 1);
    let path = format!("/api/v1/deliveries?event_id={}", envelope.event_id);
    eventually(StdDuration::from_secs(10), "the first failed attempt", || async {
        let (_, body) = app.get(&path, ADMIN_KEY).await;
        (body["deliveries"][0]["attempts"] == 1).then_some(())
    })
    .await;

    let id = subscription["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/webhook-subscriptions/{id}"), ADMIN_KEY).await.0, 204);
    receiver.answer_with(204);
    // Past the retry's due time: nothing more is sent.
    tokio::time::sleep(StdDuration::from_millis(2_500)).await;
    let (_, body) = app.get(&path, ADMIN_KEY).await;
    let delivery = &body["deliveries"][0];
    assert_eq!(delivery["state"], "cancelled", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert!(receiver.received().is_empty());
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_in_flight_when_its_subscription_is_removed_does_not_revive_it() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    let subscription = subscribe(&app, "agency-a", &format!("{}/hooks", receiver.url), json!(["*"])).await;
    // Due in an hour, so this host's own sender leaves it to the test.
    let later = Utc::now() + Duration::hours(1);
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", "agency-a"));
    assert_eq!(write(&app, |conn| store::enqueue_deliveries(conn, &envelope, "agency-a", later)), 1);
    let claim =
        |at: chrono::DateTime<Utc>| write(&app, |conn| store::claim_due(conn, at, Some(at + Duration::minutes(2)), 10));
    let claimed = claim(later);
    assert_eq!(claimed.len(), 1);

    let id = subscription["id"].as_str().unwrap().to_string();
    assert!(write(&app, |conn| store::deactivate_subscription(conn, &id, later)));
    let failed =
        store::AttemptResult { status: Some(500), error: Some("receiver answered 500".into()), duration_ms: 3 };
    let policy = store::RetryPolicy { max_attempts: 5, initial_backoff_ms: 100, max_backoff_ms: 1_000 };
    let outcome = write(&app, |conn| store::record_attempt(conn, &claimed[0], &failed, policy, later));
    assert_eq!(outcome, None);
    let (_, body) = app.get(&format!("/api/v1/deliveries?event_id={}", envelope.event_id), ADMIN_KEY).await;
    assert_eq!(body["deliveries"][0]["state"], "cancelled", "{body}");
    assert!(claim(later + Duration::hours(1)).is_empty());
    app.stop().await;
    receiver.stop().await;
}

/// What an attempt refused by the egress policy records, whatever its target.
const REFUSED: &str = "refused by the webhook egress policy";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_an_internal_or_credentialed_url_is_refused_naming_url() {
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.webhooks.allowed_networks = "10.20.0.0/16".into();
    })
    .await;
    let post = |url: &str| {
        let body = json!({ "agency_id": "agency-a", "url": url, "secret": SECRET });
        let app = &app;
        async move { app.post("/api/v1/webhook-subscriptions", ADMIN_KEY, &body).await }
    };
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://017700000001/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://[::1]:8080/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://admin.localhost/",
        "http://10.0.0.1:5432/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "https://user:pass@agency-a.example/hooks",
        "https://user@agency-a.example/hooks",
    ] {
        let (status, problem) = post(url).await;
        assert_eq!((status, problem_fields(&problem)), (422, vec!["url".to_string()]), "{url} → {problem}");
    }
    let (_, problem) = post("http://127.0.0.1:5432/").await;
    assert!(problem.to_string().contains("webhooks.allowed_networks"), "says how to fix it: {problem}");
    let (_, body) = app.get("/api/v1/webhook-subscriptions", ADMIN_KEY).await;
    assert_eq!(body["webhook_subscriptions"], json!([]), "refused subscriptions are not stored");
    // Public addresses, and the operator's allowed network, are accepted.
    for url in ["https://8.8.8.8/hooks", "http://10.20.1.2:8080/hooks", "http://[::ffff:10.20.1.2]/hooks"] {
        let (status, body) = post(url).await;
        assert_eq!(status, 201, "{url} → {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_subscription_to_a_refused_address_is_refused_when_it_connects() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.webhooks.allowed_networks = String::new();
        settings.webhooks.max_attempts = 1;
    })
    .await;
    let port = receiver.url.rsplit(':').next().unwrap().to_string();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Rows stored before the policy: the API is bypassed. IP literals and `localhost` are judged
    // before connecting; names that resolve inside are left to the resolver (see sender's tests).
    let targets = [
        ("open", format!("{}/hooks", receiver.url)),
        ("closed", format!("http://127.0.0.1:{closed}/hooks")),
        ("named", format!("http://localhost:{port}/hooks")),
        ("mapped", format!("http://[::ffff:7f00:1]:{port}/hooks")),
        ("hex", format!("http://0x7f.1:{port}/hooks")),
        ("metadata", "http://169.254.169.254/latest/meta-data/".to_string()),
    ];
    let now = Utc::now();
    for (agency, url) in &targets {
        write(&app, |conn| store::create_subscription(conn, &keys(), agency, url, SECRET, &["*".to_string()], now));
    }
    let mut errors = Vec::new();
    for (agency, _) in &targets {
        let envelope = fixtures::envelope("routing", &message_assigned("m-1", agency));
        assert_eq!(enqueue(&app, &envelope, agency), 1);
        let delivery = final_delivery(&app, &envelope.event_id.to_string()).await;
        assert_eq!(delivery["state"], "failed", "{agency}: {delivery}");
        assert_eq!(delivery["last_status"], Value::Null, "{agency}: {delivery}");
        errors.push(delivery["last_error"].clone());
    }
    assert!(errors.iter().all(|e| e == REFUSED), "one text whatever the target: {errors:?}");
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_seeding_the_demo_points_its_subscriptions_at_the_new_receiver() {
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    let agencies = ["tehran-municipality", "special-follow-up"];
    let seed = |base: &str, secret: &str| {
        write(&app, |conn| nazer_notification::seed_demo(conn, &keys(), &agencies, base, secret, Utc::now()))
    };
    // What a seeding before the demo's subscriptions had ids of their own left, and an agency's
    // own subscription, which stays.
    let all = ["*".to_string()];
    let now = Utc::now();
    let earlier = "http://127.0.0.1:41000/demo/webhooks/tehran-municipality";
    let own = "https://tehran-municipality.example/hooks";
    let earlier =
        write(&app, |conn| store::create_subscription(conn, &keys(), agencies[0], earlier, SECRET, &all, now));
    write(&app, |conn| store::create_subscription(conn, &keys(), agencies[0], own, SECRET, &all, now));
    seed("http://127.0.0.1:41001/demo/webhooks", "first-demo-secret-0123");
    seed("http://127.0.0.1:41002/demo/webhooks", "second-demo-secret-0123");
    seed("http://127.0.0.1:41002/demo/webhooks", "second-demo-secret-0123");
    for agency in agencies {
        let subscriptions = write(&app, |conn| store::list_subscriptions(conn, Some(agency)));
        let demo: Vec<&store::Subscription> =
            subscriptions.iter().filter(|s| s.url.contains("/demo/webhooks/") && s.id != earlier.id).collect();
        assert_eq!(demo.len(), 1, "updated in place, not added: {subscriptions:?}");
        assert_eq!(demo[0].url, format!("http://127.0.0.1:41002/demo/webhooks/{agency}"));
        assert!(demo[0].active);
    }
    let subscriptions = write(&app, |conn| store::list_subscriptions(conn, Some(agencies[0])));
    let active: Vec<&str> = subscriptions.iter().filter(|s| s.active).map(|s| s.url.as_str()).collect();
    assert_eq!(active, [own, "http://127.0.0.1:41002/demo/webhooks/tehran-municipality"], "{subscriptions:?}");
    // The new secret signs what is sent from now on.
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", agencies[1]));
    assert_eq!(enqueue(&app, &envelope, agencies[1]), 1);
    let later = Utc::now() + Duration::hours(1);
    let claimed = write(&app, |conn| store::claim_due(conn, later, Some(later + Duration::minutes(2)), 10));
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, "http://127.0.0.1:41002/demo/webhooks/special-follow-up");
    let secret = store::open_secret(&keys(), &claimed[0].subscription_id, &claimed[0].secret).unwrap();
    assert_eq!(secret, "second-demo-secret-0123");
    app.stop().await;
}

/// The `secret` column of every subscription, as stored.
fn stored_secrets(app: &TestApp) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let rows: Vec<Stored> = write(app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(diesel::RunQueryDsl::load(
            diesel::sql_query("SELECT secret FROM webhook_subscriptions ORDER BY id"),
            conn,
        )?)
    });
    rows.into_iter().map(|r| r.secret).collect()
}

/// One event for `agency` reaches the receiver signed with [`SECRET`].
async fn expect_signed_delivery(app: &TestApp, receiver: &WebhookReceiver, agency: &str) {
    let envelope = fixtures::envelope("routing", &message_assigned("m-1", agency));
    assert_eq!(enqueue(app, &envelope, agency), 1);
    let hook = received_for(receiver, &envelope.event_id.to_string()).await;
    let header = hook.header(signature::HEADER).unwrap_or_else(|| panic!("unsigned: {hook:?}"));
    assert!(signature::verify(SECRET, header, &hook.body, Utc::now().timestamp(), 300), "{header}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_secrets_are_stored_sealed_and_still_sign() {
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    subscribe(&app, "agency-a", &format!("{}/hooks", receiver.url), json!(["*"])).await;
    let stored = stored_secrets(&app);
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(SECRET), "stored as given: {}", stored[0]);
    assert!(stored[0].starts_with("v1:test:"), "sealed under the active key, its id kept: {}", stored[0]);

    expect_signed_delivery(&app, &receiver, "agency-a").await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_key_reseals_the_signing_secrets_and_seals_plaintext_ones() {
    let receiver = WebhookReceiver::start().await;
    let rotated = format!("k2:{},{REPORTER_KEYS}", "ab".repeat(32));
    let mut app = TestApp::start_with(&[nazer_notification::SERVICE], |settings| {
        settings.privacy.reporter_keys = Some(rotated.clone());
    })
    .await;
    let url = format!("{}/hooks", receiver.url);
    let all = ["*".to_string()];
    // Sealed under the key now retired, and one stored before secrets were sealed.
    let old = write(&app, |conn| store::create_subscription(conn, &keys(), "agency-a", &url, SECRET, &all, Utc::now()));
    let plain =
        write(&app, |conn| store::create_subscription(conn, &keys(), "agency-b", &url, SECRET, &all, Utc::now()));
    let plaintext = format!("UPDATE webhook_subscriptions SET secret = '{SECRET}' WHERE id = '{}'", plain.id);
    write(&app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(diesel::RunQueryDsl::execute(diesel::sql_query(&plaintext), conn)?)
    });
    let before = stored_secrets(&app);
    assert!(before.iter().all(|s| !s.starts_with("v1:k2:")), "{before:?}");

    let keys_now = SealingKeys::parse(&rotated).unwrap();
    // As `nazer migrate` and `nazer up` run it: its own transaction.
    let reseal = |keys: SealingKeys| app.db().run(move |conn| store::reseal_secrets(conn, &keys));
    let done = reseal(keys_now.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((done.rewritten, done.unreadable.len()), (2, 0));
    let after = stored_secrets(&app);
    assert!(after.iter().all(|s| s.starts_with("v1:k2:") && !s.contains(SECRET)), "{after:?}");
    for (id, stored) in [&old.id, &plain.id].into_iter().zip(&after) {
        assert_eq!(store::open_secret(&keys_now, id, stored).unwrap(), SECRET);
    }
    let again = reseal(keys_now.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.rewritten, 0, "idempotent");
    // Under the new key alone the old one is no longer needed to open it.
    let only_new = SealingKeys::parse(&rotated[..rotated.find(',').unwrap()]).unwrap();
    assert_eq!(store::open_secret(&only_new, &old.id, &after[0]).unwrap(), SECRET);
    expect_signed_delivery(&app, &receiver, "agency-a").await;
    app.stop().await;
    receiver.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterpart_unit_and_the_committee_receive_their_culpability_events_and_warnings_and_no_agency_does() {
    use nazer_shared::events::{StageSubject, ViolationCulpabilityOpened};
    let receiver = WebhookReceiver::start().await;
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    let unit = "unit:inspection-urban-planning";
    subscribe(&app, unit, &format!("{}/hooks/unit", receiver.url), json!(["*"])).await;
    subscribe(&app, "committee:compliance", &format!("{}/hooks/committee", receiver.url), json!(["*"])).await;
    subscribe(&app, "district-3", &format!("{}/hooks/district-3", receiver.url), json!(["*"])).await;
    let opened = ViolationCulpabilityOpened {
        case_id: "case-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        unit_id: "inspection-urban-planning".into(),
        opened_at: Utc::now(),
    };
    let warned = WarningIssued {
        subject: Some(StageSubject { kind: "violation_case".into(), id: "case-1".into() }),
        warning_id: "w-1".into(),
        deadline_id: "d-1".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: unit.into(),
        stage: "culpability.findings_recorded".into(),
        level: 1,
        reason: "deadline_passed".into(),
        text_fa: "تذکر".into(),
        due_at: Utc::now(),
        issued_at: Utc::now(),
        escalated_to: None,
    };
    let committee_warned = WarningIssued {
        warning_id: "w-2".into(),
        agency_id: "committee:compliance".into(),
        stage: "culpability.decided".into(),
        ..warned.clone()
    };
    let bus = app.host.as_ref().unwrap().bus.clone();
    bus.publish(&fixtures::envelope("violation-referral", &opened)).await.unwrap();
    bus.publish(&fixtures::envelope("deadline-timer", &warned)).await.unwrap();
    bus.publish(&fixtures::envelope("deadline-timer", &committee_warned)).await.unwrap();
    eventually(StdDuration::from_secs(20), "three webhooks", || async {
        (receiver.received().len() >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let mut seen: Vec<(String, String)> = receiver
        .received()
        .iter()
        .map(|h| (h.path.clone(), h.header("X-Nazer-Event-Type").unwrap_or_default().to_string()))
        .collect();
    seen.sort();
    let expected = [
        ("/hooks/committee", "warning.issued"),
        ("/hooks/unit", "violation.culpability_opened"),
        ("/hooks/unit", "warning.issued"),
    ];
    assert_eq!(seen, expected.map(|(p, t)| (p.to_string(), t.to_string())), "no agency hears of the track");
    app.stop().await;
    receiver.stop().await;
}
