//! Areas in routing: the areas intake imports (`areas.imported`), rules of an area at any level
//! (the deepest area of a message's path decides, and a decline climbs it), the areas agencies
//! declare they serve, the triage queue by area, and events written before areas. PostgreSQL
//! and RabbitMQ when NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL are set; SQLite and the
//! in-process bus otherwise.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_routing::schema::{assignments, routing_areas};
use nazer_routing::store;
use nazer_shared::db::DbError;
use nazer_shared::events::{
    AreaSummary, AreasImported, Envelope, MessageAssigned, MessageDeclined, MessageNeedsTriage, MessageReceived,
};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, message_received, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually, problem_fields};
use serde_json::{Value, json};

const BUILDING: &str = "municipal.building";

/// Tehran province down to two sub-districts of district 5, and district 6; parents first.
const TEHRAN: [(&str, Option<&str>, &str); 6] = [
    ("tehran-county", Some("tehran"), "county"),
    ("tehran-city", Some("tehran-county"), "city"),
    ("tehran-district-05", Some("tehran-city"), "district"),
    ("tehran-district-05-1", Some("tehran-district-05"), "subdistrict"),
    ("tehran-district-05-2", Some("tehran-district-05"), "subdistrict"),
    ("tehran-district-06", Some("tehran-city"), "district"),
];

/// The path of a message in sub-district 2 of district 5.
const IN_DISTRICT_5: [&str; 5] =
    ["tehran", "tehran-county", "tehran-city", "tehran-district-05", "tehran-district-05-2"];
const IN_DISTRICT_6: [&str; 4] = ["tehran", "tehran-county", "tehran-city", "tehran-district-06"];

fn summary(code: &str, parent: Option<&str>, level: &str) -> AreaSummary {
    AreaSummary {
        code: code.into(),
        parent: parent.map(str::to_string),
        level: level.into(),
        name_fa: format!("نام {code}"),
        name_en: format!("Name of {code}"),
    }
}

fn tehran_areas() -> Vec<AreaSummary> {
    TEHRAN.iter().map(|(code, parent, level)| summary(code, *parent, level)).collect()
}

fn import_tehran(app: &TestApp) {
    write(app, |conn| store::record_areas(conn, &tehran_areas(), Utc::now()));
}

fn codes(path: &[&str]) -> Vec<String> {
    path.iter().map(|c| c.to_string()).collect()
}

fn located(message_id: &str, category: &str, area_path: &[&str]) -> MessageReceived {
    MessageReceived {
        message_id: message_id.into(),
        category: category.into(),
        province: area_path[0].into(),
        area: area_path.last().map(|a| a.to_string()),
        area_path: codes(area_path),
        ..message_received()
    }
}

fn route(app: &TestApp, message: &MessageReceived) {
    write(app, |conn| store::route(conn, message, Utc::now()));
}

fn decline(app: &TestApp, message_id: &str, agency_id: &str, count: i32) {
    let declined = MessageDeclined {
        message_id: message_id.into(),
        tracking_code: "1234567890".into(),
        agency_id: agency_id.into(),
        reason: "not ours".into(),
        decline_count: count,
        declined_at: Utc::now(),
    };
    write(app, |conn| store::reroute_declined(conn, &declined, Utc::now()));
}

/// The latest `message.assigned` routing wrote for `message_id`.
fn assigned(app: &TestApp, message_id: &str) -> MessageAssigned {
    let events = app.outbox_events("routing", "message.assigned");
    let event = events.iter().rev().find(|e| e.aggregate_id == message_id);
    event.unwrap_or_else(|| panic!("no message.assigned for {message_id}")).decode().unwrap()
}

fn triaged(app: &TestApp, message_id: &str) -> MessageNeedsTriage {
    let events = app.outbox_events("routing", "message.needs_triage");
    let event = events.iter().rev().find(|e| e.aggregate_id == message_id);
    event.unwrap_or_else(|| panic!("no message.needs_triage for {message_id}")).decode().unwrap()
}

fn stored_path(app: &TestApp, message_id: &str) -> String {
    let mut conn = app.db().get().unwrap();
    assignments::table.find(message_id).select(assignments::area_path).first(&mut *conn).unwrap()
}

#[track_caller]
fn assert_invalid(response: (u16, Value), fields: &[&str]) -> Value {
    let (status, body) = response;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problem_fields(&body), fields, "{body}");
    body
}

