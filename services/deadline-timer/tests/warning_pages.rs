//! The warning list a page at a time: a cursor through a stable order (`issued_at`, then the
//! id) in both directions, with filters, an agency never paging into another's warnings, and
//! refused cursors and sorts. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise.

use chrono::{Duration, Utc};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, rfc3339, stored, write};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, page_through};
use serde_json::Value;

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_page_through_a_stable_order_in_both_directions() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = stored(Utc::now() + Duration::hours(1));
    // Three firings: two of them issue several warnings at the same instant (ties go by id).
    for (message, agency, offset) in [
        ("m-a1", "agency-a", 0),
        ("m-a2", "agency-a", 0),
        ("m-b1", "agency-b", 0),
        ("m-a3", "agency-a", 1),
        ("m-a4", "agency-a", 1),
        ("m-b2", "agency-b", 1),
        ("m-a5", "agency-a", 2),
    ] {
        schedule(&app, &assigned(message, "1111111111", "roads", agency), t0 + Duration::hours(offset));
    }
    let mut issued = Vec::new();
    for offset in 1..=3 {
        issued.extend(fire(&app, t0 + Duration::hours(offset)));
    }
    assert_eq!(issued.len(), 7);
    issued.sort_by(|x, y| (y.issued_at, &y.warning_id).cmp(&(x.issued_at, &x.warning_id)));
    let newest_first: Vec<String> = issued.iter().map(|w| w.warning_id.clone()).collect();
    let of_a: Vec<String> = issued.iter().filter(|w| w.agency_id == "agency-a").map(|w| w.warning_id.clone()).collect();
    let oldest_first: Vec<String> = newest_first.iter().rev().cloned().collect();

    // Newest first by default and with `-issued_at`; oldest first with `issued_at`.
    let warnings = ListContract { app: &app, path: "/api/v1/warnings", key: ADMIN_KEY, items: ("warnings", "id") };
    let walked = page_through(&app, "/api/v1/warnings?level=1&limit=2", ADMIN_KEY, ("warnings", "id"), None).await;
    assert_eq!(walked.len(), 4, "{walked:?}");
    assert_eq!(walked.concat(), newest_first, "no warning lost, repeated or out of order");
    warnings.sorts_both_ways("issued_at", &oldest_first).await;
    let (_, whole) = app.get("/api/v1/warnings?limit=7", ADMIN_KEY).await;
    assert_eq!(whole["next_cursor"], Value::Null, "a page holding the rest is the last: {whole}");
    let (_, partial) = app.get("/api/v1/warnings?limit=6", ADMIN_KEY).await;
    assert!(partial["next_cursor"].is_string(), "{partial}");

    // Filters hold on every page: the period, an agency.
    let before_second = rfc3339(t0 + Duration::hours(2));
    assert_eq!(warnings.ids(&format!("to={before_second}")).await, newest_first[4..], "the first firing only");
    let walked = warnings.ids(&format!("from={before_second}&sort=issued_at")).await;
    assert_eq!(walked, oldest_first[3..], "the later firings, oldest first");
    assert_eq!(warnings.ids("agency_id=agency-a").await, of_a);

    // An agency pages through its own warnings only, whatever it asks for.
    let agency_a = api_key(&app, &[Scope::Agency], Some("agency-a"));
    let of_agency_a = ListContract { key: &agency_a, ..warnings };
    assert_eq!(of_agency_a.ids("acknowledged=false").await, of_a);
    assert_eq!(of_agency_a.ids("agency_id=agency-b").await, of_a);
    let of_a_oldest_first: Vec<String> = of_a.iter().rev().cloned().collect();
    of_agency_a.sorts_both_ways("issued_at", &of_a_oldest_first).await;
    // Another agency's cursor leads nowhere else.
    let (_, first) = app.get("/api/v1/warnings?limit=1", ADMIN_KEY).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, body) = app.get(&format!("/api/v1/warnings?cursor={cursor}"), &agency_a).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].as_array().unwrap().iter().all(|w| w["agency_id"] == "agency-a"), "{body}");

    // Refusals name the field.
    let export_from_cursor = format!("format=csv&cursor={cursor}");
    warnings
        .refuses_bad_paging(&[
            ("cursor=nope", "cursor"),
            ("cursor=123_not-a-uuid", "cursor"),
            ("sort=level", "sort"),
            ("sort=-due_at", "sort"),
            ("format=csv&cursor=nope", "cursor"),
            (export_from_cursor.as_str(), "cursor"),
        ])
        .await;
    warnings.refuses("sort=soon&cursor=x&level=9", &["level", "sort", "cursor"]).await;

    // The export stays whole and follows `sort`.
    let response = app
        .client
        .get(app.url("/api/v1/warnings?format=csv&sort=issued_at"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let csv = response.text().await.unwrap();
    let exported: Vec<String> =
        csv.lines().skip(1).map(|line| line.split(',').next().unwrap_or_default().to_string()).collect();
    assert_eq!(exported, oldest_first, "{csv}");
    app.stop().await;
}
