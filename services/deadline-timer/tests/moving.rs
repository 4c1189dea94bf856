//! Calendar changes move deadlines: adding or removing a holiday or a closure recomputes every
//! running clock it touches (province-aware), announces moved due instants, and leaves the
//! rest alone. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL
//! are set; SQLite and the in-process bus otherwise. The week used lies a month ahead, out of
//! the host loop's reach.

use chrono::{DateTime, Utc};
use nazer_deadline_timer::deadlines::store;
use nazer_shared::events::{DeadlineMoved, DeadlineState, MessageAssigned};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp, problem_fields};
use serde_json::json;

mod support;

use support::*;

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

fn start(app: &TestApp, message_id: &str, province: &str, at: DateTime<Utc>) {
    let event = MessageAssigned {
        province: province.into(),
        assigned_at: at,
        ..assigned(message_id, "1234567890", "roads", "agency-a")
    };
    write(app, |conn| store::schedule(conn, &event, "P7D", Utc::now()));
}

/// (state, due instant, level-2 instant) of a message's respond stage.
fn clock(app: &TestApp, message_id: &str) -> (DeadlineState, DateTime<Utc>, DateTime<Utc>) {
    let mut conn = app.db().get().unwrap();
    let view = store::deadlines_of(&mut conn, message_id).unwrap().remove(0);
    let level_2 = view.steps.last().unwrap().step.at();
    (view.state, view.due_at, level_2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holidays_and_closures_move_the_deadlines_they_touch() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    let week = Week::ahead();
    start(&app, "m-tehran", "tehran", week.at(SAT, "07:30"));
    start(&app, "m-fars", "fars", week.at(SAT, "07:30"));
    start(&app, "m-next-week", "tehran", week.at(SAT + 7, "07:30"));
    // 2 business days after Saturday: Sunday and Monday; level 2 one day later.
    let original = (DeadlineState::Pending, week.at(MON, "14:30"), week.at(TUE, "14:30"));
    assert_eq!(clock(&app, "m-tehran"), original);
    let next_week = clock(&app, "m-next-week");

    let closure = json!({"date": week.jalali(SUN), "province": "tehran", "reason": "آلودگی هوا"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &closure).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(1)), "{body}");
    assert_eq!(clock(&app, "m-tehran"), (DeadlineState::Pending, week.at(TUE, "14:30"), week.at(WED, "14:30")));
    assert_eq!(clock(&app, "m-fars"), original, "a Tehran closure does not touch Fars");
    assert_eq!(clock(&app, "m-next-week"), next_week, "nor a clock started after the closed day");
    let moved = app.outbox_events("deadline-timer", "deadline.moved");
    assert_eq!(moved.len(), 1);
    let event: DeadlineMoved = moved[0].decode().unwrap();
    assert_eq!((event.message_id.as_str(), event.agency_id.as_str()), ("m-tehran", "agency-a"));
    assert_eq!((event.previous_due_at, event.due_at), (week.at(MON, "14:30"), week.at(TUE, "14:30")));
    assert!(event.reason.contains("closure") && event.reason.contains("tehran"), "{}", event.reason);
    assert!(event.text_fa.ends_with("تغییر کرد"), "{}", event.text_fa);

    let holiday = json!({"date": week.jalali(MON), "name": "تعطیل رسمی"});
    let (status, body) = app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &holiday).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(2)), "a holiday touches every province: {body}");
    assert_eq!(clock(&app, "m-tehran").1, week.at(WED, "14:30"));
    assert_eq!(clock(&app, "m-fars").1, week.at(TUE, "14:30"));

    let path = format!("/api/v1/calendars/cal/holidays/{}", week.jalali(MON));
    let (status, body) = app.delete(&path, ADMIN_KEY).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (200, json!(2)), "{body}");
    assert_eq!(clock(&app, "m-fars"), original);
    let path = format!("/api/v1/calendars/cal/closures/{}?province=tehran", week.jalali(SUN));
    let (status, body) = app.delete(&path, ADMIN_KEY).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (200, json!(1)), "{body}");
    assert_eq!(clock(&app, "m-tehran"), original, "back where it started");
    assert_eq!(app.outbox_events("deadline-timer", "deadline.moved").len(), 6);

    // Replacing the whole calendar moves what it changes too.
    let (_, mut document) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    document["closures"] = json!([closure]);
    let response =
        app.client.put(app.url("/api/v1/calendars/cal")).bearer_auth(ADMIN_KEY).json(&document).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["nazer-deadlines-moved"], "1");
    assert_eq!(clock(&app, "m-tehran").1, week.at(TUE, "14:30"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_already_warned_about_keeps_its_due_and_moves_its_later_levels() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    let week = Week::ahead();
    start(&app, "m-warned", "tehran", week.at(SAT, "07:30"));
    let fired = write(&app, |conn| store::fire_due(conn, week.at(MON, "14:30"), 10)).warnings;
    assert_eq!(fired.len(), 1);

    let closure = json!({"date": week.jalali(TUE), "province": null, "reason": "تعطیلی سراسری"});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &closure).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(0)), "no due instant moved: {body}");
    let (state_now, due, level_2) = clock(&app, "m-warned");
    assert_eq!((state_now.as_str(), due), (DeadlineState::Breached.as_str(), week.at(MON, "14:30")));
    assert_eq!(level_2, week.at(WED, "14:30"), "level 2 skips the closed Tuesday");
    assert!(app.outbox_events("deadline-timer", "deadline.moved").is_empty());
    assert!(write(&app, |conn| store::fire_due(conn, week.at(TUE, "14:30"), 10)).warnings.is_empty());
    let level_2 = write(&app, |conn| store::fire_due(conn, week.at(WED, "14:30"), 10)).warnings;
    assert_eq!(level_2.iter().map(|w| w.level).collect::<Vec<_>>(), [2]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_edits_are_validated_and_for_admins_only() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    setup(&app).await;
    let holiday = json!({"date": "1405-09-20", "name": "تعطیل"});
    let (status, body) =
        app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &json!({"date": "1405-13-01", "name": " "})).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["date".to_string(), "name".into()]), "{body}");
    assert_eq!(app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &holiday).await.0, 201);
    let (status, body) = app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &holiday).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app.delete("/api/v1/calendars/cal/holidays/1405-09-21", ADMIN_KEY).await;
    assert_eq!(status, 404);
    let closure = json!({"date": "1405-09-20", "province": "mars", "reason": ""});
    let (status, body) = app.post("/api/v1/calendars/cal/closures", ADMIN_KEY, &closure).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["province".to_string(), "reason".into()]), "{body}");
    let (status, _) = app.delete("/api/v1/calendars/cal/closures/1405-09-20", ADMIN_KEY).await;
    assert_eq!(status, 404, "no nationwide closure that day");
    let (status, _) = app.post("/api/v1/calendars/nowhere/holidays", ADMIN_KEY, &holiday).await;
    assert_eq!(status, 404);

    let agency = api_key(&app, &[Scope::Agency], Some("agency-a"));
    let (status, _) = app.post("/api/v1/calendars/cal/holidays", &agency, &holiday).await;
    assert_eq!(status, 403);
    let (_, exported) = app.get("/api/v1/calendars/cal", ADMIN_KEY).await;
    assert_eq!(exported["holidays"], json!([holiday]), "refused edits changed nothing");
    app.stop().await;
}
