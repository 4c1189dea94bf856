//! Routing against a real host: the admin API (agencies, rules, keys and scopes), the choice
//! of the most specific rule with its `message.assigned` / `message.needs_triage` event, and
//! the 1888 triage queue. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_routing::agency::AgencyDraft;
use nazer_routing::schema::assignments;
use nazer_routing::store;
use nazer_shared::db::DbError;
use nazer_shared::events::{Envelope, MessageAssigned, MessageNeedsTriage, MessageReceived};
use nazer_shared::http::Scope;
use nazer_shared::schema::outbox;
use nazer_shared::testing::fixtures::{api_key, message_received, rfc3339, write};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually, problem_fields};
use serde_json::{Value, json};

const CATEGORY: &str = "municipal.building";

fn received(message_id: &str, category: &str, province: &str, city: Option<&str>) -> MessageReceived {
    located(message_id, category, &[province], city)
}

/// A message located along `area_path` (province first, deepest last).
fn located(message_id: &str, category: &str, area_path: &[&str], city: Option<&str>) -> MessageReceived {
    MessageReceived {
        message_id: message_id.into(),
        category: category.into(),
        province: area_path[0].into(),
        city: city.map(str::to_string),
        area: area_path.last().map(|a| a.to_string()),
        area_path: area_path.iter().map(|a| a.to_string()).collect(),
        ..message_received()
    }
}

fn outbox_count(app: &TestApp) -> i64 {
    let mut conn = app.db().get().unwrap();
    outbox::table.count().get_result(&mut *conn).unwrap()
}

/// A decision taken for a message, as stored.
#[derive(Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = assignments)]
struct Decision {
    state: String,
    agency_id: Option<String>,
    rule_id: Option<String>,
}

fn decision(state: store::AssignmentState, agency_id: Option<&str>, rule_id: Option<&str>) -> Decision {
    Decision {
        state: state.to_string(),
        agency_id: agency_id.map(str::to_string),
        rule_id: rule_id.map(str::to_string),
    }
}

/// Every decision taken for `message_id`.
fn decisions(app: &TestApp, message_id: &str) -> Vec<Decision> {
    let mut conn = app.db().get().unwrap();
    assignments::table
        .filter(assignments::message_id.eq(message_id))
        .select(Decision::as_select())
        .load(&mut *conn)
        .unwrap()
}

fn route(app: &TestApp, message: &MessageReceived, now: DateTime<Utc>) {
    write(app, |conn| store::route(conn, message, now));
}

fn assert_invalid(response: (u16, Value), field: &str) {
    let (status, body) = response;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problem_fields(&body), vec![field.to_string()], "{body}");
}

