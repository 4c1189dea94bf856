//! The SLA policy API (validation, conflicts, who may write) and the warning API (acknowledging,
//! filtering by level, period and acknowledgement, CSV export). PostgreSQL and RabbitMQ when
//! NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus
//! otherwise.

use chrono::{Duration, Utc};
use nazer_deadline_timer::deadlines::store;
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, stored, write};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, problem_fields};
use serde_json::{Value, json};

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_validated_unique_per_scope_and_written_by_admins_only() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let agency = api_key(&app, &[Scope::Agency], Some("agency-a"));

    let bad = json!({"id": "bad", "priority": "asap", "stages": [
        {"stage": "respond", "budget": "3d", "reminders": [0.9, 0.1]}]});
    let (status, body) = app.put("/api/v1/sla-policies/bad", ADMIN_KEY, &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problem_fields(&body), ["priority", "stages[0].budget", "stages[0].reminders"]);
    let (status, body) = app.put("/api/v1/sla-policies/other", ADMIN_KEY, &json!({"id": "x", "stages": []})).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["id".to_string()]), "{body}");
    let unknown_calendar = json!({"id": "c", "calendar": "nowhere", "stages": [{"stage": "respond", "budget": "3d"}]});
    let (status, body) = app.put("/api/v1/sla-policies/c", ADMIN_KEY, &unknown_calendar).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["calendar".to_string()]), "{body}");
    let (status, body) = app.put("/api/v1/sla-policies/c", ADMIN_KEY, &json!({"id": "c", "stagez": []})).await;
    assert_eq!(status, 422, "an unknown field is named: {body}");
    assert!(body.to_string().contains("stagez"), "{body}");

    let pharmacy = json!({"id": "pharmacy", "category": "health.pharmacy", "stages": [
        {"stage": "respond", "budget": "P2D", "level_2_after": "P1D"}]});
    let (status, body) = app.put("/api/v1/sla-policies/pharmacy", ADMIN_KEY, &pharmacy).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stages"][0]["reminders"], json!([0.5, 0.8]), "the default reminders are shown");
    assert_eq!((body["priority"].clone(), body["channel"].clone()), (json!("*"), json!("*")));
    let (status, _) = app.put("/api/v1/sla-policies/pharmacy", ADMIN_KEY, &pharmacy).await;
    assert_eq!(status, 200, "replacing is not creating");
    let same_scope = json!({"id": "pharmacy-2", "category": "health.pharmacy", "stages": [
        {"stage": "respond", "budget": "P3D"}]});
    let (status, body) = app.put("/api/v1/sla-policies/pharmacy-2", ADMIN_KEY, &same_scope).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("pharmacy"), "{body}");

    let (status, body) = app.put("/api/v1/sla-policies/pharmacy", &agency, &pharmacy).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app.get("/api/v1/sla-policies/pharmacy", &agency).await;
    assert_eq!((status, body["id"].clone()), (200, json!("pharmacy")), "agencies may read the rules they are held to");
    let (status, body) = app.get("/api/v1/sla-policies", ADMIN_KEY).await;
    assert_eq!((status, body["sla_policies"].as_array().unwrap().len()), (200, 1), "{body}");
    let (status, _) = app.delete("/api/v1/sla-policies/pharmacy", &agency).await;
    assert_eq!(status, 403);
    let (status, _) = app.delete("/api/v1/sla-policies/pharmacy", ADMIN_KEY).await;
    assert_eq!(status, 204);
    let (status, body) = app.get("/api/v1/sla-policies/pharmacy", ADMIN_KEY).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.delete("/api/v1/sla-policies/pharmacy", ADMIN_KEY).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_acknowledge_their_warnings_and_supervisors_filter_and_export_them() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-a", "1111111111", "roads", "agency-a"), t0);
    schedule(&app, &assigned("m-b", "2222222222", "roads", "agency-b"), t0);
    let warnings = write(&app, |conn| store::fire_due(conn, t0 + Duration::hours(1), 500)).warnings;
    assert_eq!(warnings.len(), 2);
    let of_a = warnings.iter().find(|w| w.agency_id == "agency-a").unwrap().warning_id.clone();
    let of_b = warnings.iter().find(|w| w.agency_id == "agency-b").unwrap().warning_id.clone();
    let agency_a = api_key(&app, &[Scope::Agency], Some("agency-a"));

    let path = format!("/api/v1/warnings/{of_a}/acknowledgement");
    let (status, first) = app.post(&path, &agency_a, &json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["acknowledged_at"].is_string(), "{first}");
    let (_, again) = app.post(&path, &agency_a, &json!({})).await;
    assert_eq!(again["acknowledged_at"], first["acknowledged_at"], "a repeat keeps the first instant");
    let (status, body) = app.post(&format!("/api/v1/warnings/{of_b}/acknowledgement"), &agency_a, &json!({})).await;
    assert_eq!(status, 404, "another agency's warning does not exist for this one: {body}");
    let (status, _) = app.post(&path, ADMIN_KEY, &json!({})).await;
    assert_eq!(status, 403, "only the agency itself acknowledges");

    let ids = |body: &Value| -> Vec<String> {
        body["warnings"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_string()).collect()
    };
    let (_, body) = app.get("/api/v1/warnings?acknowledged=false", ADMIN_KEY).await;
    assert_eq!(ids(&body), vec![of_b.clone()]);
    let (_, body) = app.get("/api/v1/warnings?acknowledged=true&level=1", ADMIN_KEY).await;
    assert_eq!(ids(&body), vec![of_a.clone()]);

    // A period, as a Solar Hijri or a Gregorian day (Tehran time), or as instants.
    let list = ListContract { app: &app, path: "/api/v1/warnings", key: ADMIN_KEY, items: ("warnings", "id") };
    let day = |date: chrono::NaiveDate| {
        let jalali = nazer_shared::iran::JalaliDate::from_gregorian(date);
        format!("{}-{:02}-{:02}", jalali.year, jalali.month, jalali.day)
    };
    let issued = warnings[0].issued_at.with_timezone(&nazer_shared::iran::tehran_offset()).date_naive();
    let next_day = issued + Duration::days(1);
    list.whole_days((&day(issued), &issued.to_string()), &day(next_day), 2).await;
    assert_eq!(list.count(&format!("from={next_day}")).await, 0);
    list.refuses("from=1405-13-01&to=soon&level=4", &["level", "from", "to"]).await;
    list.refuses(&format!("from={next_day}&to={issued}"), &["to"]).await;

    let response = app
        .client
        .get(app.url("/api/v1/warnings?format=csv&agency_id=agency-a"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = response.text().await.unwrap();
    // Spreadsheet programs read UTF-8 only after a byte-order mark.
    let csv = csv.strip_prefix('\u{feff}').unwrap_or_else(|| panic!("no byte-order mark: {csv}"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert_eq!(
        lines[0],
        "id,tracking_code,agency_id,stage,level,reason,escalated_to,due_at,due_at_solar_hijri,issued_at,\
         issued_at_solar_hijri,acknowledged_at,acknowledged_at_solar_hijri,text_fa"
    );
    assert!(lines[1].starts_with(&format!("{of_a},1111111111,agency-a,respond,1,deadline_passed")), "{csv}");
    let (_, listed) = app.get("/api/v1/warnings?agency_id=agency-a", ADMIN_KEY).await;
    let instant = |name: &str| {
        let text = listed["warnings"][0][name].as_str().unwrap_or_else(|| panic!("{name}: {listed}"));
        chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    };
    let (due, issued) = (instant("due_at"), instant("issued_at"));
    let tehran = nazer_shared::iran::jalali_date_time;
    let beside = format!("{},{},{},{}", due.to_rfc3339(), tehran(due), issued.to_rfc3339(), tehran(issued));
    assert!(lines[1].contains(&beside), "each instant with its Tehran Solar Hijri date and time: {csv}");
    assert!(lines[1].ends_with("به پایان رسید"), "{csv}");
    list.refuses("format=xml", &["format"]).await;
    list.refuses("format=csv&limit=5", &["limit"]).await;
    app.stop().await;
}
