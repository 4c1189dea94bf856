//! Closures by area: a closure names an area at any level (a province, a district of Tehran, …)
//! and moves exactly the pending deadlines of messages located in it or under it; the areas are
//! known from `areas.imported`. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise. The week used lies a
//! month ahead, out of the host loop's reach.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_deadline_timer::areas::store::{AreaRow, find_area, record_areas};
use nazer_deadline_timer::deadlines::store;
use nazer_deadline_timer::schema::deadlines;
use nazer_shared::events::{AreaSummary, AreasImported, DeadlineMoved, MessageAssigned};
use nazer_shared::testing::fixtures::{envelope, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually, problem_fields};
use serde_json::json;

mod support;

use support::*;

const DISTRICT_06: [&str; 3] = ["tehran", "tehran-city", "tehran-district-06"];
const NEIGHBOURHOOD: [&str; 4] = ["tehran", "tehran-city", "tehran-district-06", "tehran-yusefabad"];
const DISTRICT_07: [&str; 3] = ["tehran", "tehran-city", "tehran-district-07"];

fn area(code: &str, parent: &str, level: &str, name_fa: &str) -> AreaSummary {
    AreaSummary {
        code: code.into(),
        parent: Some(parent.into()),
        level: level.into(),
        name_fa: name_fa.into(),
        name_en: code.into(),
    }
}

/// Tehran's city, two of its districts and a neighbourhood of district 6, parents first.
fn tehran_areas() -> Vec<AreaSummary> {
    vec![
        area("tehran-city", "tehran", "city", "شهر تهران"),
        area("tehran-district-06", "tehran-city", "district", "منطقه ۶"),
        area("tehran-district-07", "tehran-city", "district", "منطقه ۷"),
        area("tehran-yusefabad", "tehran-district-06", "neighbourhood", "یوسف‌آباد"),
    ]
}

fn imported(areas: Vec<AreaSummary>, at: DateTime<Utc>) -> AreasImported {
    AreasImported { import_id: uuid::Uuid::now_v7().to_string(), areas, imported_at: at }
}

fn known(app: &TestApp, code: &str) -> Option<AreaRow> {
    let mut conn = app.db().get().unwrap();
    find_area(&mut conn, code).unwrap()
}

/// Announces Tehran's areas on the bus, as intake does, and waits until they are known.
async fn import_tehran(app: &TestApp) {
    let event = envelope("intake", &imported(tehran_areas(), Utc::now()));
    app.host.as_ref().unwrap().bus.publish(&event).await.unwrap();
    eventually(StdDuration::from_secs(10), "Tehran's areas to be known", || async {
        known(app, "tehran-yusefabad").map(|_| ())
    })
    .await;
}

async fn setup(app: &TestApp) {
    let calendar = json!({"id": "cal", "timezone": "Asia/Tehran", "weekly_days_off": ["thursday", "friday"],
        "working_hours": [{"from": "07:30", "to": "14:30"}], "holidays": [], "closures": []});
    let (status, body) = app.put("/api/v1/calendars/cal", ADMIN_KEY, &calendar).await;
    assert_eq!(status, 201, "{body}");
    let policy = json!({"id": "office", "calendar": "cal", "stages": [
        {"stage": "respond", "budget": "2d", "reminders": [], "level_2_after": "1d"}]});
    let (status, body) = app.put("/api/v1/sla-policies/office", ADMIN_KEY, &policy).await;
    assert_eq!(status, 201, "{body}");
}

/// Starts the clock of a message located in `path` (empty: an event written before areas, in
/// `province`).
fn start(app: &TestApp, message_id: &str, province: &str, path: &[&str], at: DateTime<Utc>) {
    let event = MessageAssigned {
        province: province.into(),
        area_path: path.iter().map(|c| c.to_string()).collect(),
        assigned_at: at,
        ..assigned(message_id, "1234567890", "roads", "agency-a")
    };
    write(app, |conn| store::schedule(conn, &event, "P7D", Utc::now()));
}

fn due(app: &TestApp, message_id: &str) -> DateTime<Utc> {
    only_deadline(app, message_id).due_at
}

