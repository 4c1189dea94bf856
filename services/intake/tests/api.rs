//! Intake end to end: its HTTP API and its read model, on a real host over a fresh database
//! (PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL / NAZER_TEST_BROKER_URL are set;
//! SQLite and the in-process bus otherwise).

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_intake::projection::{self, Projection};
use nazer_intake::schema::{message_warnings, messages, reporters};
use nazer_intake::sealing::ReporterKeys;
use nazer_intake::tracking_code::TrackingCode;
use nazer_shared::events::{
    DeadlineMet, DeadlineMoved, DeadlinePaused, DeadlineReminderSent, DeadlineResumed, DeadlineScheduled, Envelope,
    MessageAcknowledged, MessageAssigned, MessageNeedsTriage, MessageReceived, MessageResponded, WarningIssued,
};
use nazer_shared::http::Scope;
use nazer_shared::inbox::{HandlerError, InboxOutcome, apply_once};
use nazer_shared::schema::outbox;
use nazer_shared::testing::fixtures::{self, envelope, message_assigned};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
use serde_json::{Value, json};

const CATEGORY: &str = "municipal.building";
const MESSAGES: &str = "/api/v1/messages";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Intake alone, with one active category that takes complaints and violation reports.
async fn start() -> TestApp {
    let app = TestApp::start(&[nazer_intake::SERVICE]).await;
    put_category(&app, CATEGORY, "Building violations", true).await;
    app
}

async fn put_category(app: &TestApp, code: &str, name_en: &str, active: bool) {
    let body = json!({
        "name_fa": "تخلفات ساختمانی",
        "name_en": name_en,
        "kinds": ["complaint", "violation_report"],
        "active": active,
    });
    let (status, reply) = app.put(&format!("/api/v1/categories/{code}"), ADMIN_KEY, &body).await;
    assert_eq!(status, 200, "PUT category {code}: {reply}");
}

/// A complete, valid message as the call centre posts it.
fn a_message() -> Value {
    json!({
        "kind": "violation_report",
        "channel": "call_center",
        "category": CATEGORY,
        "subject": "ساخت و ساز شبانه",
        "body": "ساخت و ساز غیرمجاز در کوچهٔ شمارهٔ ۳",
        "province": "tehran",
        "city": "تهران",
        "reporter": { "full_name": "Reza Citizen", "mobile": "+98 912 123 4567", "confidential": true },
    })
}

/// One HTTP answer with its headers.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = response.headers().clone();
    let (status, body) = nazer_shared::testing::read(response).await;
    Reply { status, headers, body }
}

async fn post_message(app: &TestApp, key: &str, body: &Value) -> Reply {
    send(app.client.post(app.url(MESSAGES)).bearer_auth(key).json(body)).await
}