async fn create_agency(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/api/v1/agencies", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn create_rule(app: &TestApp, body: Value) -> Value {
    let (status, body) = app.post("/api/v1/routing-rules", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// An area as stored: (parent, level, Persian name, English name, updated at).
type StoredArea = (Option<String>, String, String, String, NaiveDateTime);

fn stored_area(app: &TestApp, code: &str) -> Option<StoredArea> {
    let mut conn = app.db().get().unwrap();
    routing_areas::table
        .find(code)
        .select((
            routing_areas::parent_code,
            routing_areas::level,
            routing_areas::name_fa,
            routing_areas::name_en,
            routing_areas::updated_at,
        ))
        .first(&mut *conn)
        .optional()
        .unwrap()
}

fn area_count(app: &TestApp) -> i64 {
    let mut conn = app.db().get().unwrap();
    routing_areas::table.count().get_result(&mut *conn).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_knows_the_provinces_and_records_imported_areas_once() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    // The 31 provinces are known from the start, each the top of its tree.
    assert_eq!(area_count(&app), 31);
    let (parent, level, name_fa, name_en, _) = stored_area(&app, "tehran").unwrap();
    assert_eq!((parent, level.as_str(), name_fa.as_str(), name_en.as_str()), (None, "province", "تهران", "Tehran"));
    let path = |app: &TestApp, code: &str| {
        let mut conn = app.db().get().unwrap();
        store::area_path(&mut conn, code).unwrap()
    };
    assert_eq!(path(&app, "qom"), Some(codes(&["qom"])));
    assert_eq!(path(&app, "tehran-district-05-2"), None);

    // An import on the bus, delivered twice as a broker may.
    let imported_at: DateTime<Utc> = Utc::now() - chrono::Duration::hours(1);
    let import = AreasImported { import_id: "import-1".into(), areas: tehran_areas(), imported_at };
    let envelope = Envelope::new("intake", &import, Utc::now()).unwrap();
    let bus = app.host.as_ref().unwrap().bus.clone();
    bus.publish(&envelope).await.unwrap();
    bus.publish(&envelope).await.unwrap();
    eventually(Duration::from_secs(10), "the areas to be recorded", || {
        let known = area_count(&app);
        async move { (known == 31 + TEHRAN.len() as i64).then_some(()) }
    })
    .await;
    assert_eq!(path(&app, "tehran-district-05-2"), Some(codes(&IN_DISTRICT_5)));
    assert_eq!(path(&app, "tehran-district-06"), Some(codes(&IN_DISTRICT_6)));
    let first = stored_area(&app, "tehran-district-05").unwrap();
    assert_eq!((first.0.as_deref(), first.1.as_str()), (Some("tehran-city"), "district"));
    assert_eq!(first.2, "نام tehran-district-05");

    // The same areas again (another import of the same file) change nothing, not even the time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    import_tehran(&app);
    assert_eq!(area_count(&app), 31 + TEHRAN.len() as i64);
    assert_eq!(stored_area(&app, "tehran-district-05"), Some(first.clone()));

    // A changed area takes its new names and parent; a province may be renamed too.
    let mut changed = vec![summary("tehran-district-05", Some("tehran-county"), "district")];
    changed[0].name_fa = "منطقه ۵".into();
    changed.push(AreaSummary { name_en: "Tehran Province".into(), ..summary("tehran", None, "province") });
    write(&app, |conn| store::record_areas(conn, &changed, Utc::now()));
    let now = stored_area(&app, "tehran-district-05").unwrap();
    assert_eq!((now.0.as_deref(), now.2.as_str()), (Some("tehran-county"), "منطقه ۵"));
    assert!(now.4 > first.4, "updated_at moves with a change");
    assert_eq!(stored_area(&app, "tehran").unwrap().3, "Tehran Province");
    assert_eq!(path(&app, "tehran-district-05-2").unwrap().len(), 4, "the sub-district follows its district");
    assert_eq!(area_count(&app), 31 + TEHRAN.len() as i64);
    // The first import, redelivered late, does not undo the later change.
    let late = AreasImported { import_id: "import-1".into(), areas: tehran_areas(), imported_at };
    write(&app, |conn| store::record_areas(conn, &late.areas, late.imported_at));
    assert_eq!(stored_area(&app, "tehran-district-05"), Some(now));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_of_a_district_routes_the_messages_whose_path_holds_it_and_a_decline_climbs_the_path() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);
    for id in ["tehran-governorate", "tehran-municipality", "district-05", "subdistrict-05-2", "national"] {
        create_agency(&app, json!({ "id": id, "name": id })).await;
    }
    let national = create_rule(&app, json!({ "category": "municipal", "agency_id": "national" })).await;
    let province =
        create_rule(&app, json!({ "category": BUILDING, "province": "tehran", "agency_id": "tehran-governorate" }))
            .await;
    // A broader category on a deeper area: the area decides first.
    let city = create_rule(
        &app,
        json!({ "category": "municipal", "area": "tehran-city", "agency_id": "tehran-municipality" }),
    )
    .await;
    let district = create_rule(
        &app,
        json!({ "category": BUILDING, "province": "Tehran", "area": " Tehran-District-05 ", "agency_id": "district-05" }),
    )
    .await;
    assert_eq!(
        (district["area"].as_str(), district["province"].as_str()),
        (Some("tehran-district-05"), Some("tehran"))
    );
    assert_eq!(district["city"], "*");
    assert_eq!((province["area"].as_str(), province["province"].as_str()), (Some("tehran"), Some("tehran")));
    assert_eq!((national["area"].as_str(), national["province"].as_str()), (Some("*"), Some("*")));
    // A rule of a sub-district for one sub-category only.
    let permits = create_rule(
        &app,
        json!({ "category": "municipal.building.permits", "area": "tehran-district-05-2", "agency_id": "subdistrict-05-2" }),
    )
    .await;

    let cases = [
        (located("m-subdistrict", BUILDING, &IN_DISTRICT_5), &district),
        (located("m-permit", "municipal.building.permits", &IN_DISTRICT_5), &permits),
        (located("m-other-subdistrict", BUILDING, &IN_DISTRICT_5[..4]), &district),
        (located("m-district-6", BUILDING, &IN_DISTRICT_6), &city),
        (located("m-parks", "municipal.parks", &IN_DISTRICT_5), &city),
        (located("m-province", BUILDING, &["tehran"]), &province),
        (located("m-qom", BUILDING, &["qom"]), &national),
    ];
    for (message, rule) in &cases {
        route(&app, message);
        let event = assigned(&app, &message.message_id);
        assert_eq!(event.rule_id, rule["id"].as_str().unwrap(), "{}", message.message_id);
        assert_eq!(event.agency_id, rule["agency_id"].as_str().unwrap(), "{}", message.message_id);
        assert_eq!(event.area_path, message.area_path, "the event carries the path");
        assert_eq!(event.province, message.province);
    }
    assert_eq!(stored_path(&app, "m-subdistrict"), serde_json::to_string(&IN_DISTRICT_5).unwrap());

    // Declined, the message goes up its path: the city's rule, then the province's, then the
    // nationwide one is left but the third decline goes to a supervisor.
    decline(&app, "m-subdistrict", "district-05", 1);
    let event = assigned(&app, "m-subdistrict");
    assert_eq!(
        (event.agency_id.as_str(), event.rule_id.as_str()),
        ("tehran-municipality", city["id"].as_str().unwrap())
    );
    assert_eq!(event.area_path, codes(&IN_DISTRICT_5), "a reroute keeps the path");
    decline(&app, "m-subdistrict", "tehran-municipality", 2);
    assert_eq!(assigned(&app, "m-subdistrict").agency_id, "tehran-governorate");
    decline(&app, "m-subdistrict", "tehran-governorate", 3);
    let event = triaged(&app, "m-subdistrict");
    assert!(event.needs_supervisor);
    assert_eq!(event.area_path, codes(&IN_DISTRICT_5));

    // The rule list, by area (exactly) and by province (the area's).
    let ids = |body: &Value| -> Vec<String> {
        body["routing_rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    let id = |rule: &Value| rule["id"].as_str().unwrap().to_string();
    for (query, expected) in [
        ("area=tehran-district-05", vec![id(&district)]),
        ("area=TEHRAN-DISTRICT-05-2", vec![id(&permits)]),
        ("area=tehran", vec![id(&province)]),
        ("area=*", vec![id(&national)]),
        ("province=tehran", vec![id(&province), id(&city), id(&district), id(&permits)]),
        ("province=*", vec![id(&national)]),
        ("area=tehran-district-06", vec![]),
    ] {
        let (status, body) = app.get(&format!("/api/v1/routing-rules?{query}"), ADMIN_KEY).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body), expected, "{query}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_of_an_unknown_or_misplaced_area_is_refused_naming_area() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);
    create_agency(&app, json!({ "id": "district-05", "name": "منطقه ۵" })).await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/routing-rules", ADMIN_KEY, &body).await }
    };

    let body = assert_invalid(
        post(json!({ "category": BUILDING, "area": "atlantis", "agency_id": "district-05" })).await,
        &["area"],
    );
    let problem = body["errors"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("`atlantis`") && problem.contains("GET /api/v1/areas"), "{body}");
    assert_invalid(
        post(json!({ "category": BUILDING, "area": "Not An Area!", "agency_id": "district-05" })).await,
        &["area"],
    );
    // The area must lie in the province named with it.
    let body = assert_invalid(
        post(json!({ "category": BUILDING, "province": "qom", "area": "tehran-district-05", "agency_id": "district-05" }))
            .await,
        &["area"],
    );
    assert!(body["errors"][0]["problem"].as_str().unwrap().contains("lies in `tehran`"), "{body}");
    assert_invalid(
        post(json!({ "category": BUILDING, "province": "tehran", "area": "qom", "agency_id": "district-05" })).await,
        &["area"],
    );
    assert_invalid(
        post(json!({ "category": BUILDING, "province": "tehran", "area": "*", "agency_id": "district-05" })).await,
        &["area"],
    );
    // Every bad field at once.
    assert_invalid(
        post(json!({ "category": BUILDING, "area": "atlantis", "agency_id": "nobody" })).await,
        &["area", "agency_id"],
    );
    assert_invalid(
        post(json!({ "category": BUILDING, "area": "*", "city": "rey", "agency_id": "district-05" })).await,
        &["city"],
    );
    let (_, body) = app.get("/api/v1/routing-rules", ADMIN_KEY).await;
    assert_eq!(body["routing_rules"], json!([]), "nothing was stored");

    // An area rule is unique per category, area and city; the province rule beside it is not the same.
    let rule = json!({ "category": BUILDING, "area": "tehran-district-05", "agency_id": "district-05" });
    create_rule(&app, rule.clone()).await;
    let (status, body) = post(rule).await;
    assert_eq!(status, 409, "{body}");
    create_rule(&app, json!({ "category": BUILDING, "province": "tehran", "agency_id": "district-05" })).await;
    create_rule(
        &app,
        json!({ "category": BUILDING, "area": "tehran-district-05", "city": "tehran", "agency_id": "district-05" }),
    )
    .await;

    // The lists refuse an unknown area as well.
    for path in
        ["/api/v1/routing-rules?area=atlantis", "/api/v1/agencies?area=atlantis", "/api/v1/triage?area=atlantis"]
    {
        assert_invalid(app.get(path, ADMIN_KEY).await, &["area"]);
    }
    assert_invalid(app.get("/api/v1/routing-rules?area=atlantis&sort=size", ADMIN_KEY).await, &["area", "sort"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_declare_the_areas_they_serve() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);

    let governorate =
        create_agency(&app, json!({ "id": "tehran-governorate", "name": "استانداری" , "areas": ["tehran"] })).await;
    assert_eq!(governorate["areas"], json!(["tehran"]));
    let district = create_agency(
        &app,
        json!({ "id": "district-05", "name": "منطقه ۵", "parent_id": "tehran-governorate",
                "areas": ["tehran-district-05-2", " Tehran-District-05 "] }),
    )
    .await;
    assert_eq!(district["areas"], json!(["tehran-district-05", "tehran-district-05-2"]), "in code order");
    let none = create_agency(&app, json!({ "id": "nationwide", "name": "ملی", "areas": null })).await;
    assert_eq!(none["areas"], json!([]));
    create_agency(&app, json!({ "id": "district-06", "name": "منطقه ۶", "areas": ["tehran-district-06"] })).await;

    let post = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/agencies", ADMIN_KEY, &body).await }
    };
    let body = assert_invalid(
        post(json!({ "id": "x", "name": "x", "areas": ["tehran", "atlantis", "mars"] })).await,
        &["areas[1]", "areas[2]"],
    );
    assert!(body["errors"][0]["problem"].as_str().unwrap().contains("GET /api/v1/areas"), "{body}");
    assert_invalid(post(json!({ "id": "x", "name": "x", "areas": ["tehran", "TEHRAN"] })).await, &["areas[1]"]);
    assert_invalid(post(json!({ "id": "x", "name": "x", "areas": [""] })).await, &["areas[0]"]);
    assert_invalid(
        post(json!({ "id": "x", "name": "x", "parent_id": "nobody", "areas": ["atlantis"] })).await,
        &["parent_id", "areas[0]"],
    );
    let many: Vec<String> = (0..501).map(|i| format!("area-{i}")).collect();
    assert_eq!(problem_fields(&post(json!({ "id": "x", "name": "x", "areas": many })).await.1)[0], "areas");
    let (status, _) = app.get("/api/v1/agencies/x", ADMIN_KEY).await;
    assert_eq!(status, 404, "nothing was stored");

    // The agency view and the list show the areas.
    let (status, body) = app.get("/api/v1/agencies/district-05", ADMIN_KEY).await;
    assert_eq!((status, &body["areas"]), (200, &json!(["tehran-district-05", "tehran-district-05-2"])), "{body}");
    let (_, body) = app.get("/api/v1/agencies", ADMIN_KEY).await;
    let listed: Vec<(&str, &Value)> =
        body["agencies"].as_array().unwrap().iter().map(|a| (a["id"].as_str().unwrap(), &a["areas"])).collect();
    assert_eq!(
        listed,
        vec![
            ("district-05", &json!(["tehran-district-05", "tehran-district-05-2"])),
            ("district-06", &json!(["tehran-district-06"])),
            ("nationwide", &json!([])),
            ("tehran-governorate", &json!(["tehran"])),
        ]
    );

    // Who serves an area: those declaring it or an area it lies in.
    let serving = |area: &str| {
        let app = &app;
        let path = format!("/api/v1/agencies?area={area}");
        async move {
            let (status, body) = app.get(&path, ADMIN_KEY).await;
            assert_eq!(status, 200, "{body}");
            body["agencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(serving("tehran-district-05-2").await, ["district-05", "tehran-governorate"]);
    assert_eq!(serving("tehran-district-05-1").await, ["district-05", "tehran-governorate"]);
    assert_eq!(serving("tehran-district-06").await, ["district-06", "tehran-governorate"]);
    assert_eq!(serving("tehran").await, ["tehran-governorate"]);
    assert_eq!(serving("qom").await, Vec::<String>::new());
    let (_, body) =
        app.get("/api/v1/agencies?area=tehran-district-05&parent_id=tehran-governorate&sort=-id", ADMIN_KEY).await;
    assert_eq!(body["agencies"][0]["id"], "district-05", "{body}");

    // Replacing the list: admins only, known areas, an empty list clears it.
    let path = "/api/v1/agencies/district-05/areas";
    let (status, body) =
        app.put(path, ADMIN_KEY, &json!({ "areas": ["tehran-district-06", "tehran-district-05"] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["id"].as_str(), &body["areas"]),
        (Some("district-05"), &json!(["tehran-district-05", "tehran-district-06"]))
    );
    assert_eq!(body["parent_id"], "tehran-governorate");
    assert_eq!(serving("tehran-district-06").await, ["district-05", "district-06", "tehran-governorate"]);
    assert_invalid(app.put(path, ADMIN_KEY, &json!({ "areas": ["tehran", "atlantis"] })).await, &["areas[1]"]);
    assert_invalid(app.put(path, ADMIN_KEY, &json!({})).await, &["areas"]);
    assert_invalid(app.put(path, ADMIN_KEY, &json!({ "areas": ["tehran"], "names": [] })).await, &["names"]);
    let (status, body) = app.put("/api/v1/agencies/nobody/areas", ADMIN_KEY, &json!({ "areas": [] })).await;
    assert_eq!(status, 404, "{body}");
    let call_center = api_key(&app, &[Scope::CallCenter], None);
    let own_key = api_key(&app, &[Scope::Agency], Some("district-05"));
    for key in [&call_center, &own_key] {
        let (status, body) = app.put(path, key, &json!({ "areas": [] })).await;
        assert_eq!(status, 403, "{body}");
    }
    let (_, body) = app.get("/api/v1/agencies/district-05", &own_key).await;
    assert_eq!(body["areas"], json!(["tehran-district-05", "tehran-district-06"]), "refused changes change nothing");
    let (status, body) = app.put(path, ADMIN_KEY, &json!({ "areas": [] })).await;
    assert_eq!((status, &body["areas"]), (200, &json!([])), "{body}");
    assert_eq!(serving("tehran-district-05-2").await, ["tehran-governorate"]);

    // The store, as the demo seeding calls it.
    let seeded = write(&app, |conn| {
        store::create_agency(conn, "district-06-water", "آب ۶", None, &codes(&["tehran-district-06"]), Utc::now())
    });
    assert_eq!(seeded.areas, codes(&["tehran-district-06"]));
    let cleared = write(&app, |conn| store::set_agency_areas(conn, "district-06-water", &[]));
    assert!(cleared.areas.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agency_is_created_or_replaced_at_its_id_never_under_itself() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);
    let put = |id: &str, body: Value| {
        let (app, path) = (&app, format!("/api/v1/agencies/{id}"));
        async move { app.put(&path, ADMIN_KEY, &body).await }
    };
    let (status, body) = put("tehran-municipality", json!({ "name": "شهرداری تهران", "areas": ["tehran-city"] })).await;
    assert_eq!((status, &body["areas"]), (201, &json!(["tehran-city"])), "{body}");
    let district = json!({ "name": "منطقه ۶", "parent_id": "tehran-municipality", "areas": ["tehran-district-06"] });
    assert_eq!(put("district-06", district.clone()).await.0, 201);
    let (status, again) = put("district-06", district).await;
    assert_eq!((status, &again["parent_id"]), (200, &json!("tehran-municipality")), "{again}");

    // Replaced: name, parent and areas; what was not given is cleared.
    let (status, body) = put("district-06", json!({ "name": "شهرداری منطقه ۶" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["name"], &body["parent_id"], &body["areas"]),
        (&json!("شهرداری منطقه ۶"), &Value::Null, &json!([]))
    );
    assert_eq!(body["created_at"], again["created_at"], "the agency is the same one");

    // No cycle: an agency cannot move under itself or under one below it.
    assert_eq!(put("district-06", json!({ "name": "x", "parent_id": "tehran-municipality" })).await.0, 200);
    assert_invalid(
        put("tehran-municipality", json!({ "name": "x", "parent_id": "district-06" })).await,
        &["parent_id"],
    );
    assert_invalid(
        put("tehran-municipality", json!({ "name": "x", "parent_id": "tehran-municipality" })).await,
        &["parent_id"],
    );
    assert_invalid(
        put("Bad Id", json!({ "name": "", "parent_id": "nobody", "areas": ["atlantis"] })).await,
        &["id", "name"],
    );
    assert_invalid(
        put("district-06", json!({ "name": "x", "parent_id": "nobody", "areas": ["atlantis"] })).await,
        &["parent_id", "areas[0]"],
    );
    let (_, body) = app.get("/api/v1/agencies/tehran-municipality", ADMIN_KEY).await;
    assert_eq!(
        (&body["name"], &body["parent_id"]),
        (&json!("شهرداری تهران"), &Value::Null),
        "refused changes change nothing"
    );

    // A rule of reference data: created, then unchanged, then pointed at another agency.
    let rule = |agency_id: &'static str| store::NewRule {
        category: "municipal",
        area: "tehran-district-06",
        province: None,
        city: nazer_routing::ANY,
        agency_id,
    };
    let (created, before) = write(&app, |conn| store::put_rule(conn, &rule("district-06"), Utc::now()));
    assert!(before.is_none());
    let (same, before) = write(&app, |conn| store::put_rule(conn, &rule("district-06"), Utc::now()));
    assert_eq!((same.id.as_str(), before.map(|b| b.agency_id)), (created.id.as_str(), Some("district-06".into())));
    let (moved, _) = write(&app, |conn| store::put_rule(conn, &rule("tehran-municipality"), Utc::now()));
    assert_eq!((moved.id, moved.agency_id), (created.id, "tehran-municipality".into()));
    let refused = {
        let mut conn = app.db().get().unwrap();
        store::put_rule(&mut conn, &rule("nobody"), Utc::now())
    };
    assert!(
        matches!(refused, Err(store::RuleError::Invalid(ref issues)) if issues[0].field == "agency_id"),
        "{refused:?}"
    );

    let own_key = api_key(&app, &[Scope::Agency], Some("district-06"));
    let call_center = api_key(&app, &[Scope::CallCenter], None);
    for key in [&own_key, &call_center] {
        let (status, body) = app.put("/api/v1/agencies/district-06", key, &json!({ "name": "x" })).await;
        assert_eq!(status, 403, "admins only: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_triage_queue_filters_by_area() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);
    route(&app, &located("m-5", BUILDING, &IN_DISTRICT_5));
    route(&app, &located("m-5-1", BUILDING, &IN_DISTRICT_5[..4]));
    route(&app, &located("m-6", BUILDING, &IN_DISTRICT_6));
    route(&app, &located("m-qom", BUILDING, &["qom"]));
    assert_eq!(triaged(&app, "m-5").area_path, codes(&IN_DISTRICT_5));

    let ids = |query: &str| {
        let app = &app;
        let path = format!("/api/v1/triage?{query}");
        async move {
            let (status, body) = app.get(&path, ADMIN_KEY).await;
            assert_eq!(status, 200, "{body}");
            let mut ids: Vec<String> = body["triage"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["message_id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids("area=tehran-district-05").await, ["m-5", "m-5-1"]);
    assert_eq!(ids("area=tehran-district-05-2").await, ["m-5"]);
    assert_eq!(ids("area=Tehran-City").await, ["m-5", "m-5-1", "m-6"]);
    assert_eq!(ids("area=tehran").await, ["m-5", "m-5-1", "m-6"]);
    assert_eq!(ids("area=qom").await, ["m-qom"]);
    assert_eq!(ids("area=tehran-district-05-1").await, Vec::<String>::new());
    assert_eq!(ids("area=tehran-city&province=qom").await, Vec::<String>::new());
    let (_, body) = app.get("/api/v1/triage?area=tehran-district-06", ADMIN_KEY).await;
    assert_eq!(body["triage"][0]["area_path"], json!(IN_DISTRICT_6), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_before_areas_are_routed_by_their_province() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    import_tehran(&app);
    for id in ["qom-municipality", "tehran-governorate", "district-05"] {
        create_agency(&app, json!({ "id": id, "name": id })).await;
    }
    create_rule(&app, json!({ "category": BUILDING, "province": "qom", "agency_id": "qom-municipality" })).await;
    create_rule(&app, json!({ "category": BUILDING, "province": "tehran", "agency_id": "tehran-governorate" })).await;
    create_rule(&app, json!({ "category": BUILDING, "area": "tehran-district-05", "agency_id": "district-05" })).await;

    // On the bus, as intake wrote it before areas: no `area`, no `area_path`.
    let old = MessageReceived { message_id: "m-old".into(), province: "qom".into(), ..message_received() };
    let mut envelope = Envelope::new("intake", &old, Utc::now()).unwrap();
    let payload = envelope.payload.as_object_mut().unwrap();
    payload.remove("area");
    payload.remove("area_path");
    app.host.as_ref().unwrap().bus.publish(&envelope).await.unwrap();
    eventually(Duration::from_secs(10), "the old message to be routed", || {
        let found = app.outbox_events("routing", "message.assigned").iter().any(|e| e.aggregate_id == "m-old");
        async move { found.then_some(()) }
    })
    .await;
    let event = assigned(&app, "m-old");
    assert_eq!((event.agency_id.as_str(), event.area_path.clone()), ("qom-municipality", codes(&["qom"])));
    assert_eq!(stored_path(&app, "m-old"), r#"["qom"]"#);

    // One stored with an empty path (the migration gave every earlier row its province; this
    // is a hand-edited one): a decline reroutes it by its province, and stores that path.
    let tehran = MessageReceived { message_id: "m-tehran".into(), area_path: vec![], area: None, ..message_received() };
    route(&app, &tehran);
    assert_eq!(assigned(&app, "m-tehran").area_path, codes(&["tehran"]));
    write(&app, |conn| {
        Ok::<_, DbError>(
            diesel::update(assignments::table.find("m-tehran")).set(assignments::area_path.eq("[]")).execute(conn)?,
        )
    });
    decline(&app, "m-tehran", "tehran-governorate", 1);
    let event = triaged(&app, "m-tehran");
    assert_eq!(event.area_path, codes(&["tehran"]), "the district rule does not catch a message without a district");
    assert_eq!(stored_path(&app, "m-tehran"), r#"["tehran"]"#);
    let (_, body) = app.get("/api/v1/triage?area=tehran", ADMIN_KEY).await;
    assert_eq!(body["triage"][0]["message_id"], "m-tehran", "{body}");
    assert_eq!(body["triage"][0]["area_path"], json!(["tehran"]), "{body}");
    app.stop().await;
}
