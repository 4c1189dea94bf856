//! Stored business calendars through the REST API: import with validation naming each field,
//! export, and the due instant anyone can check by hand.

use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::api_key;
use nazer_shared::testing::{ADMIN_KEY, TestApp, problem_fields};
use serde_json::{Value, json};

fn calendar() -> Value {
    json!({
        "id": "iran-gov-1405", "timezone": "Asia/Tehran",
        "weekly_days_off": ["thursday", "friday"],
        "working_hours": [{"from": "07:30", "to": "14:30"}],
        "holidays": [{"date": "1405-01-01", "name": "نوروز"}],
        "closures": [{"date": "1405-09-10", "province": "tehran", "reason": "آلودگی هوا"},
                     {"date": "1405-09-14", "province": null, "reason": "تعطیلی سراسری"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendars_are_imported_exported_and_answer_due_instants() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let (status, body) = app.put("/api/v1/calendars/iran-gov-1405", ADMIN_KEY, &calendar()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app.put("/api/v1/calendars/iran-gov-1405", ADMIN_KEY, &calendar()).await;
    assert_eq!(status, 200, "a second import replaces");
    let (status, exported) = app.get("/api/v1/calendars/iran-gov-1405", ADMIN_KEY).await;
    assert_eq!(status, 200);
    // Export gives back what was imported, each closure's area shown beside its province.
    let mut shown = calendar();
    shown["closures"][0]["area"] = json!("tehran");
    shown["closures"][1]["area"] = json!(null);
    assert_eq!(exported, shown);
    let (status, _) = app.put("/api/v1/calendars/iran-gov-1405", ADMIN_KEY, &exported).await;
    assert_eq!(status, 200, "what is exported imports again");
    let (_, listed) = app.get("/api/v1/calendars", ADMIN_KEY).await;
    assert_eq!(listed["calendars"][0]["id"], "iran-gov-1405");

    // The closure on 1405-09-10 holds for Tehran only; `+` may arrive escaped or not.
    let (status, due) = app
        .get(
            "/api/v1/calendars/iran-gov-1405/due?start=2026-11-30T09:00:00%2B03:30&budget=1d&province=tehran",
            ADMIN_KEY,
        )
        .await;
    assert_eq!(status, 200, "{due}");
    assert_eq!(due["due_at"], "2026-12-02T14:30:00+03:30");
    assert_eq!(due["due_at_jalali"], "۱۴۰۵/۰۹/۱۱ ساعت ۱۴:۳۰");
    let (_, due) = app
        .get(
            "/api/v1/calendars/iran-gov-1405/due?start=2026-11-30T09:00:00+03:30&budget=1d&province=isfahan",
            ADMIN_KEY,
        )
        .await;
    assert_eq!(due["due_at"], "2026-12-01T14:30:00+03:30");
    let (_, due) = app.get("/api/v1/calendars/iran-gov-1405/due?start=2026-11-30T05:30:00Z&budget=8h", ADMIN_KEY).await;
    assert_eq!(due["due_at"], "2026-12-01T10:00:00+03:30");

    let (status, body) =
        app.get("/api/v1/calendars/iran-gov-1405/due?start=yesterday&budget=3x&province=mars", ADMIN_KEY).await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&body), ["start", "budget", "province"]);
    let (status, _) = app.get("/api/v1/calendars/nope/due?start=2026-11-30T05:30:00Z&budget=8h", ADMIN_KEY).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_calendars_are_refused_naming_each_field_and_not_stored() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let mut bad = calendar();
    bad["weekly_days_off"] = json!(["friday", "funday"]);
    bad["working_hours"] = json!([{"from": "07:30", "to": "12:00"}, {"from": "11:00", "to": "14:30"}]);
    bad["holidays"] = json!([{"date": "1404-12-30", "name": "no such day"}]);
    let (status, body) = app.put("/api/v1/calendars/iran-gov-1405", ADMIN_KEY, &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problem_fields(&body), ["weekly_days_off[1]", "working_hours[1]", "holidays[0].date"]);

    let (status, body) = app.put("/api/v1/calendars/other-id", ADMIN_KEY, &calendar()).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["id".to_string()]));
    let mut unknown = calendar();
    unknown["weekends"] = json!([]);
    let (status, body) = app.put("/api/v1/calendars/iran-gov-1405", ADMIN_KEY, &unknown).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["weekends".to_string()]));

    let (status, _) = app.get("/api/v1/calendars/iran-gov-1405", ADMIN_KEY).await;
    assert_eq!(status, 404, "nothing was stored");

    let secret = api_key(&app, &[Scope::CallCenter], None);
    let (status, _) = app.put("/api/v1/calendars/iran-gov-1405", &secret, &calendar()).await;
    assert_eq!(status, 403, "only admins import calendars");
    app.stop().await;
}