/// Posts [`a_message`] as the call centre and returns the receipt.
async fn submit(app: &TestApp) -> Value {
    let reply = post_message(app, ADMIN_KEY, &a_message()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_string()
}

async fn get_message(app: &TestApp, code: &str, key: &str) -> Reply {
    send(app.client.get(app.url(&format!("{MESSAGES}/{code}"))).bearer_auth(key)).await
}

async fn respond(app: &TestApp, code: &str, key: &str, body: &Value) -> Reply {
    send(app.client.post(app.url(&format!("{MESSAGES}/{code}/responses"))).bearer_auth(key).json(body)).await
}

/// Checks `reply` is the problem document `status`, `slug`, naming `fields` in order.
#[track_caller]
fn assert_problem(reply: &Reply, status: u16, slug: &str, fields: &[&str]) {
    fixtures::assert_problem(reply.status, reply.header("content-type"), &reply.body, (status, slug, fields));
}

/// An agency-scoped key's secret.
fn agency_key(app: &TestApp, agency: &str) -> String {
    fixtures::api_key(app, &[Scope::Agency], Some(agency))
}

async fn count_messages(app: &TestApp) -> i64 {
    app.db().run(|conn| Ok(messages::table.count().get_result(conn)?)).await.unwrap()
}

async fn count_outbox(app: &TestApp) -> i64 {
    app.db().run(|conn| Ok(outbox::table.count().get_result(conn)?)).await.unwrap()
}

/// Now, at the precision the database keeps, so times read back compare equal.
fn now() -> DateTime<Utc> {
    fixtures::stored(Utc::now())
}

/// Applies an event through intake's consumer exactly as a delivery would: inbox and handler
/// in one write transaction.
async fn apply(app: &TestApp, envelope: &Envelope) -> InboxOutcome {
    let envelope = envelope.clone();
    let handler = projection::handlers().with_state(Projection);
    app.db()
        .write(move |conn| apply_once(conn, "intake", &envelope, Utc::now(), handler.as_ref()))
        .await
        .unwrap_or_else(|e: HandlerError| panic!("the projection refused the event: {e}"))
}

fn agency_name(agency: &str) -> String {
    format!("شهرداری {agency}")
}

/// What routing publishes when it assigns the message of `receipt`.
fn assigned(receipt: &Value, agency: &str) -> MessageAssigned {
    MessageAssigned {
        tracking_code: text(&receipt["tracking_code"]),
        kind: "violation_report".into(),
        category: CATEGORY.into(),
        city: Some("تهران".into()),
        agency_name: agency_name(agency),
        assigned_at: now(),
        ..message_assigned(&text(&receipt["id"]), agency)
    }
}

async fn assign(app: &TestApp, receipt: &Value, agency: &str) {
    let outcome = apply(app, &envelope("routing", &assigned(receipt, agency))).await;
    assert_eq!(outcome, InboxOutcome::Applied);
}

/// `code` with its last (check) digit changed: a misread the check digit must catch.
fn with_wrong_check_digit(code: &str) -> String {
    let last = code.as_bytes()[code.len() - 1] - b'0';
    let bad = format!("{}{}", &code[..code.len() - 1], (last + 1) % 10);
    assert!(TrackingCode::parse(&bad).is_err(), "{bad} should not parse");
    bad
}

/// A well-formed tracking code no message has.
fn unknown_code(taken: &str) -> String {
    loop {
        let code = TrackingCode::generate();
        if code.as_str() != taken {
            return code.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Posting messages

#[tokio::test(flavor = "multi_thread")]
async fn an_urgent_message_carries_its_priority_to_routing() {
    let mut app = start().await;
    let mut urgent = a_message();
    urgent["priority"] = json!("urgent");
    let reply = post_message(&app, ADMIN_KEY, &urgent).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let view = get_message(&app, &text(&reply.body["tracking_code"]), ADMIN_KEY).await;
    assert_eq!(view.body["priority"], "urgent");
    let received: MessageReceived = app.outbox_events("intake", "message.received")[0].decode().unwrap();
    assert_eq!(received.priority, "urgent");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_a_message_answers_201_with_a_tracking_code_and_announces_it() {
    let mut app = start().await;
    let reply = post_message(&app, ADMIN_KEY, &a_message()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));

    let receipt = &reply.body;
    let id = text(&receipt["id"]);
    let code = text(&receipt["tracking_code"]);
    assert!(!id.is_empty());
    assert_eq!(code.len(), 10, "{code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert_eq!(TrackingCode::parse(&code).map(|c| c.to_string()), Ok(code.clone()));
    assert_eq!(receipt["status"], "received");
    let received_at: DateTime<Utc> = text(&receipt["received_at"]).parse().unwrap();
    assert!((Utc::now() - received_at).num_seconds().abs() < 60, "{received_at}");
    let mut keys: Vec<&str> = receipt.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "received_at", "status", "tracking_code"]);

    let location = reply.header("location").map(str::to_string);
    assert_eq!(location, Some(format!("{MESSAGES}/{code}")));
    let (status, view) = app.get(&location.unwrap(), ADMIN_KEY).await;
    assert_eq!((status, &view["id"]), (200, &json!(id)));

    // One message.received in the outbox (published or not), with no personal data in it.
    let events = app.outbox_events("intake", "message.received");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!((event.producer.as_str(), event.aggregate_id.as_str()), ("intake", id.as_str()));
    let received: MessageReceived = event.decode().unwrap();
    assert_eq!(
        received,
        // By the call centre, in Tehran, under CATEGORY, of normal priority, as the fixture.
        MessageReceived {
            message_id: id.clone(),
            tracking_code: code.clone(),
            kind: "violation_report".into(),
            city: Some("تهران".into()),
            received_at,
            ..fixtures::message_received()
        }
    );
    let raw = serde_json::to_string(event).unwrap();
    for personal in ["Reza", "1234567", "123 4567"] {
        assert!(!raw.contains(personal), "personal data ({personal}) leaked into the event: {raw}");
    }

    // The reporter is kept apart and sealed at rest; opened, the mobile is in its national form.
    let message_id = id.clone();
    let (full_name, mobile, confidential): (Option<String>, Option<String>, bool) = app
        .db()
        .run(move |conn| {
            Ok(reporters::table
                .find(&message_id)
                .select((reporters::full_name, reporters::mobile, reporters::confidential))
                .first(conn)?)
        })
        .await
        .unwrap();
    let (full_name, mobile) = (full_name.unwrap(), mobile.unwrap());
    for stored in [&full_name, &mobile] {
        assert!(stored.starts_with("v1:test:"), "sealed: {stored}");
        assert!(!stored.contains("Reza") && !stored.contains("09121234567"), "no plaintext at rest: {stored}");
    }
    let keys = ReporterKeys::parse(nazer_shared::testing::REPORTER_KEYS).unwrap();
    assert_eq!(keys.open(&id, "full_name", &full_name).unwrap(), "Reza Citizen");
    assert_eq!(keys.open(&id, "mobile", &mobile).unwrap(), "09121234567");
    assert!(confidential);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_messages_are_refused_naming_each_field_and_nothing_is_stored() {
    let mut app = start().await;

    let reply = post_message(&app, ADMIN_KEY, &json!({})).await;
    assert_problem(&reply, 422, "validation", &["kind", "channel", "category", "body", "area"]);

    let mut unknown_category = a_message();
    unknown_category["category"] = json!("nope.nothing");
    assert_problem(&post_message(&app, ADMIN_KEY, &unknown_category).await, 422, "validation", &["category"]);

    let mut bad_values = a_message();
    bad_values["kind"] = json!("rumour");
    bad_values["province"] = json!("atlantis");
    bad_values["reporter"] = json!({ "national_id": "0012345678", "email": "nobody" });
    assert_problem(
        &post_message(&app, ADMIN_KEY, &bad_values).await,
        422,
        "validation",
        &["kind", "province", "reporter.national_id", "reporter.email"],
    );

    let mut wrong_type = a_message();
    wrong_type["body"] = json!(42);
    assert_problem(&post_message(&app, ADMIN_KEY, &wrong_type).await, 422, "validation", &["body"]);

    let mut wrong_nested_type = a_message();
    wrong_nested_type["reporter"] = json!({ "confidential": "yes" });
    assert_problem(
        &post_message(&app, ADMIN_KEY, &wrong_nested_type).await,
        422,
        "validation",
        &["reporter.confidential"],
    );

    let mut unknown_field = a_message();
    unknown_field["urgency"] = json!("high");
    assert_problem(&post_message(&app, ADMIN_KEY, &unknown_field).await, 422, "validation", &["urgency"]);

    let mut unknown_priority = a_message();
    unknown_priority["priority"] = json!("asap");
    assert_problem(&post_message(&app, ADMIN_KEY, &unknown_priority).await, 422, "validation", &["priority"]);

    let mut unknown_nested = a_message();
    unknown_nested["reporter"] = json!({ "phone": "09121234567" });
    assert_problem(&post_message(&app, ADMIN_KEY, &unknown_nested).await, 422, "validation", &["reporter.phone"]);

    let malformed = app
        .client
        .post(app.url(MESSAGES))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(r#"{"kind": "complaint", "body": "#);
    assert_problem(&send(malformed).await, 400, "malformed-request", &[]);

    let not_json = app
        .client
        .post(app.url(MESSAGES))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "text/plain")
        .body(a_message().to_string());
    assert_problem(&send(not_json).await, 415, "unsupported-media-type", &[]);

    let bad_idempotency_key = app.client.post(app.url(MESSAGES)).bearer_auth(ADMIN_KEY).header("Idempotency-Key", " ");
    assert_problem(&send(bad_idempotency_key.json(&a_message())).await, 400, "malformed-request", &["Idempotency-Key"]);

    assert_eq!(count_messages(&app).await, 0, "a refused message must not be stored");
    assert_eq!(count_outbox(&app).await, 0, "a refused message must not be announced");
    let reporters: i64 = app.db().run(|conn| Ok(reporters::table.count().get_result(conn)?)).await.unwrap();
    assert_eq!(reporters, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_need_a_known_key_with_the_call_center_scope() {
    let mut app = start().await;

    let anonymous = send(app.client.post(app.url(MESSAGES)).json(&a_message())).await;
    assert_problem(&anonymous, 401, "unauthorized", &[]);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));

    let not_bearer =
        send(app.client.post(app.url(MESSAGES)).header("authorization", "Basic dXNlcjpwYXNz").json(&a_message())).await;
    assert_problem(&not_bearer, 401, "unauthorized", &[]);

    let unknown = post_message(&app, "nzr_thisKeyWasNeverIssued0000000000000000", &a_message()).await;
    assert_problem(&unknown, 401, "unauthorized", &[]);

    let agency = agency_key(&app, "agency-a");
    let forbidden = post_message(&app, &agency, &a_message()).await;
    assert_problem(&forbidden, 403, "forbidden", &[]);

    let lookup = send(app.client.get(app.url(&format!("{MESSAGES}/{}", TrackingCode::generate())))).await;
    assert_problem(&lookup, 401, "unauthorized", &[]);

    assert_eq!(count_messages(&app).await, 0);
    assert_eq!(count_outbox(&app).await, 0);

    // A key with the call-centre scope alone may post and look up.
    let (status, created) =
        app.post("/api/v1/api-keys", ADMIN_KEY, &json!({"name": "1888", "scopes": ["call_center"]})).await;
    assert_eq!(status, 201, "{created}");
    let call_center = text(&created["secret"]);
    let reply = post_message(&app, &call_center, &a_message()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let looked_up = get_message(&app, &text(&reply.body["tracking_code"]), &call_center).await;
    assert_eq!(looked_up.status, 200, "{}", looked_up.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_receipt() {
    let mut app = start().await;
    let post = |key: &'static str| {
        send(
            app.client.post(app.url(MESSAGES)).bearer_auth(ADMIN_KEY).header("Idempotency-Key", key).json(&a_message()),
        )
    };

    let first = post("call-0042").await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);

    let second = post("call-0042").await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body["tracking_code"], first.body["tracking_code"]);
    assert_eq!(second.body, first.body, "the replay returns the first receipt unchanged");

    assert_eq!(count_messages(&app).await, 1);
    assert_eq!(app.outbox_events("intake", "message.received").len(), 1);

    let other = post("call-0043").await;
    assert_eq!(other.status, 201, "{}", other.body);
    assert_ne!(other.body["tracking_code"], first.body["tracking_code"]);
    assert_eq!(count_messages(&app).await, 2);
    assert_eq!(app.outbox_events("intake", "message.received").len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_retries_with_one_idempotency_key_store_one_message() {
    let mut app = start().await;
    // A client that timed out retries while its first attempt is still being stored.
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let request = app
                .client
                .post(app.url(MESSAGES))
                .bearer_auth(ADMIN_KEY)
                .header("Idempotency-Key", "call-0099")
                .json(&a_message());
            tokio::spawn(send(request))
        })
        .collect();
    let mut replies = Vec::new();
    for attempt in attempts {
        replies.push(attempt.await.unwrap());
    }
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 7, "{statuses:?}");
    for reply in &replies {
        assert_eq!(reply.body["tracking_code"], replies[0].body["tracking_code"], "{}", reply.body);
    }
    assert_eq!(count_messages(&app).await, 1);
    assert_eq!(app.outbox_events("intake", "message.received").len(), 1);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Looking messages up

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_looked_up_by_its_tracking_code() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);

    let reply = get_message(&app, &code, ADMIN_KEY).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = json!({
        "id": receipt["id"],
        "tracking_code": code,
        "kind": "violation_report",
        "channel": "call_center",
        "category": CATEGORY,
        "subject": "ساخت و ساز شبانه",
        "body": "ساخت و ساز غیرمجاز در کوچهٔ شمارهٔ ۳",
        "province": "tehran",
        "area": "tehran",
        "area_path": [{ "code": "tehran", "level": "province", "name_fa": "تهران" }],
        "city": "تهران",
        "priority": "normal",
        "status": "received",
        "received_at": receipt["received_at"],
        "assigned_agency": null,
        "acknowledged_at": null,
        "decline_count": 0,
        "needs_supervisor": false,
        "closed_at": null,
        "deadlines": [],
        "warnings": [],
        "reminders": [],
        "reopen_count": 0,
        "reopen_until": null,
        "responses": [],
        "timeline": [{ "at": receipt["received_at"], "transition": "received", "agency_id": null,
                       "detail": { "channel": "call_center" },
                       "actor": { "kind": "api_key", "id": "bootstrap", "name": "bootstrap key" } }],
        // The call centre reads the reporter, opened (normalised, sealed at rest).
        "reporter": { "full_name": "Reza Citizen", "national_id": null, "mobile": "09121234567", "email": null,
                      "confidential": true },
    });
    assert_eq!(reply.body, expected);

    // As people type it: Persian digits, with a separator.
    let persian: String = code.chars().map(|c| char::from_u32('۰' as u32 + c.to_digit(10).unwrap()).unwrap()).collect();
    let typed = format!("{}-{}", &persian[..5 * '۰'.len_utf8()], &persian[5 * '۰'.len_utf8()..]);
    let reply = get_message(&app, &typed, ADMIN_KEY).await;
    assert_eq!((reply.status, &reply.body["id"]), (200, &receipt["id"]), "{}", reply.body);

    let misread = get_message(&app, &with_wrong_check_digit(&code), ADMIN_KEY).await;
    assert_problem(&misread, 422, "validation", &["tracking_code"]);
    let short = get_message(&app, "12345", ADMIN_KEY).await;
    assert_problem(&short, 422, "validation", &["tracking_code"]);

    let missing = get_message(&app, &unknown_code(&code), ADMIN_KEY).await;
    assert_problem(&missing, 404, "not-found", &[]);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The read model and agencies

#[tokio::test(flavor = "multi_thread")]
async fn the_read_model_follows_assignment_deadlines_and_warnings() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let (id, code) = (text(&receipt["id"]), text(&receipt["tracking_code"]));

    assign(&app, &receipt, "agency-a").await;
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["status"], "assigned");
    assert_eq!(view["assigned_agency"], json!({ "id": "agency-a", "name": agency_name("agency-a") }));

    let started = now();
    let due_at = started + chrono::Duration::days(7);
    let scheduled = DeadlineScheduled {
        subject: None,
        deadline_id: "deadline-1".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        started_at: started,
        due_at,
    };
    let scheduled_envelope = envelope("deadline-timer", &scheduled);
    assert_eq!(apply(&app, &scheduled_envelope).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"], json!([{ "stage": "respond", "due_at": due_at, "state": "pending" }]));
    assert_eq!(view["warnings"], json!([]));

    // A closure moved it a day later, and back.
    let moved = |from: DateTime<Utc>, to: DateTime<Utc>| DeadlineMoved {
        subject: None,
        deadline_id: "deadline-1".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        previous_due_at: from,
        due_at: to,
        reason: "closure added".into(),
        text_fa: "مهلت تغییر کرد".into(),
        moved_at: Utc::now(),
    };
    let later = due_at + chrono::Duration::days(1);
    assert_eq!(apply(&app, &envelope("deadline-timer", &moved(due_at, later))).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"], json!([{ "stage": "respond", "due_at": later, "state": "pending" }]));
    assert_eq!(apply(&app, &envelope("deadline-timer", &moved(later, due_at))).await, InboxOutcome::Applied);
    // Paused while the agency waits for the citizen, then resumed.
    let paused = DeadlinePaused {
        subject: None,
        deadline_id: "deadline-1".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        reason: "waiting_for_citizen".into(),
        due_at,
        paused_at: Utc::now(),
    };
    assert_eq!(apply(&app, &envelope("deadline-timer", &paused)).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"][0]["state"], "paused");
    let resumed = DeadlineResumed {
        subject: None,
        deadline_id: "deadline-1".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        due_at,
        resumed_at: Utc::now(),
    };
    assert_eq!(apply(&app, &envelope("deadline-timer", &resumed)).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"], json!([{ "stage": "respond", "due_at": due_at, "state": "pending" }]));
    // A pause overtaken on the bus by its resumption changes nothing when it arrives.
    let stale = Envelope::new("deadline-timer", &paused, Utc::now() - chrono::Duration::minutes(5)).unwrap();
    assert_eq!(apply(&app, &stale).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"][0]["state"], "pending");

    let issued_at = due_at + chrono::Duration::minutes(1);
    let warning = WarningIssued {
        subject: None,
        warning_id: "warning-1".into(),
        deadline_id: "deadline-1".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        level: 1,
        reason: "respond_overdue".into(),
        text_fa: "مهلت پاسخ گذشته است".into(),
        due_at,
        issued_at,
        escalated_to: None,
    };
    let warning_envelope = envelope("deadline-timer", &warning);
    assert_eq!(apply(&app, &warning_envelope).await, InboxOutcome::Applied);
    // The same delivery again is recognised by the inbox…
    assert_eq!(apply(&app, &warning_envelope).await, InboxOutcome::Duplicate);
    // …and the same warning in another envelope (a producer's republish) is not stored twice.
    assert_eq!(apply(&app, &envelope("deadline-timer", &warning)).await, InboxOutcome::Applied);
    // A late `deadline.scheduled` never moves a breached deadline back to pending.
    assert_eq!(apply(&app, &envelope("deadline-timer", &scheduled)).await, InboxOutcome::Applied);

    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["status"], "assigned");
    assert_eq!(view["deadlines"], json!([{ "stage": "respond", "due_at": due_at, "state": "breached" }]));
    let level_1 = json!({ "level": 1, "issued_at": issued_at, "reason": "respond_overdue", "escalated_to": null });
    assert_eq!(view["warnings"], json!([level_1]));
    let stored: i64 = app
        .db()
        .run(move |conn| {
            Ok(message_warnings::table.filter(message_warnings::message_id.eq(&id)).count().get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored, 1);

    // The agency answers after all: the clock that ran out shows `answered_late`, as
    // deadline-timer's own list does, and stays so.
    let answered_at = issued_at + chrono::Duration::hours(1);
    let late = DeadlineMet {
        subject: None,
        deadline_id: "deadline-1".into(),
        message_id: text(&receipt["id"]),
        stage: "respond".into(),
        due_at,
        met_at: answered_at,
        answered_late: true,
    };
    assert_eq!(apply(&app, &envelope("deadline-timer", &late)).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"], json!([{ "stage": "respond", "due_at": due_at, "state": "answered_late" }]));
    assert_eq!(apply(&app, &envelope("deadline-timer", &resumed)).await, InboxOutcome::Applied);
    assert_eq!(get_message(&app, &code, ADMIN_KEY).await.body["deadlines"][0]["state"], "answered_late");

    // Another assignment arriving later does not move an assigned message to another agency.
    assert_eq!(apply(&app, &envelope("routing", &assigned(&receipt, "agency-b"))).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["assigned_agency"]["id"], "agency-a");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn triage_and_met_deadlines_show_in_the_read_model() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let (id, code) = (text(&receipt["id"]), text(&receipt["tracking_code"]));

    let triage = MessageNeedsTriage {
        message_id: id.clone(),
        tracking_code: code.clone(),
        category: CATEGORY.into(),
        province: "tehran".into(),
        city: None,
        area_path: vec!["tehran".into()],
        reason: "no_rule_matched".into(),
        queued_at: now(),
        needs_supervisor: false,
    };
    assert_eq!(apply(&app, &envelope("routing", &triage)).await, InboxOutcome::Applied);
    assert_eq!(get_message(&app, &code, ADMIN_KEY).await.body["status"], "triage");

    assign(&app, &receipt, "agency-a").await;
    assert_eq!(get_message(&app, &code, ADMIN_KEY).await.body["status"], "assigned");
    // A triage notice arriving late does not take the message back from its agency.
    assert_eq!(apply(&app, &envelope("routing", &triage)).await, InboxOutcome::Applied);
    assert_eq!(get_message(&app, &code, ADMIN_KEY).await.body["status"], "assigned");

    let due_at = now() + chrono::Duration::days(2);
    let met = DeadlineMet {
        subject: None,
        deadline_id: "deadline-ack".into(),
        message_id: id.clone(),
        stage: "acknowledge".into(),
        due_at,
        met_at: now(),
        answered_late: false,
    };
    assert_eq!(apply(&app, &envelope("deadline-timer", &met)).await, InboxOutcome::Applied);
    let view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(view["deadlines"], json!([{ "stage": "acknowledge", "due_at": due_at, "state": "met" }]));
    assert_eq!(view["warnings"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_assigned_agency_sees_a_message() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let (agency_a, agency_b) = (agency_key(&app, "agency-a"), agency_key(&app, "agency-b"));

    // Not assigned yet: no agency sees it.
    assert_problem(&get_message(&app, &code, &agency_a).await, 404, "not-found", &[]);

    assign(&app, &receipt, "agency-a").await;
    let mine = get_message(&app, &code, &agency_a).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let mut call_center_view = get_message(&app, &code, ADMIN_KEY).await.body;
    assert!(call_center_view["reporter"].is_object() && mine.body.get("reporter").is_none(), "{}", mine.body);
    call_center_view.as_object_mut().map(|v| v.remove("reporter"));
    // Who posted it and which service placed it are staff's to know.
    assert!(call_center_view["timeline"][0]["actor"].is_object() && mine.body["timeline"][0]["actor"].is_null());
    for step in call_center_view["timeline"].as_array_mut().into_iter().flatten() {
        step["actor"] = Value::Null;
    }
    assert_eq!(
        mine.body, call_center_view,
        "the agency sees what the call centre sees, but a confidential reporter and who did what"
    );
    assert_eq!(mine.body["assigned_agency"]["id"], "agency-a");

    // Another agency's message answers exactly like a missing one.
    let theirs = get_message(&app, &code, &agency_b).await;
    let missing = get_message(&app, &unknown_code(&code), &agency_b).await;
    assert_problem(&theirs, 404, "not-found", &[]);
    assert_eq!(theirs.body, missing.body);
    app.stop().await;
}

/// What deadline-timer publishes when it starts `agency`'s clock `deadline` on the message.
fn scheduled(receipt: &Value, deadline: &str, agency: &str, due_at: DateTime<Utc>) -> DeadlineScheduled {
    DeadlineScheduled {
        subject: None,
        deadline_id: deadline.into(),
        message_id: text(&receipt["id"]),
        tracking_code: text(&receipt["tracking_code"]),
        agency_id: agency.into(),
        stage: "respond".into(),
        started_at: now(),
        due_at,
    }
}

/// What deadline-timer publishes when `agency`'s clock `deadline` runs out.
fn warning_on(receipt: &Value, deadline: &str, agency: &str, level: i32, due_at: DateTime<Utc>) -> WarningIssued {
    WarningIssued {
        subject: None,
        warning_id: format!("{deadline}-warning-{level}"),
        deadline_id: deadline.into(),
        message_id: text(&receipt["id"]),
        tracking_code: text(&receipt["tracking_code"]),
        agency_id: agency.into(),
        stage: "respond".into(),
        level,
        reason: "respond_overdue".into(),
        text_fa: "مهلت پاسخ گذشته است".into(),
        due_at,
        issued_at: due_at,
        escalated_to: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_decline_the_next_agency_sees_only_its_own_tenure() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let (agency_a, agency_b) = (agency_key(&app, "agency-a"), agency_key(&app, "agency-b"));

    // Agency A's clock runs out, it is warned, then it declines with a reason.
    assign(&app, &receipt, "agency-a").await;
    let a_due = now();
    apply(&app, &envelope("deadline-timer", &scheduled(&receipt, "deadline-a", "agency-a", a_due))).await;
    apply(&app, &envelope("deadline-timer", &warning_on(&receipt, "deadline-a", "agency-a", 1, a_due))).await;
    let path = format!("{MESSAGES}/{code}/decline");
    let reason = json!({ "reason": "خارج از حوزه منطقه" });
    let declined = send(app.client.post(app.url(&path)).bearer_auth(&agency_a).json(&reason)).await;
    assert_eq!(declined.status, 200, "{}", declined.body);

    // Routing places it with agency B, whose clock starts.
    assign(&app, &receipt, "agency-b").await;
    let b_due = now() + chrono::Duration::days(7);
    apply(&app, &envelope("deadline-timer", &scheduled(&receipt, "deadline-b", "agency-b", b_due))).await;

    let b_view = get_message(&app, &code, &agency_b).await;
    assert_eq!(b_view.status, 200, "{}", b_view.body);
    let b_view = b_view.body;
    assert_eq!(b_view["deadlines"], json!([{ "stage": "respond", "due_at": b_due, "state": "pending" }]));
    assert_eq!(b_view["warnings"], json!([]), "agency A's warning is not B's");
    let steps: Vec<(String, Option<String>)> = b_view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (text(&e["transition"]), e["agency_id"].as_str().map(str::to_string)))
        .collect();
    let step = |t: &str, a: Option<&str>| (t.to_string(), a.map(str::to_string));
    assert_eq!(
        steps,
        [step("received", None), step("received_from_triage", None), step("assigned", Some("agency-b"))],
        "{b_view}"
    );
    let neutral = &b_view["timeline"][1];
    assert_eq!(neutral["detail"]["title_fa"], "از کارتابل تریاژ ۱۸۸۸ دریافت شد");
    assert!(!b_view.to_string().contains("خارج از حوزه منطقه"), "A's decline reason: {b_view}");
    assert!(!b_view.to_string().contains("agency-a"), "nothing of agency A: {b_view}");

    // Staff see the whole path; agency A no longer sees the message at all (as any other
    // agency's message, it answers like a missing one).
    let staff = get_message(&app, &code, ADMIN_KEY).await.body;
    assert_eq!(staff["deadlines"].as_array().map(Vec::len), Some(2), "{staff}");
    assert_eq!(staff["warnings"].as_array().map(Vec::len), Some(1), "{staff}");
    let transitions: Vec<String> =
        staff["timeline"].as_array().unwrap().iter().map(|e| text(&e["transition"])).collect();
    assert_eq!(transitions, ["received", "assigned", "warning", "declined", "assigned"]);
    assert_eq!(staff["timeline"][3]["detail"]["reason"], "خارج از حوزه منطقه");
    assert_problem(&get_message(&app, &code, &agency_a).await, 404, "not-found", &[]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_and_escalation_recipients_show_in_the_message_view() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let agency_a = agency_key(&app, "agency-a");
    assign(&app, &receipt, "agency-a").await;
    let due_at = now();
    apply(&app, &envelope("deadline-timer", &scheduled(&receipt, "deadline-a", "agency-a", due_at))).await;
    let sent_at = due_at - chrono::Duration::hours(1);
    let reminder = DeadlineReminderSent {
        subject: None,
        deadline_id: "deadline-a".into(),
        message_id: text(&receipt["id"]),
        tracking_code: code.clone(),
        agency_id: "agency-a".into(),
        stage: "respond".into(),
        fraction: 0.5,
        text_fa: "نیمی از مهلت پاسخ گذشت".into(),
        due_at,
        sent_at,
    };
    assert_eq!(apply(&app, &envelope("deadline-timer", &reminder)).await, InboxOutcome::Applied);
    // The same reminder republished in another envelope is kept once.
    assert_eq!(apply(&app, &envelope("deadline-timer", &reminder)).await, InboxOutcome::Applied);
    let first = warning_on(&receipt, "deadline-a", "agency-a", 1, due_at);
    let second = WarningIssued {
        subject: None,
        level: 2,
        warning_id: "deadline-a-warning-2".into(),
        reason: "escalated_to_parent".into(),
        escalated_to: Some("agency-parent".into()),
        ..first.clone()
    };
    apply(&app, &envelope("deadline-timer", &first)).await;
    apply(&app, &envelope("deadline-timer", &second)).await;

    for key in [ADMIN_KEY, agency_a.as_str()] {
        let view = get_message(&app, &code, key).await.body;
        let expected = json!([{ "stage": "respond", "fraction": 0.5, "due_at": due_at, "sent_at": sent_at }]);
        assert_eq!(view["reminders"], expected, "{view}");
        let escalated: Vec<&Value> = view["warnings"].as_array().unwrap().iter().map(|w| &w["escalated_to"]).collect();
        assert_eq!(escalated, [&Value::Null, &json!("agency-parent")], "{view}");
    }
    app.stop().await;
}

/// `(transition, actor)` of every step of a message view's timeline.
fn actors(view: &Value) -> Vec<(String, Value)> {
    let steps = view["timeline"].as_array().unwrap_or_else(|| panic!("no timeline: {view}"));
    steps.iter().map(|e| (text(&e["transition"]), e.get("actor").cloned().unwrap_or(json!("absent")))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_change_records_its_actor_for_staff_only() {
    let mut app = start().await;
    // A complaint: a violation report would not close before its case's verdict.
    let mut complaint = a_message();
    complaint["kind"] = json!("complaint");
    let receipt = post_message(&app, ADMIN_KEY, &complaint).await;
    assert_eq!(receipt.status, 201, "{}", receipt.body);
    let receipt = receipt.body;
    let code = text(&receipt["tracking_code"]);
    let agency_a = agency_key(&app, "agency-a");
    let supervisor = fixtures::api_key(&app, &[Scope::Supervisor], None);
    let action = |what: &str| app.url(&format!("{MESSAGES}/{code}/{what}"));
    let track = |what: &str| app.url(&format!("/api/v1/track/{code}{what}"));

    assign(&app, &receipt, "agency-a").await;
    let ack = send(app.client.post(action("acknowledgement")).bearer_auth(&agency_a)).await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    let answer = json!({ "outcome": "resolved", "body": "بازدید انجام شد" });
    let answered = respond(&app, &code, &agency_a, &answer).await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    let response_id = text(&answered.body["id"]);
    let rubric = json!({ "relevant": 4, "complete": 4, "lawful": 4, "respectful": 4 });
    let review = app.url(&format!("{MESSAGES}/{code}/responses/{response_id}/review"));
    assert_eq!(send(app.client.post(review).bearer_auth(&supervisor).json(&rubric)).await.status, 201);
    let rated =
        send(app.client.post(track("/rating")).header("Tracking-Verifier", "4567").json(&json!({ "rating": 2 })));
    assert_eq!(rated.await.status, 201);
    let reopened = app.client.post(track("/reopen")).header("Tracking-Verifier", "4567");
    let reopened = send(reopened.json(&json!({ "reason": "هنوز ادامه دارد" }))).await;
    assert_eq!(reopened.status, 200, "{}", reopened.body);
    let again = respond(&app, &code, &agency_a, &answer).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let closed = send(app.client.post(action("close")).bearer_auth(ADMIN_KEY).json(&json!({}))).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let by_call_center =
        send(app.client.post(action("reopen")).bearer_auth(ADMIN_KEY).json(&json!({ "reason": "تماس شهروند" })));
    assert_eq!(by_call_center.await.status, 200);
    let declined =
        send(app.client.post(action("decline")).bearer_auth(&agency_a).json(&json!({ "reason": "خارج از حوزه" })));
    assert_eq!(declined.await.status, 200);

    let bootstrap = json!({ "kind": "api_key", "id": "bootstrap", "name": "bootstrap key" });
    let staff = get_message(&app, &code, ADMIN_KEY).await.body;
    let steps = actors(&staff);
    let agency_key_id = steps[2].1["id"].clone();
    let agency_actor = json!({ "kind": "api_key", "id": agency_key_id, "name": "test key" });
    let supervisor_id = steps[4].1["id"].clone();
    assert!(agency_key_id.is_string() && supervisor_id.is_string() && agency_key_id != supervisor_id, "{staff}");
    let citizen = json!({ "kind": "citizen", "id": null, "name": null });
    let step = |t: &str, actor: &Value| (t.to_string(), actor.clone());
    assert_eq!(
        steps,
        [
            step("received", &bootstrap),
            step("assigned", &json!({ "kind": "service", "id": "routing", "name": null })),
            step("acknowledged", &agency_actor),
            step("responded", &agency_actor),
            step("reviewed", &json!({ "kind": "api_key", "id": supervisor_id, "name": "test key" })),
            step("rated", &citizen),
            step("reopened", &citizen),
            step("responded", &agency_actor),
            step("closed", &bootstrap),
            step("reopened", &bootstrap),
            step("declined", &agency_actor),
        ],
        "{staff}"
    );

    // The citizen's page never names anyone.
    let tracked = send(app.client.get(track("")).header("Tracking-Verifier", "4567")).await;
    assert_eq!(tracked.status, 200, "{}", tracked.body);
    assert!(!tracked.body.to_string().contains("actor"), "{}", tracked.body);
    assert!(!tracked.body.to_string().contains("bootstrap"), "{}", tracked.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_placement_from_triage_names_who_placed_it() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let mut placed = envelope("routing", &assigned(&receipt, "agency-a"));
    placed.payload["rule_id"] = json!("manual");
    placed.payload["assigned_by"] = json!("bootstrap");
    assert_eq!(apply(&app, &placed).await, InboxOutcome::Applied);
    let staff = get_message(&app, &code, ADMIN_KEY).await.body;
    let steps = actors(&staff);
    let bootstrap = json!({ "kind": "api_key", "id": "bootstrap", "name": "bootstrap key" });
    assert_eq!(steps[1], ("assigned".to_string(), bootstrap), "{staff}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_sees_the_actors_of_its_own_steps_only() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let agency_a = agency_key(&app, "agency-a");
    assign(&app, &receipt, "agency-a").await;
    let ack = send(app.client.post(app.url(&format!("{MESSAGES}/{code}/acknowledgement"))).bearer_auth(&agency_a));
    assert_eq!(ack.await.status, 200);
    let view = get_message(&app, &code, &agency_a).await.body;
    let steps = actors(&view);
    assert_eq!((steps[0].0.as_str(), &steps[0].1), ("received", &Value::Null), "the call centre's key: {view}");
    assert_eq!((steps[1].0.as_str(), &steps[1].1), ("assigned", &Value::Null), "{view}");
    assert_eq!(steps[2].0, "acknowledged");
    assert_eq!(steps[2].1["kind"], "api_key", "its own step: {view}");

    // Open311 readers never see who did what either.
    let mut public = a_message();
    public["reporter"]["confidential"] = json!(false);
    public["kind"] = json!("complaint");
    public["channel"] = json!("open311");
    let posted = post_message(&app, ADMIN_KEY, &public).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let open311 = fixtures::api_key(&app, &[Scope::Open311], None);
    let path = format!("/open311/v2/requests/{}.json", text(&posted.body["tracking_code"]));
    let read = send(app.client.get(app.url(&path)).query(&[("api_key", &open311)])).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(!read.body.to_string().contains("actor") && !read.body.to_string().contains("bootstrap"), "{}", read.body);

    // A request an Open311 app posts records the app's key as the actor.
    let form = [
        ("api_key", open311.as_str()),
        ("service_code", CATEGORY),
        ("address_string", "تهران، خیابان ولیعصر"),
        ("description", "چاله در خیابان"),
        ("attribute[province]", "tehran"),
    ];
    let created = send(app.client.post(app.url("/open311/v2/requests.json")).form(&form)).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let code = text(&created.body[0]["service_request_id"]);
    let staff = get_message(&app, &code, ADMIN_KEY).await.body;
    let received = &staff["timeline"][0];
    assert_eq!((&received["transition"], &received["actor"]["kind"]), (&json!("received"), &json!("api_key")));
    assert_eq!(received["actor"]["name"], "test key", "{staff}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assigned_agency_answers_once() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let unassigned = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let (agency_a, agency_b) = (agency_key(&app, "agency-a"), agency_key(&app, "agency-b"));
    assign(&app, &receipt, "agency-a").await;
    let answer = json!({ "outcome": "resolved", "body": "بازدید انجام شد و ساخت و ساز متوقف شد" });

    assert_problem(&respond(&app, &code, &agency_b, &answer).await, 404, "not-found", &[]);
    assert_problem(&respond(&app, &code, ADMIN_KEY, &answer).await, 403, "forbidden", &[]);
    let bad_outcome = json!({ "outcome": "fixed", "body": "done" });
    assert_problem(&respond(&app, &code, &agency_a, &bad_outcome).await, 422, "validation", &["outcome"]);
    let empty = json!({ "outcome": " ", "body": "   " });
    assert_problem(&respond(&app, &code, &agency_a, &empty).await, 422, "validation", &["outcome", "body"]);
    let unknown_field = json!({ "outcome": "resolved", "body": "done", "score": 5 });
    assert_problem(&respond(&app, &code, &agency_a, &unknown_field).await, 422, "validation", &["score"]);
    assert!(app.outbox_events("intake", "message.responded").is_empty());

    let created = respond(&app, &code, &agency_a, &answer).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let response_id = text(&created.body["id"]);
    assert_eq!(created.body["outcome"], "resolved");
    assert_eq!(created.body["body"], answer["body"]);
    let responded_at: DateTime<Utc> = text(&created.body["responded_at"]).parse().unwrap();

    let view = get_message(&app, &code, &agency_a).await.body;
    assert_eq!(view["status"], "responded");
    assert_eq!(view["responses"], json!([created.body]));

    let events = app.outbox_events("intake", "message.responded");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].decode::<MessageResponded>().unwrap(),
        // Resolved, as the fixture.
        MessageResponded {
            tracking_code: code.clone(),
            response_id,
            ..fixtures::message_responded(&text(&receipt["id"]), "agency-a", responded_at)
        }
    );

    assert_problem(&respond(&app, &code, &agency_a, &answer).await, 409, "conflict", &[]);
    // An assignment arriving late never moves an answered message back.
    assert_eq!(apply(&app, &envelope("routing", &assigned(&receipt, "agency-a"))).await, InboxOutcome::Applied);
    assert_eq!(get_message(&app, &code, ADMIN_KEY).await.body["status"], "responded");

    let not_yet = text(&unassigned["tracking_code"]);
    assert_problem(&respond(&app, &not_yet, &agency_a, &answer).await, 404, "not-found", &[]);
    let misread = with_wrong_check_digit(&code);
    assert_problem(&respond(&app, &misread, &agency_a, &answer).await, 422, "validation", &["tracking_code"]);
    assert_eq!(app.outbox_events("intake", "message.responded").len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assignment_published_on_the_bus_reaches_the_read_model() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let bus = app.host.as_ref().map(|h| h.bus.clone()).unwrap();
    bus.publish(&envelope("routing", &assigned(&receipt, "agency-a"))).await.unwrap();

    let (app_ref, code_ref) = (&app, code.as_str());
    let view = eventually(Duration::from_secs(60), "the assignment in intake's read model", move || async move {
        let reply = get_message(app_ref, code_ref, ADMIN_KEY).await;
        (reply.body["status"] == "assigned").then_some(reply.body)
    })
    .await;
    assert_eq!(view["assigned_agency"], json!({ "id": "agency-a", "name": agency_name("agency-a") }));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Categories and API keys

#[tokio::test(flavor = "multi_thread")]
async fn categories_list_only_the_active_ones() {
    let mut app = start().await;
    put_category(&app, "health.pharmacy", "Pharmacies", true).await;
    put_category(&app, "tenders.retired", "Retired tenders", false).await;
    let agency = agency_key(&app, "agency-a");

    let entry = |code: &str, name_en: &str| {
        json!({
            "code": code,
            "name_fa": "تخلفات ساختمانی",
            "name_en": name_en,
            "kinds": ["complaint", "violation_report"],
            "active": true,
        })
    };
    let (status, listed) = app.get("/api/v1/categories", &agency).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed,
        json!({ "categories": [entry("health.pharmacy", "Pharmacies"), entry(CATEGORY, "Building violations")] })
    );

    // An inactive category takes no messages.
    let mut retired = a_message();
    retired["category"] = json!("tenders.retired");
    assert_problem(&post_message(&app, ADMIN_KEY, &retired).await, 422, "validation", &["category"]);

    // Deactivating one removes it from the list.
    put_category(&app, "health.pharmacy", "Pharmacies", false).await;
    let (_, listed) = app.get("/api/v1/categories", ADMIN_KEY).await;
    assert_eq!(listed, json!({ "categories": [entry(CATEGORY, "Building violations")] }));

    let url = app.url("/api/v1/categories/Bad_Code");
    let invalid = send(app.client.put(url).bearer_auth(ADMIN_KEY).json(&json!({ "kinds": ["rumour"] }))).await;
    assert_problem(&invalid, 422, "validation", &["code", "name_fa", "name_en", "kinds"]);
    let url = app.url("/api/v1/categories/health.pharmacy");
    let not_admin = send(
        app.client.put(url).bearer_auth(&agency).json(&json!({"name_fa": "x", "name_en": "x", "kinds": ["complaint"]})),
    )
    .await;
    assert_problem(&not_admin, 403, "forbidden", &[]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_created_listed_and_revoked() {
    let mut app = start().await;
    let request = json!({ "name": "agency-a system", "scopes": ["agency"], "agency_id": "agency-a" });
    let (status, created) = app.post("/api/v1/api-keys", ADMIN_KEY, &request).await;
    assert_eq!(status, 201, "{created}");
    let (id, secret) = (text(&created["id"]), text(&created["secret"]));
    assert!(id.starts_with("key_"), "{id}");
    assert!(secret.starts_with("nzr_") && secret.len() == 44, "{secret}");
    assert_eq!(created["scopes"], json!(["agency"]));
    assert_eq!(created["agency_id"], "agency-a");

    let (status, _) = app.get("/api/v1/categories", &secret).await;
    assert_eq!(status, 200, "the new key works");

    let (status, listed) = app.get("/api/v1/api-keys", ADMIN_KEY).await;
    assert_eq!(status, 200, "{listed}");
    let keys = listed["api_keys"].as_array().unwrap();
    let mine = keys.iter().find(|k| k["id"] == json!(id)).unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert_eq!(mine["name"], "agency-a system");
    assert_eq!(mine["scopes"], json!(["agency"]));
    assert_eq!(mine["agency_id"], "agency-a");
    assert_eq!(mine["revoked_at"], Value::Null);
    for key in keys {
        assert!(key.get("secret").is_none() && key.get("secret_hash").is_none(), "{key}");
    }
    assert!(!listed.to_string().contains(&secret), "the list shows a secret: {listed}");

    // The key cannot manage keys.
    let (status, _) = app.get("/api/v1/api-keys", &secret).await;
    assert_eq!(status, 403);

    let delete =
        |key_id: &str| send(app.client.delete(app.url(&format!("/api/v1/api-keys/{key_id}"))).bearer_auth(ADMIN_KEY));
    let revoked = delete(&id).await;
    assert_eq!((revoked.status, &revoked.body), (204, &Value::Null));
    let (status, body) = app.get("/api/v1/categories", &secret).await;
    assert_eq!(status, 401, "a revoked key is refused: {body}");
    assert_problem(&delete(&id).await, 404, "not-found", &[]);
    let (_, listed) = app.get("/api/v1/api-keys", ADMIN_KEY).await;
    let mine = listed["api_keys"].as_array().unwrap().iter().find(|k| k["id"] == json!(id)).cloned().unwrap();
    assert!(mine["revoked_at"].is_string(), "{mine}");

    // Names are counted in characters: a Persian name of 60 letters is 120 bytes.
    let persian_name = "سامانهٔ پاسخگویی شهرداری منطقهٔ یک تهران — دفتر بازرسی و نظارت".to_string();
    assert!(persian_name.chars().count() <= 100 && persian_name.len() > 100);
    let request = json!({ "name": persian_name, "scopes": ["agency"], "agency_id": "agency-a" });
    let (status, created) = app.post("/api/v1/api-keys", ADMIN_KEY, &request).await;
    assert_eq!((status, &created["agency_id"]), (201, &json!("agency-a")), "{created}");

    // A counterpart unit's key is bound to its unit, and the committee's to nothing.
    let request = json!({ "name": "urban planning unit", "scopes": ["counterpart_unit"], "unit_id": "inspection-urban-planning" });
    let (status, created) = app.post("/api/v1/api-keys", ADMIN_KEY, &request).await;
    assert_eq!(
        (status, &created["unit_id"], &created["agency_id"]),
        (201, &json!("inspection-urban-planning"), &Value::Null),
        "{created}"
    );
    let unit_key_id = text(&created["id"]);
    let request = json!({ "name": "compliance committee", "scopes": ["compliance_committee"] });
    let (status, created) = app.post("/api/v1/api-keys", ADMIN_KEY, &request).await;
    assert_eq!((status, &created["unit_id"]), (201, &Value::Null), "{created}");
    let (_, listed) = app.get("/api/v1/api-keys", ADMIN_KEY).await;
    let unit = listed["api_keys"].as_array().unwrap().iter().find(|k| k["id"] == json!(unit_key_id)).cloned().unwrap();
    assert_eq!(
        (unit["scopes"].clone(), unit["unit_id"].clone()),
        (json!(["counterpart_unit"]), json!("inspection-urban-planning"))
    );

    for (request, field) in [
        (json!({ "name": "x".repeat(101), "scopes": ["admin"] }), "name"),
        (json!({ "name": "x", "scopes": ["agency"] }), "agency_id"),
        (json!({ "name": "x", "scopes": ["call_center"], "agency_id": "agency-a" }), "agency_id"),
        (json!({ "name": "x", "scopes": ["root"] }), "scopes"),
        (json!({ "name": " ", "scopes": ["admin"] }), "name"),
        (json!({ "name": "x", "scopes": ["counterpart_unit"] }), "unit_id"),
        (json!({ "name": "x", "scopes": ["supervisor"], "unit_id": "inspection-administrative" }), "unit_id"),
        (json!({ "name": "x", "scopes": ["counterpart_unit"], "unit_id": "Bad Unit" }), "unit_id"),
        (json!({ "name": "x", "scopes": ["agency", "compliance_committee"], "agency_id": "agency-a" }), "scopes"),
    ] {
        let reply = send(app.client.post(app.url("/api/v1/api-keys")).bearer_auth(ADMIN_KEY).json(&request)).await;
        assert_problem(&reply, 422, "validation", &[field]);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assigned_agency_acknowledges_a_message_once() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let path = format!("{MESSAGES}/{code}/acknowledgement");
    let (agency_a, agency_b) = (agency_key(&app, "agency-a"), agency_key(&app, "agency-b"));
    let (status, body) = app.post(&path, &agency_a, &json!({})).await;
    assert_eq!(status, 404, "not assigned yet, so not this agency's: {body}");

    assign(&app, &receipt, "agency-a").await;
    let (status, body) = app.post(&path, &agency_b, &json!({})).await;
    assert_eq!(status, 404, "another agency's message does not exist for it: {body}");
    let (status, body) = app.post(&path, ADMIN_KEY, &json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, first) = app.post(&path, &agency_a, &json!({})).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = app.post(&path, &agency_a, &json!({})).await;
    assert_eq!((status, &again["acknowledged_at"]), (200, &first["acknowledged_at"]), "a repeat keeps the first");

    let events = app.outbox_events("intake", "message.acknowledged");
    assert_eq!(events.len(), 1, "announced once");
    let event: MessageAcknowledged = events[0].decode().unwrap();
    assert_eq!((event.tracking_code.as_str(), event.agency_id.as_str()), (code.as_str(), "agency-a"));
    assert_eq!(json!(event.acknowledged_at), first["acknowledged_at"]);
    let view = get_message(&app, &code, &agency_a).await;
    assert_eq!(view.body["acknowledged_at"], first["acknowledged_at"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledgements_sent_at_once_all_answer_the_first_instant() {
    let mut app = start().await;
    let receipt = submit(&app).await;
    let code = text(&receipt["tracking_code"]);
    let path = format!("{MESSAGES}/{code}/acknowledgement");
    let agency_a = agency_key(&app, "agency-a");
    assign(&app, &receipt, "agency-a").await;
    let empty = json!({});
    let attempts = (0..8).map(|_| app.post(&path, &agency_a, &empty));
    let answers = futures_util::future::join_all(attempts).await;
    let events = app.outbox_events("intake", "message.acknowledged");
    assert_eq!(events.len(), 1, "announced once");
    let event: MessageAcknowledged = events[0].decode().unwrap();
    for (status, body) in answers {
        assert_eq!((status, &body["acknowledged_at"]), (200, &json!(event.acknowledged_at)), "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn persian_text_is_stored_with_persian_letters() {
    let mut app = start().await;
    let mut message = a_message();
    // Typed on an Arabic layout: Arabic yeh and kaf; the half-space is meant.
    message["body"] = json!("ساختمان يك طبقه اضافه كرده\u{200C}اند");
    message["city"] = json!("تهران");
    let reply = post_message(&app, ADMIN_KEY, &message).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let view = get_message(&app, &text(&reply.body["tracking_code"]), ADMIN_KEY).await;
    assert_eq!(view.body["body"], "ساختمان یک طبقه اضافه کرده\u{200C}اند");
    app.stop().await;
}

/// Rows written before identities were sealed are sealed by `reseal_all` (run by `nazer
/// migrate` and `nazer up`); after a rotation it reseals under the new key, once.
#[tokio::test(flavor = "multi_thread")]
async fn reporter_identities_are_sealed_and_resealed_after_a_rotation() {
    use nazer_intake::sealing::reseal_all;
    let mut app = start().await;
    let receipt = submit(&app).await;
    let id = text(&receipt["id"]);
    let plain = id.clone();
    // As an older version stored it: in plaintext.
    app.db()
        .run(move |conn| {
            diesel::update(reporters::table.find(&plain))
                .set((reporters::full_name.eq(Some("Reza Citizen")), reporters::mobile.eq(Some("09121234567"))))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let stored = |app: &TestApp| {
        let mut conn = app.db().get().unwrap();
        reporters::table
            .find(&id)
            .select((reporters::full_name, reporters::mobile))
            .first::<(Option<String>, Option<String>)>(&mut *conn)
            .unwrap()
    };
    let old = ReporterKeys::parse(nazer_shared::testing::REPORTER_KEYS).unwrap();
    let reseal = |app: &TestApp, keys: &ReporterKeys| {
        let mut conn = app.db().get().unwrap();
        reseal_all(&mut conn, keys).unwrap().rewritten
    };
    assert_eq!(reseal(&app, &old), 1);
    let (name, mobile) = stored(&app);
    assert_eq!(old.open(&id, "full_name", name.as_deref().unwrap()).unwrap(), "Reza Citizen");
    assert_eq!(old.open(&id, "mobile", mobile.as_deref().unwrap()).unwrap(), "09121234567");
    assert_eq!(reseal(&app, &old), 0, "nothing left to seal");

    let rotated =
        ReporterKeys::parse(&format!("next:{},{}", "ff".repeat(32), nazer_shared::testing::REPORTER_KEYS)).unwrap();
    assert_eq!(reseal(&app, &rotated), 1);
    let (name, _) = stored(&app);
    assert!(name.as_deref().unwrap().starts_with("v1:next:"));
    let only_new = ReporterKeys::parse(&format!("next:{}", "ff".repeat(32))).unwrap();
    assert_eq!(
        only_new.open(&id, "full_name", name.as_deref().unwrap()).unwrap(),
        "Reza Citizen",
        "the old key can go"
    );
    // A key dropped too early: the row is reported by message id, left as it is, and the
    // rest of the reseal (and the start-up that runs it) goes on.
    let unrelated = ReporterKeys::parse(&format!("other:{}", "11".repeat(32))).unwrap();
    let outcome = reseal_all(&mut app.db().get().unwrap(), &unrelated).unwrap();
    assert_eq!((outcome.rewritten, outcome.unreadable), (0, vec![id.clone()]));
    assert_eq!(stored(&app).0, name, "left as it was");
    app.stop().await;
}

/// Key ids may hold `_`, a LIKE wildcard: rows sealed under `nazer-2` are not current for
/// `nazer_2`, so rotating to `nazer_2` reseals them and `nazer-2` can then be dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_between_ids_that_differ_by_an_underscore_reseals_every_row() {
    use nazer_intake::sealing::reseal_all;
    let mut app = start().await;
    let id = text(&submit(&app).await["id"]);
    let dash = format!("nazer-2:{}", "aa".repeat(32));
    let underscore = format!("nazer_2:{}", "bb".repeat(32));
    let reseal = |app: &TestApp, keys: &str| {
        let keys = ReporterKeys::parse(keys).unwrap();
        reseal_all(&mut app.db().get().unwrap(), &keys).unwrap()
    };
    let stored = |app: &TestApp| {
        let mut conn = app.db().get().unwrap();
        let (full_name, national_id, mobile, email, tracking_pin) = reporters::table
            .find(&id)
            .select((
                reporters::full_name,
                reporters::national_id,
                reporters::mobile,
                reporters::email,
                reporters::tracking_pin,
            ))
            .first::<(Option<String>, Option<String>, Option<String>, Option<String>, Option<String>)>(&mut *conn)
            .unwrap();
        ["full_name", "national_id", "mobile", "email", "tracking_pin"]
            .into_iter()
            .zip([full_name, national_id, mobile, email, tracking_pin])
            .filter_map(|(field, value)| value.map(|value| (field, value)))
            .collect::<Vec<_>>()
    };
    let testing = nazer_shared::testing::REPORTER_KEYS;
    assert_eq!(reseal(&app, &format!("{dash},{testing}")).rewritten, 1);
    assert!(stored(&app).iter().all(|(_, value)| value.starts_with("v1:nazer-2:")), "{:?}", stored(&app));

    let rotated = reseal(&app, &format!("{underscore},{dash}"));
    assert_eq!((rotated.rewritten, rotated.unreadable), (1, vec![]), "nazer-2 rows are not nazer_2's");
    assert_eq!(reseal(&app, &format!("{underscore},{dash}")).rewritten, 0, "once");
    let only_new = ReporterKeys::parse(&underscore).unwrap();
    let fields = stored(&app);
    assert!(fields.iter().any(|(field, _)| *field == "full_name"), "{fields:?}");
    for (field, value) in &fields {
        assert!(value.starts_with("v1:nazer_2:"), "{field}: {value}");
        assert!(only_new.open(&id, field, value).is_ok(), "{field} opens with nazer_2 alone");
    }
    assert_eq!(reseal(&app, &underscore).unreadable, Vec::<String>::new(), "nazer-2 can go");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_through_a_stable_order_with_cursors_and_refuse_bad_filters() {
    let mut app = start().await;
    let mut posted = Vec::new();
    for _ in 0..5 {
        posted.push(text(&submit(&app).await["tracking_code"]));
    }
    // Oldest first, two at a time: every message once, in posting order; and the reverse.
    let list = ListContract { app: &app, path: MESSAGES, key: ADMIN_KEY, items: ("messages", "tracking_code") };
    assert_eq!(list.ids("sort=received_at&status=received&province=tehran").await, posted);
    list.sorts_both_ways("received_at", &posted).await;
    // Newest first by default.
    let (_, body) = app.get(&format!("{MESSAGES}?limit=1"), ADMIN_KEY).await;
    assert_eq!(body["messages"][0]["tracking_code"], posted[4].as_str(), "{body}");
    // Filters that match nothing, and a period in Solar Hijri days.
    let (_, body) = app.get(&format!("{MESSAGES}?province=isfahan"), ADMIN_KEY).await;
    assert_eq!(body["messages"], json!([]), "{body}");
    let (_, body) = app.get(&format!("{MESSAGES}?from=1300-01-01&to=1300-01-02"), ADMIN_KEY).await;
    assert_eq!(body["messages"], json!([]), "{body}");
    list.refuses_bad_paging(&[("status=lost", "status"), ("province=atlantis", "province"), ("kind=rumour", "kind")])
        .await;
    app.stop().await;
}