fn moved_messages(app: &TestApp, from: usize) -> Vec<String> {
    let mut moved: Vec<String> = app.outbox_events("deadline-timer", "deadline.moved")[from..]
        .iter()
        .map(|e| e.decode::<DeadlineMoved>().unwrap().message_id)
        .collect();
    moved.sort();
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_of_a_district_moves_the_deadlines_of_messages_located_in_it_only() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    import_tehran(&app).await;
    let week = Week::ahead();
    let saturday = week.at(SAT, "07:30");
    start(&app, "m-district-06", "tehran", &DISTRICT_06, saturday);
    start(&app, "m-yusefabad", "tehran", &NEIGHBOURHOOD, saturday);
    start(&app, "m-district-07", "tehran", &DISTRICT_07, saturday);
    start(&app, "m-tehran", "tehran", &["tehran"], saturday);
    start(&app, "m-before-areas", "tehran", &[], saturday);
    start(&app, "m-fars", "fars", &["fars"], saturday);
    let all = ["m-district-06", "m-yusefabad", "m-district-07", "m-tehran", "m-before-areas", "m-fars"];
    // 2 business days after Saturday: Sunday and Monday.
    for message in all {
        assert_eq!(due(&app, message), week.at(MON, "14:30"), "{message}");
    }

    let closure = json!({"date": week.jalali(SUN), "area": "tehran-district-06", "reason": "آلودگی هوا"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &closure).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(2)), "{body}");
    assert_eq!(moved_messages(&app, 0), ["m-district-06", "m-yusefabad"]);
    for message in ["m-district-06", "m-yusefabad"] {
        assert_eq!(due(&app, message), week.at(TUE, "14:30"), "{message}");
    }
    for message in ["m-district-07", "m-tehran", "m-before-areas", "m-fars"] {
        assert_eq!(due(&app, message), week.at(MON, "14:30"), "{message} is not in district 6");
    }
    let shown = &body["calendar"]["closures"][0];
    assert_eq!((shown["province"].clone(), shown["area"].clone()), (json!("tehran"), json!("tehran-district-06")));
    let (_, exported) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    assert_eq!(exported["closures"][0], *shown, "{exported}");

    // The same closure again, by its area and its province: it exists already.
    let again = json!({"date": week.jalali(SUN), "province": "tehran", "area": "tehran-district-06", "reason": "x"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &again).await;
    assert_eq!(status, 409, "{body}");

    // A province closure holds for every message in it, down to the neighbourhoods and the
    // clocks started before areas; not for another province.
    let tehran = json!({"date": week.jalali(MON), "province": "tehran", "reason": "آلودگی هوا"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &tehran).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(5)), "{body}");
    assert_eq!(body["calendar"]["closures"][1]["area"], "tehran", "{body}");
    assert_eq!(due(&app, "m-yusefabad"), week.at(WED, "14:30"));
    assert_eq!(due(&app, "m-before-areas"), week.at(TUE, "14:30"));
    assert_eq!(due(&app, "m-fars"), week.at(MON, "14:30"));

    // Removed by area (with its province beside it, as the closure shows it), the district's
    // clocks move back; the province's closure stays.
    let seen = app.outbox_events("deadline-timer", "deadline.moved").len();
    let path = format!("/api/v1/calendars/cal/closures/{}?province=tehran&area=tehran-district-06", week.jalali(SUN));
    let (status, body) = app.delete(&path, ADMIN_KEY).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (200, json!(2)), "{body}");
    assert_eq!(moved_messages(&app, seen), ["m-district-06", "m-yusefabad"]);
    assert_eq!(due(&app, "m-yusefabad"), week.at(TUE, "14:30"));
    let path = format!("/api/v1/calendars/cal/closures/{}?province=tehran", week.jalali(MON));
    let (status, body) = app.delete(&path, ADMIN_KEY).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (200, json!(5)), "{body}");
    for message in all {
        assert_eq!(due(&app, message), week.at(MON, "14:30"), "{message} is back where it started");
    }

    // A district closure added by replacing the whole calendar moves its messages too; removed
    // by `?area=` alone.
    let (_, mut document) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    document["closures"] = json!([closure]);
    let response =
        app.client.put(app.url("/api/v1/calendars/cal")).bearer_auth(ADMIN_KEY).json(&document).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["nazer-deadlines-moved"], "2");
    let path = format!("/api/v1/calendars/cal/closures/{}?area=tehran-district-06", week.jalali(SUN));
    let (status, body) = app.delete(&path, ADMIN_KEY).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (200, json!(2)), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_and_events_from_before_areas_are_located_in_their_province() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    import_tehran(&app).await;
    let week = Week::ahead();
    start(&app, "m-old", "tehran", &["tehran"], week.at(SAT, "07:30"));
    // As the migration leaves a clock an older version wrote while it ran: no area path.
    let mut conn = app.db().get().unwrap();
    diesel::update(deadlines::table.filter(deadlines::message_id.eq("m-old")))
        .set(deadlines::area_path.eq("[]"))
        .execute(&mut *conn)
        .unwrap();
    drop(conn);
    // And an assignment written before areas, without `area_path`, through the bus.
    let event = MessageAssigned {
        assigned_at: week.at(SAT, "07:30"),
        ..assigned("m-old-event", "1234567890", "roads", "agency-a")
    };
    let mut old_event = envelope("routing", &event);
    old_event.payload.as_object_mut().unwrap().remove("area_path");
    app.host.as_ref().unwrap().bus.publish(&old_event).await.unwrap();
    eventually(StdDuration::from_secs(10), "the old event's clock", || async {
        let mut conn = app.db().get().unwrap();
        (!store::deadlines_of(&mut conn, "m-old-event").unwrap().is_empty()).then_some(())
    })
    .await;

    let district = json!({"date": week.jalali(SUN), "area": "tehran-district-06", "reason": "آلودگی هوا"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &district).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(0)), "{body}");
    let tehran = json!({"date": week.jalali(MON), "area": "tehran", "reason": "آلودگی هوا"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &tehran).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(2)), "{body}");
    assert_eq!(due(&app, "m-old"), week.at(TUE, "14:30"));
    assert_eq!(due(&app, "m-old-event"), week.at(TUE, "14:30"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_areas_and_areas_outside_the_province_are_refused_naming_area() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    import_tehran(&app).await;
    let closures = "/api/v1/calendars/cal/closures";
    let unknown = json!({"date": "1405-09-20", "area": "tehran-district-99", "reason": "آلودگی هوا"});
    let (status, body) = app.post(closures, ADMIN_KEY, &unknown).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    assert!(body["errors"][0]["problem"].as_str().unwrap().contains("GET /api/v1/areas"), "{body}");
    let elsewhere =
        json!({"date": "1405-09-20", "province": "fars", "area": "tehran-district-06", "reason": "آلودگی هوا"});
    let (status, body) = app.post(closures, ADMIN_KEY, &elsewhere).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    let two_provinces = json!({"date": "1405-09-20", "province": "fars", "area": "tehran", "reason": "x"});
    let (status, body) = app.post(closures, ADMIN_KEY, &two_provinces).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    let everything_wrong = json!({"date": "1405-13-01", "area": "Tehran 6", "reason": " "});
    let (status, body) = app.post(closures, ADMIN_KEY, &everything_wrong).await;
    assert_eq!(problem_fields(&body), ["date", "area", "reason"], "{status} {body}");

    let path = "/api/v1/calendars/cal/closures/1405-09-20?area=tehran-district-99";
    let (status, body) = app.delete(path, ADMIN_KEY).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    let path = "/api/v1/calendars/cal/closures/1405-09-20?area=tehran-district-06";
    assert_eq!(app.delete(path, ADMIN_KEY).await.0, 404, "no such closure");

    let (_, mut document) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    document["closures"] = json!([{"date": "1405-09-20", "province": null, "reason": "r"}, unknown, elsewhere]);
    let (status, body) = app.put("/api/v1/calendars/cal", ADMIN_KEY, &document).await;
    assert_eq!(problem_fields(&body), ["closures[1].area", "closures[2].area"], "{status} {body}");
    let (_, stored) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    assert_eq!(stored["closures"], json!([]), "nothing was stored");

    let due = "/api/v1/calendars/cal/due?start=2026-11-30T09:00:00%2B03:30&budget=1d";
    let (status, body) = app.get(&format!("{due}&area=tehran-district-99"), ADMIN_KEY).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    let (status, body) = app.get(&format!("{due}&province=fars&area=tehran-district-06"), ADMIN_KEY).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["area".to_string()]), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_due_question_counts_the_closures_above_the_area_asked_about() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    import_tehran(&app).await;
    // 1405-09-10 (Tuesday 2026-12-01) is closed in district 6 only.
    let closure = json!({"date": "1405-09-10", "area": "tehran-district-06", "reason": "آلودگی هوا"});
    assert_eq!(app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &closure).await.0, 201);
    let due = "/api/v1/calendars/cal/due?start=2026-11-30T09:00:00%2B03:30&budget=1d";
    for (query, expected) in [
        ("&area=tehran-yusefabad", "2026-12-02T14:30:00+03:30"),
        ("&province=tehran&area=tehran-district-06", "2026-12-02T14:30:00+03:30"),
        ("&area=tehran-district-07", "2026-12-01T14:30:00+03:30"),
        ("&province=tehran", "2026-12-01T14:30:00+03:30"),
        ("", "2026-12-01T14:30:00+03:30"),
    ] {
        let (status, body) = app.get(&format!("{due}{query}"), ADMIN_KEY).await;
        assert_eq!((status, body["due_at"].clone()), (200, json!(expected)), "{query}: {body}");
    }
    let (_, body) = app.get(&format!("{due}&area=tehran-yusefabad"), ADMIN_KEY).await;
    assert_eq!((body["province"].clone(), body["area"].clone()), (json!(null), json!("tehran-yusefabad")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn areas_imported_is_recorded_once_whatever_the_redeliveries_and_their_order() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let provinces = known(&app, "tehran").unwrap();
    assert_eq!((provinces.level.as_str(), provinces.parent_code.as_deref()), ("province", None));
    assert!(known(&app, "sistan-baluchestan").is_some(), "the 31 provinces are known from the start");
    assert!(known(&app, "tehran-city").is_none());

    // Through the bus: the same event delivered twice is applied once.
    let first = imported(tehran_areas(), Utc::now());
    let event = envelope("intake", &first);
    let bus = app.host.as_ref().unwrap().bus.clone();
    bus.publish(&event).await.unwrap();
    bus.publish(&event).await.unwrap();
    let district = eventually(StdDuration::from_secs(10), "district 6 to be known", || async {
        known(&app, "tehran-district-06")
    })
    .await;
    assert_eq!((district.parent_code.as_deref(), district.name_fa.as_str()), (Some("tehran-city"), "منطقه ۶"));

    // The same import recorded again (a redelivery under a new id, or the demo seeding) changes
    // nothing; a later one renames; an older one arriving after it is kept out.
    let before: Vec<Option<AreaRow>> = tehran_areas().iter().map(|a| known(&app, &a.code)).collect();
    write(&app, |conn| record_areas(conn, &first.areas, first.imported_at));
    let after: Vec<Option<AreaRow>> = tehran_areas().iter().map(|a| known(&app, &a.code)).collect();
    assert_eq!(after, before);
    let renamed = vec![area("tehran-district-06", "tehran-city", "district", "منطقهٔ شش")];
    let later = first.imported_at + chrono::Duration::hours(1);
    write(&app, |conn| record_areas(conn, &renamed, later));
    let stale = vec![area("tehran-district-06", "tehran-city", "district", "قدیمی")];
    write(&app, |conn| record_areas(conn, &stale, first.imported_at + chrono::Duration::minutes(1)));
    assert_eq!(known(&app, "tehran-district-06").unwrap().name_fa, "منطقهٔ شش");
    // A province's names come from the import too.
    let tehran = AreaSummary { parent: None, ..area("tehran", "-", "province", "استان تهران") };
    write(&app, |conn| record_areas(conn, &[tehran], later));
    assert_eq!(known(&app, "tehran").unwrap().name_fa, "استان تهران");
    assert_eq!(known(&app, "tehran").unwrap().parent_code, None);
    app.stop().await;
}