async fn create_agency(app: &TestApp, id: &str, name: &str, parent: Option<&str>) -> Value {
    let (status, body) =
        app.post("/api/v1/agencies", ADMIN_KEY, &json!({ "id": id, "name": name, "parent_id": parent })).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn create_rule(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/api/v1/routing-rules", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_are_validated_and_unique() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;

    let created = create_agency(&app, "tehran-governorate", "استانداری تهران", None).await;
    assert_eq!(created["id"], "tehran-governorate");
    assert_eq!(created["name"], "استانداری تهران");
    assert_eq!(created["parent_id"], Value::Null);
    let child = create_agency(&app, "tehran-municipality", "شهرداری تهران", Some("tehran-governorate")).await;
    assert_eq!(child["parent_id"], "tehran-governorate");

    let (status, body) =
        app.post("/api/v1/agencies", ADMIN_KEY, &json!({ "id": "tehran-governorate", "name": "دوباره" })).await;
    assert_eq!(status, 409, "{body}");

    assert_invalid(
        app.post("/api/v1/agencies", ADMIN_KEY, &json!({ "id": "orphan", "name": "بی‌پدر", "parent_id": "nowhere" }))
            .await,
        "parent_id",
    );
    assert_invalid(
        app.post("/api/v1/agencies", ADMIN_KEY, &json!({ "id": "Tehran Municipality!", "name": "شهرداری" })).await,
        "id",
    );
    assert_invalid(app.post("/api/v1/agencies", ADMIN_KEY, &json!({ "id": "no-name" })).await, "name");

    let (status, body) = app.get("/api/v1/agencies", ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["agencies"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["tehran-governorate", "tehran-municipality"], "refused agencies are not stored");

    let (status, body) = app.get("/api/v1/agencies/tehran-municipality", ADMIN_KEY).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("شهرداری تهران")));
    let (status, _) = app.get("/api/v1/agencies/nowhere", ADMIN_KEY).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_rules_are_validated_and_unique() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "tehran-municipality", "شهرداری تهران", None).await;

    let rule =
        create_rule(&app, json!({ "category": CATEGORY, "province": "tehran", "agency_id": "tehran-municipality" }))
            .await;
    assert_eq!(rule["category"], CATEGORY);
    assert_eq!(rule["province"], "tehran");
    assert_eq!(rule["city"], "*", "no city means every city");
    assert_eq!(rule["agency_id"], "tehran-municipality");
    assert!(rule["id"].as_str().is_some_and(|id| !id.is_empty()));

    let post = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/routing-rules", ADMIN_KEY, &body).await }
    };
    assert_invalid(
        post(json!({ "category": "utilities.water", "province": "tehran", "agency_id": "tehran-water" })).await,
        "agency_id",
    );
    assert_invalid(
        post(json!({ "category": "utilities.water", "province": "atlantis", "agency_id": "tehran-municipality" }))
            .await,
        "province",
    );
    assert_invalid(
        post(json!({ "category": "utilities.water", "city": "rey", "agency_id": "tehran-municipality" })).await,
        "city",
    );
    assert_invalid(post(json!({ "category": "Not A Code", "agency_id": "tehran-municipality" })).await, "category");

    let (status, body) =
        post(json!({ "category": CATEGORY, "province": "tehran", "agency_id": "tehran-municipality" })).await;
    assert_eq!(status, 409, "{body}");
    // Province codes are normalised before the uniqueness check.
    let (status, body) =
        post(json!({ "category": CATEGORY, "province": " Tehran ", "agency_id": "tehran-municipality" })).await;
    assert_eq!(status, 409, "{body}");
    // So are city names: they match whatever their case, so "Rey" and "rey" are one scope.
    let city_rule = create_rule(
        &app,
        json!({ "category": CATEGORY, "province": "tehran", "city": " Rey ", "agency_id": "tehran-municipality" }),
    )
    .await;
    assert_eq!(city_rule["city"], "rey");
    let (status, body) =
        post(json!({ "category": CATEGORY, "province": "tehran", "city": "rey", "agency_id": "tehran-municipality" }))
            .await;
    assert_eq!(status, 409, "a second rule for the same city: {body}");

    let (status, body) = app.get(&format!("/api/v1/routing-rules?category={CATEGORY}"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["routing_rules"].as_array().unwrap().len(), 2, "{body}");

    let path = format!("/api/v1/routing-rules/{}", city_rule["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, ADMIN_KEY).await.0, 204);
    assert_eq!(app.delete(&path, ADMIN_KEY).await.0, 404);
    let (_, body) = app.get(&format!("/api/v1/routing-rules?category={CATEGORY}"), ADMIN_KEY).await;
    assert_eq!(body["routing_rules"].as_array().unwrap().len(), 1, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_an_admin_key() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "tehran-municipality", "شهرداری تهران", None).await;
    let agency = json!({ "id": "isfahan-municipality", "name": "شهرداری اصفهان" });
    let rule = json!({ "category": CATEGORY, "province": "tehran", "agency_id": "tehran-municipality" });

    for (path, body) in [("/api/v1/agencies", &agency), ("/api/v1/routing-rules", &rule)] {
        let response = app.client.post(app.url(path)).json(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "POST {path} without a key");
        let response = app.client.post(app.url(path)).bearer_auth("nzr_not-a-real-key").json(body).send().await;
        assert_eq!(response.unwrap().status().as_u16(), 401, "POST {path} with an unknown key");
    }

    let call_center = api_key(&app, &[Scope::CallCenter], None);
    let agency_key = api_key(&app, &[Scope::Agency], Some("tehran-municipality"));
    for key in [&call_center, &agency_key] {
        let (status, body) = app.post("/api/v1/agencies", key, &agency).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app.post("/api/v1/routing-rules", key, &rule).await;
        assert_eq!(status, 403, "{body}");
    }
    // The triage queue is the 1888 desk's: open to the call centre, closed to agencies.
    let (status, body) = app.get("/api/v1/triage", &agency_key).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.get("/api/v1/triage", &call_center).await;
    assert_eq!(status, 200, "{body}");
    // Reading the agency list is open to every scope.
    let (status, body) = app.get("/api/v1/agencies", &call_center).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app.get("/api/v1/agencies", ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(body["agencies"].as_array().unwrap().len(), 1, "nothing was created by refused calls: {body}");
    let (_, body) = app.get("/api/v1/routing-rules", ADMIN_KEY).await;
    assert_eq!(body["routing_rules"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_specific_rule_decides_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "national-building", "سازمان ملی مسکن", None).await;
    create_agency(&app, "tehran-municipality", "شهرداری تهران", None).await;
    create_agency(&app, "shemiranat-municipality", "شهرداری شمیرانات", None).await;
    let national =
        create_rule(&app, json!({ "category": CATEGORY, "province": "*", "agency_id": "national-building" })).await;
    let tehran =
        create_rule(&app, json!({ "category": CATEGORY, "province": "tehran", "agency_id": "tehran-municipality" }))
            .await;
    let shemiranat = create_rule(
        &app,
        json!({ "category": CATEGORY, "province": "tehran", "city": "shemiranat",
                "agency_id": "shemiranat-municipality" }),
    )
    .await;
    // Another category's rules never decide for this one.
    create_rule(&app, json!({ "category": "utilities.water", "province": "fars", "agency_id": "tehran-municipality" }))
        .await;

    let cases = [
        (received("m-city", CATEGORY, "tehran", Some("shemiranat")), &shemiranat, "shemiranat-municipality"),
        (received("m-province", CATEGORY, "tehran", Some("rey")), &tehran, "tehran-municipality"),
        (received("m-province-no-city", CATEGORY, "tehran", None), &tehran, "tehran-municipality"),
        (received("m-national", CATEGORY, "fars", Some("shiraz")), &national, "national-building"),
    ];
    let before = outbox_count(&app);
    let now = Utc::now();
    for (message, _, _) in &cases {
        route(&app, message, now);
    }
    let assigned = app.outbox_events("routing", "message.assigned");
    assert_eq!(assigned.len(), cases.len(), "one message.assigned per routed message");
    assert_eq!(outbox_count(&app) - before, cases.len() as i64, "nothing else was written");
    for (message, rule, agency) in &cases {
        let rule_id = rule["id"].as_str().unwrap();
        assert_eq!(
            decisions(&app, &message.message_id),
            vec![decision(store::AssignmentState::Assigned, Some(agency), Some(rule_id))],
            "{}",
            message.message_id
        );
        let envelopes: Vec<&Envelope> = assigned.iter().filter(|e| e.aggregate_id == message.message_id).collect();
        assert_eq!(envelopes.len(), 1, "{}", message.message_id);
        assert_eq!(envelopes[0].event_type, "message.assigned");
        let event: MessageAssigned = envelopes[0].decode().unwrap();
        assert_eq!(event.agency_id, *agency);
        let names = [
            ("national-building", "سازمان ملی مسکن"),
            ("tehran-municipality", "شهرداری تهران"),
            ("shemiranat-municipality", "شهرداری شمیرانات"),
        ];
        let name = names.iter().find(|(id, _)| id == agency).unwrap().1;
        assert_eq!(event.agency_name, name);
        assert_eq!(event.rule_id, rule_id);
        assert_eq!((&event.priority, event.channel.as_ref()), (&message.priority, Some(&message.channel)));
        assert_eq!(event.parent_agency_id, None);
        assert_eq!(
            (&event.tracking_code, &event.kind, &event.category, &event.province, &event.city),
            (&message.tracking_code, &message.kind, &message.category, &message.province, &message.city)
        );
    }
    assert!(app.outbox_events("routing", "message.needs_triage").is_empty());

    // Routing the same message again (a redelivery that slipped past the inbox) adds nothing.
    let before = outbox_count(&app);
    for (message, _, _) in &cases {
        route(&app, message, Utc::now());
    }
    assert_eq!(outbox_count(&app), before, "routing twice writes no second event");
    for (message, _, _) in &cases {
        assert_eq!(decisions(&app, &message.message_id).len(), 1);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_rule_sends_the_message_to_triage_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "tehran-water", "آب و فاضلاب تهران", None).await;
    create_rule(&app, json!({ "category": "utilities.water", "province": "tehran", "agency_id": "tehran-water" }))
        .await;
    // A city rule never catches a message without that city.
    create_rule(
        &app,
        json!({ "category": CATEGORY, "province": "tehran", "city": "shemiranat", "agency_id": "tehran-water" }),
    )
    .await;

    let orphans = [
        received("m-other-province", "utilities.water", "fars", None),
        received("m-other-city", CATEGORY, "tehran", Some("rey")),
        received("m-unknown-category", "space.travel", "tehran", None),
    ];
    for message in &orphans {
        route(&app, message, Utc::now());
    }
    let triaged = app.outbox_events("routing", "message.needs_triage");
    assert_eq!(triaged.len(), orphans.len());
    for message in &orphans {
        assert_eq!(decisions(&app, &message.message_id), vec![decision(store::AssignmentState::Triage, None, None)]);
        let envelope = triaged.iter().find(|e| e.aggregate_id == message.message_id).unwrap();
        let event: MessageNeedsTriage = envelope.decode().unwrap();
        assert_eq!(event.message_id, message.message_id);
        assert_eq!(event.tracking_code, message.tracking_code);
        assert_eq!(
            (&event.category, &event.province, &event.city),
            (&message.category, &message.province, &message.city)
        );
        assert!(!event.reason.is_empty());
    }
    assert!(app.outbox_events("routing", "message.assigned").is_empty());

    let before = outbox_count(&app);
    for message in &orphans {
        route(&app, message, Utc::now());
    }
    assert_eq!(outbox_count(&app), before, "a message waits in triage once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_event_on_the_bus_is_routed_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "tehran-municipality", "شهرداری تهران", None).await;
    create_rule(&app, json!({ "category": CATEGORY, "province": "tehran", "agency_id": "tehran-municipality" })).await;
    let message = received("m-from-bus", CATEGORY, "tehran", None);
    let envelope = Envelope::new("intake", &message, Utc::now()).unwrap();
    let bus = app.host.as_ref().unwrap().bus.clone();
    // Delivered twice, as a broker may after a lost acknowledgement.
    bus.publish(&envelope).await.unwrap();
    bus.publish(&envelope).await.unwrap();

    eventually(Duration::from_secs(10), "the message to be assigned", || {
        let found = decisions(&app, &message.message_id);
        async move { (!found.is_empty()).then_some(()) }
    })
    .await;
    // Give a second delivery time to arrive; it must be recognised by the inbox.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(decisions(&app, &message.message_id).len(), 1);
    let assigned = app.outbox_events("routing", "message.assigned");
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].decode::<MessageAssigned>().unwrap().agency_id, "tehran-municipality");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_assigns_from_triage_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "qom-governorate", "استانداری قم", None).await;
    create_agency(&app, "qom-municipality", "شهرداری قم", Some("qom-governorate")).await;
    let message = MessageReceived {
        priority: "urgent".into(),
        channel: "web".into(),
        ..received("m-triage", CATEGORY, "qom", Some("qom"))
    };
    route(&app, &message, Utc::now());
    route(&app, &received("m-triage-2", "space.travel", "qom", None), Utc::now());

    let (status, body) = app.get("/api/v1/triage", ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    let queue = body["triage"].as_array().unwrap();
    assert_eq!(queue.len(), 2, "{body}");
    let entry = queue.iter().find(|e| e["message_id"] == "m-triage").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entry["tracking_code"], "1234567890");
    assert_eq!(entry["category"], CATEGORY);
    assert_eq!(entry["province"], "qom");
    assert_eq!(entry["city"], "qom");
    let (status, body) = app.get("/api/v1/triage?limit=1", ADMIN_KEY).await;
    assert_eq!((status, body["triage"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, body) = app.get("/api/v1/triage?limit=0", ADMIN_KEY).await;
    assert_eq!(status, 422, "{body}");

    let path = "/api/v1/triage/m-triage/assignment";
    assert_invalid(app.post(path, ADMIN_KEY, &json!({ "agency_id": "nowhere" })).await, "agency_id");
    assert_invalid(app.post(path, ADMIN_KEY, &json!({})).await, "agency_id");
    assert!(app.outbox_events("routing", "message.assigned").is_empty(), "refused assignments write nothing");

    let (status, body) = app.post(path, ADMIN_KEY, &json!({ "agency_id": "qom-municipality" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message_id"], "m-triage");
    assert_eq!(body["agency_id"], "qom-municipality");
    assert_eq!(body["agency_name"], "شهرداری قم");
    assert_eq!(body["rule_id"], store::MANUAL_RULE);
    assert_eq!(body["assigned_by"], "bootstrap", "who placed it: the caller's key, never a name");

    let assigned = app.outbox_events("routing", "message.assigned");
    assert_eq!(assigned.len(), 1);
    let event: MessageAssigned = assigned[0].decode().unwrap();
    assert_eq!(event.message_id, "m-triage");
    assert_eq!(event.rule_id, "manual");
    assert_eq!(event.agency_id, "qom-municipality");
    assert_eq!(event.agency_name, "شهرداری قم");
    assert_eq!(event.tracking_code, "1234567890");
    assert_eq!(event.city.as_deref(), Some("qom"));
    // What the deadline engine needs travels with the assignment, also from triage.
    assert_eq!((event.priority.as_str(), event.channel.as_deref()), ("urgent", Some("web")));
    assert_eq!(event.parent_agency_id.as_deref(), Some("qom-governorate"), "where level-2 warnings go");
    assert_eq!(
        decisions(&app, "m-triage"),
        vec![decision(store::AssignmentState::Assigned, Some("qom-municipality"), Some("manual"))]
    );

    let (status, body) = app.post(path, ADMIN_KEY, &json!({ "agency_id": "qom-municipality" })).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        app.post("/api/v1/triage/never-seen/assignment", ADMIN_KEY, &json!({ "agency_id": "qom-municipality" })).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(app.outbox_events("routing", "message.assigned").len(), 1, "no second assignment");

    let (_, body) = app.get("/api/v1/triage", ADMIN_KEY).await;
    let left: Vec<&str> =
        body["triage"].as_array().unwrap().iter().map(|e| e["message_id"].as_str().unwrap()).collect();
    assert_eq!(left, vec!["m-triage-2"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_assignment_takes_the_tracking_code_as_every_endpoint_does_or_the_id() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    create_agency(&app, "qom-municipality", "شهرداری قم", None).await;
    let by_code = MessageReceived { tracking_code: "4820193757".into(), ..received("m-code", CATEGORY, "qom", None) };
    let by_id = MessageReceived { tracking_code: "5930284615".into(), ..received("m-id", CATEGORY, "qom", None) };
    route(&app, &by_code, Utc::now());
    route(&app, &by_id, Utc::now());
    let to_qom = json!({ "agency_id": "qom-municipality" });

    let (status, body) = app.post("/api/v1/triage/4820193757/assignment", ADMIN_KEY, &to_qom).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["message_id"].as_str(), body["tracking_code"].as_str()), (Some("m-code"), Some("4820193757")));
    assert_eq!(
        decisions(&app, "m-code"),
        vec![decision(store::AssignmentState::Assigned, Some("qom-municipality"), Some("manual"))]
    );
    // Placed once: the code names a message no longer waiting.
    let (status, body) = app.post("/api/v1/triage/4820193757/assignment", ADMIN_KEY, &to_qom).await;
    assert_eq!(status, 404, "{body}");

    // The internal id still works, for existing clients.
    let (status, body) = app.post("/api/v1/triage/m-id/assignment", ADMIN_KEY, &to_qom).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message_id"], "m-id");
    assert_eq!(app.outbox_events("routing", "message.assigned").len(), 2);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The triage queue in pages

const TRIAGE: &str = "/api/v1/triage";

fn triage_list<'a>(app: &'a TestApp, key: &'a str) -> ListContract<'a> {
    ListContract { app, path: TRIAGE, key, items: ("triage", "message_id") }
}

/// A message waiting in triage: when it was queued, its id, category, province and flag.
type Queued = (DateTime<Utc>, String, &'static str, &'static str, bool);

fn ids_of(queue: &[Queued], keep: impl Fn(&Queued) -> bool) -> Vec<String> {
    queue.iter().filter(|q| keep(q)).map(|q| q.1.clone()).collect()
}

/// Seven messages no rule routes, some queued at the same instant (the id breaks the tie), two
/// flagged for a supervisor; oldest first.
fn queue_many(app: &TestApp, base: DateTime<Utc>) -> Vec<Queued> {
    let plan: [(i64, &str, &str, bool); 7] = [
        (0, CATEGORY, "tehran", false),
        (10, "space.travel", "qom", true),
        (10, CATEGORY, "qom", false),
        (10, CATEGORY, "tehran", false),
        (20, "space.travel", "tehran", false),
        (30, CATEGORY, "tehran", true),
        (40, CATEGORY, "qom", false),
    ];
    let mut queued = Vec::new();
    for (seconds, category, province, flagged) in plan {
        let id = uuid::Uuid::now_v7().to_string();
        let at = base + chrono::Duration::seconds(seconds);
        route(app, &received(&id, category, province, None), at);
        if flagged {
            let target = assignments::table.find(id.clone());
            write(app, |conn| {
                Ok::<_, DbError>(diesel::update(target).set(assignments::needs_supervisor.eq(true)).execute(conn)?)
            });
        }
        queued.push((at, id, category, province, flagged));
    }
    queued.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    queued
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triage_queue_pages_through_a_stable_order_in_either_direction() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let base = DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456Z").unwrap().with_timezone(&Utc);
    let queue = queue_many(&app, base);
    let oldest_first = ids_of(&queue, |_| true);
    let call_center = api_key(&app, &[Scope::CallCenter], None);

    let triage = triage_list(&app, ADMIN_KEY);

    // Oldest first by default (a work queue), two at a time: every message once, none twice.
    assert_eq!(triage.ids("").await, oldest_first);
    assert_eq!(triage_list(&app, &call_center).ids("sort=queued_at").await, oldest_first);
    triage.sorts_both_ways("queued_at", &oldest_first).await;
    let (status, body) = app.get(&format!("{TRIAGE}?limit=7"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["triage"].as_array().map(Vec::len), &body["next_cursor"]), (Some(7), &Value::Null), "{body}");

    // Filters page too.
    for (query, expected) in [
        ("needs_supervisor=true", ids_of(&queue, |q| q.4)),
        ("needs_supervisor=false", ids_of(&queue, |q| !q.4)),
        ("province=tehran", ids_of(&queue, |q| q.3 == "tehran")),
        ("category=municipal.building&province=qom", ids_of(&queue, |q| q.2 == CATEGORY && q.3 == "qom")),
    ] {
        assert_eq!(triage.ids(query).await, expected, "{query}");
    }
    let (from, to) = (base + chrono::Duration::seconds(10), base + chrono::Duration::seconds(30));
    assert_eq!(
        triage.ids(&format!("sort=-queued_at&from={}&to={}", rfc3339(from), rfc3339(to))).await,
        ids_of(&queue, |q| q.0 >= from && q.0 < to).into_iter().rev().collect::<Vec<_>>(),
        "from is inclusive, to exclusive"
    );
    // 2026-11-29 is 1405-09-08 in Tehran: the whole day, in either calendar.
    triage.whole_days(("1405-09-08", "2026-11-29"), "1405-09-09", 7).await;
    for query in ["to=1405-09-07", "category=utilities.water", "province=isfahan"] {
        assert_eq!(triage.count(query).await, 0, "{query}");
    }

    // A message placed from triage leaves the queue; paging goes on over the rest.
    let placed = &queue[2].1;
    write(&app, |conn| {
        Ok::<_, DbError>(
            diesel::update(assignments::table.find(placed.clone()))
                .set(assignments::state.eq(store::AssignmentState::Assigned.as_str()))
                .execute(conn)?,
        )
    });
    let rest: Vec<String> = oldest_first.iter().filter(|id| *id != placed).cloned().collect();
    assert_eq!(triage.ids("").await, rest);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_triage_paging_and_filters_are_refused_naming_the_field() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let triage = triage_list(&app, ADMIN_KEY);
    triage
        .refuses_bad_paging(&[
            ("sort=-received_at", "sort"),
            ("needs_supervisor=maybe", "needs_supervisor"),
            ("province=atlantis", "province"),
            ("category=Not%20A%20Code", "category"),
            ("page=2", "page"),
        ])
        .await;
    let body = triage.refuses("sort=size", &["sort"]).await;
    assert!(body["errors"][0]["problem"].as_str().is_some_and(|p| p.contains("oldest first, the default")), "{body}");
    // Every bad field is named at once, in the order the checks run.
    triage.refuses("cursor=abc&sort=size", &["sort", "cursor"]).await;
    // A cursor whose instant no backend stores (5001 BC is before PostgreSQL's first day, year
    // 11476 after the year 9999 both backends keep) is as malformed as any other.
    for micros in ["-220000000000000000", "300000000000000000"] {
        triage.refuses(&format!("cursor={micros}_01a22750-dc1b-7267-b816-dfb7dae0045e"), &["cursor"]).await;
    }
    // A Solar Hijri year inside an instant is not read as a Gregorian one: the day alone is.
    for (query, field) in [("from=1405-09-17T00:00:00%2B03:30", "from"), ("to=1405-09-17T00:00:00Z", "to")] {
        let body = triage.refuses(query, &[field]).await;
        let problem = body["errors"][0]["problem"].as_str().unwrap_or_default();
        assert!(problem.contains("write a Solar Hijri date as the day alone, e.g. 1405-09-17"), "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_agencies_and_rules_are_seeded_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let rule = |category, area, agency_id| store::NewRule {
        category,
        area,
        province: None,
        city: nazer_routing::ANY,
        agency_id,
    };
    let draft = |id: &str, name: &str, parent: Option<&str>, areas: &[&str]| {
        let areas = areas.iter().map(|a| a.to_string()).collect();
        AgencyDraft::checked(id, name, parent, areas).unwrap_or_else(|e| panic!("{e:?}"))
    };
    // As `nazer import` loads reference data: upserted, so loading it again changes nothing.
    let seed = |conn: &mut nazer_shared::db::DbConnection| -> Result<(), nazer_shared::db::DbError> {
        let now = Utc::now();
        let refused = |e: &dyn std::fmt::Display| nazer_shared::db::DbError::Refused(e.to_string());
        store::put_agency(conn, &draft("tehran-municipality", "شهرداری تهران", None, &[]), now)
            .map_err(|e| refused(&e))?;
        let district = draft("district-municipality", "شهرداری منطقه", Some("tehran-municipality"), &["tehran"]);
        store::put_agency(conn, &district, now).map_err(|e| refused(&e))?;
        store::put_rule(conn, &rule("municipal", "tehran", "district-municipality"), now).map_err(|e| refused(&e))?;
        store::put_rule(conn, &rule("municipal.building", "*", "tehran-municipality"), now).map_err(|e| refused(&e))?;
        Ok(())
    };
    write(&app, seed);
    write(&app, seed);
    let (_, body) = app.get("/api/v1/agencies", ADMIN_KEY).await;
    assert_eq!(body["agencies"].as_array().map(Vec::len), Some(2), "{body}");
    let (_, body) = app.get("/api/v1/routing-rules", ADMIN_KEY).await;
    assert_eq!(body["routing_rules"].as_array().map(Vec::len), Some(2), "{body}");
    // The province's prefix rule beats the nationwide exact one: the deeper area decides first.
    route(&app, &received("m-seeded", CATEGORY, "tehran", None), Utc::now());
    let assigned = app.outbox_events("routing", "message.assigned");
    assert_eq!(assigned[0].decode::<MessageAssigned>().unwrap().agency_id, "district-municipality");
    let mut conn = app.db().get().unwrap_or_else(|e| panic!("{e}"));
    let refused = store::put_rule(&mut conn, &rule("x", "atlantis", "tehran-municipality"), Utc::now());
    assert!(refused.is_err(), "an unknown area is refused, not seeded");
    drop(conn);
    app.stop().await;
}
