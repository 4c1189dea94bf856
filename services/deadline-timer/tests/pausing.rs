//! Pausing a stage while the agency waits for the citizen, and resuming it with the budget it
//! had left; who may do so. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise.

use chrono::{Duration, Utc};
use nazer_deadline_timer::deadlines::pausing::{self, PauseError};
use nazer_deadline_timer::deadlines::store::{self, DeadlineView};
use nazer_deadline_timer::policy::Step;
use nazer_shared::events::{DeadlinePaused, DeadlineResumed, DeadlineState, MessageAssigned};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, message_responded, stored, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp, problem_fields};
use serde_json::json;

mod support;

use support::*;

fn instants(view: &DeadlineView) -> Vec<chrono::DateTime<Utc>> {
    view.steps.iter().map(|s| s.step.at()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_clock_stands_still_and_resumes_with_what_it_had_left() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let policy = json!({"id": "plain", "stages": [
        {"stage": "respond", "budget": "PT1H", "reminders": [0.5], "level_2_after": "PT1H"}]});
    assert_eq!(app.put("/api/v1/sla-policies/plain", ADMIN_KEY, &policy).await.0, 201);
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-1", "1234567890", "roads", "agency-a"), t0);
    let id = only_deadline(&app, "m-1").id;

    let paused_at = t0 + Duration::minutes(10);
    let paused = write(&app, |conn| pausing::pause(conn, &id, Some("agency-a"), "waiting_for_citizen", paused_at));
    assert_eq!(
        (paused.state.as_str(), paused.paused_at, paused.next_step_at),
        (DeadlineState::Paused.as_str(), Some(paused_at), None)
    );
    assert_eq!(fire_all(&app, t0 + Duration::hours(5)).deadlines, 0, "nothing fires while paused");
    let event: DeadlinePaused = app.outbox_events("deadline-timer", "deadline.paused")[0].decode().unwrap();
    assert_eq!((event.reason.as_str(), event.due_at), ("waiting_for_citizen", t0 + Duration::hours(1)));

    // 50 minutes were left; the reminder was 20 minutes away, level 2 an hour after the due.
    let resumed_at = t0 + Duration::hours(3);
    let resumed = write(&app, |conn| pausing::resume(conn, &id, Some("agency-a"), resumed_at));
    let expected = [20, 50, 110].map(|m| resumed_at + Duration::minutes(m));
    assert_eq!(instants(&resumed), expected);
    assert_eq!(
        (resumed.state.as_str(), resumed.due_at, resumed.paused_at),
        (DeadlineState::Pending.as_str(), expected[1], None)
    );
    let event: DeadlineResumed = app.outbox_events("deadline-timer", "deadline.resumed")[0].decode().unwrap();
    assert_eq!((event.due_at, event.resumed_at), (expected[1], resumed_at));
    assert_eq!(fire_all(&app, expected[0]).reminders.len(), 1);
    assert_eq!(fire_all(&app, expected[1]).warnings[0].due_at, expected[1]);

    // A stage warned about cannot pause; one paused can still be answered.
    let error = write(&app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(pausing::pause(conn, &id, None, "late", expected[1]).err())
    });
    assert!(matches!(error, Some(PauseError::WrongState(..))), "{error:?}");
    schedule(&app, &assigned("m-2", "1234567890", "roads", "agency-a"), t0);
    let second = only_deadline(&app, "m-2").id;
    write(&app, |conn| pausing::pause(conn, &second, None, "waiting_for_citizen", t0));
    assert_eq!(write(&app, |conn| store::meet(conn, &message_responded("m-2", "agency-a", t0), t0)), 1);
    assert_eq!(only_deadline(&app, "m-2").state, DeadlineState::Met);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_clock_resumes_with_its_working_time() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    office(&app).await;
    let week = Week::ahead();
    let id = start_saturday(&app, &week);
    assert_eq!(only_deadline(&app, "m-1").due_at, week.at(SUN, "08:30"));

    // Paused at 10:00 after 2.5 working hours; resumed on Monday morning with 5.5 left.
    write(&app, |conn| pausing::pause(conn, &id, None, "waiting_for_citizen", week.at(SAT, "10:00")));
    let resumed = write(&app, |conn| pausing::resume(conn, &id, None, week.at(MON, "07:30")));
    assert_eq!(resumed.due_at, week.at(MON, "13:00"));
    assert!(matches!(resumed.steps[0].step, Step::Warning { level: 1, .. }));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agencies_pause_their_own_stages_through_the_api() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "P3D"));
    schedule(&app, &assigned("m-a", "1111111111", "roads", "agency-a"), Utc::now());
    let id = only_deadline(&app, "m-a").id;
    let (agency_a, agency_b, call_center) = (
        api_key(&app, &[Scope::Agency], Some("agency-a")),
        api_key(&app, &[Scope::Agency], Some("agency-b")),
        api_key(&app, &[Scope::CallCenter], None),
    );
    let pause = format!("/api/v1/deadlines/{id}/pause");
    let resume = format!("/api/v1/deadlines/{id}/resume");
    let reason = json!({"reason": "waiting_for_citizen"});
    let (status, body) = app.post(&pause, &agency_a, &json!({})).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["reason".to_string()]), "{body}");
    assert_eq!(app.post(&pause, &agency_b, &reason).await.0, 404, "another agency's stage does not exist for it");
    assert_eq!(app.post(&pause, &call_center, &reason).await.0, 403);
    assert_eq!(app.post(&resume, &agency_a, &json!({})).await.0, 409, "not paused");
    let (status, body) = app.post(&pause, &agency_a, &reason).await;
    assert_eq!((status, body["state"].clone()), (200, json!("paused")), "{body}");
    assert_eq!(app.post(&pause, &agency_a, &reason).await.0, 409, "already paused");
    let (status, body) = app.post(&resume, ADMIN_KEY, &json!({})).await;
    assert_eq!((status, body["state"].clone()), (200, json!("pending")), "{body}");
    assert_eq!(app.post("/api/v1/deadlines/nope/pause", ADMIN_KEY, &reason).await.0, 404);
    app.stop().await;
}

async fn office(app: &TestApp) {
    let calendar = json!({"id": "cal", "timezone": "Asia/Tehran", "weekly_days_off": ["thursday", "friday"],
        "working_hours": [{"from": "07:30", "to": "14:30"}], "holidays": [], "closures": []});
    assert_eq!(app.put("/api/v1/calendars/cal", ADMIN_KEY, &calendar).await.0, 201);
    let policy = json!({"id": "office", "calendar": "cal", "stages": [
        {"stage": "respond", "budget": "8h", "reminders": []}]});
    assert_eq!(app.put("/api/v1/sla-policies/office", ADMIN_KEY, &policy).await.0, 201);
}

fn start_saturday(app: &TestApp, week: &Week) -> String {
    let event = MessageAssigned { assigned_at: week.at(SAT, "07:30"), ..assigned("m-1", "1", "roads", "agency-a") };
    write(app, |conn| store::schedule(conn, &event, "P7D", Utc::now()));
    only_deadline(app, "m-1").id
}

/// Worked by hand: 8 h from Saturday 07:30, paused at 10:00 (5.5 h left) and resumed on Monday
/// 07:30. A holiday added afterwards on that Monday recomputes the clock with the pause kept:
/// the 5.5 h now start on Tuesday.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_change_after_a_pause_keeps_the_time_the_pause_took() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    office(&app).await;
    let week = Week::ahead();
    let id = start_saturday(&app, &week);
    write(&app, |conn| pausing::pause(conn, &id, None, "waiting_for_citizen", week.at(SAT, "10:00")));
    write(&app, |conn| pausing::resume(conn, &id, None, week.at(MON, "07:30")));
    assert_eq!(only_deadline(&app, "m-1").due_at, week.at(MON, "13:00"));
    let holiday = json!({"date": week.jalali(MON), "name": "تعطیل"});
    let (status, body) = app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &holiday).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(1)), "{body}");
    assert_eq!(only_deadline(&app, "m-1").due_at, week.at(TUE, "13:00"));
    app.stop().await;
}

/// Paused on Saturday at 10:00 with the clock due Sunday 08:30; Sunday becomes a holiday
/// during the pause. On Monday's resumption the 5.5 h left are counted on the new calendar:
/// due Monday 13:00, with nothing of the budget lost to the holiday.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_edited_during_a_pause_counts_when_the_clock_resumes() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    office(&app).await;
    let week = Week::ahead();
    let id = start_saturday(&app, &week);
    assert_eq!(only_deadline(&app, "m-1").due_at, week.at(SUN, "08:30"));
    write(&app, |conn| pausing::pause(conn, &id, None, "waiting_for_citizen", week.at(SAT, "10:00")));
    let holiday = json!({"date": week.jalali(SUN), "name": "تعطیل"});
    let (status, body) = app.post("/api/v1/calendars/cal/holidays", ADMIN_KEY, &holiday).await;
    assert_eq!((status, body["deadlines_moved"].clone()), (201, json!(0)), "a paused clock waits: {body}");
    let resumed = write(&app, |conn| pausing::resume(conn, &id, None, week.at(MON, "07:30")));
    assert_eq!(resumed.due_at, week.at(MON, "13:00"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_whose_warning_is_due_cannot_be_paused_away() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-1", "1", "roads", "agency-a"), t0);
    let id = only_deadline(&app, "m-1").id;
    // Due at t0 + 1 h; the firing loop has not got to it yet.
    let error = write(&app, |conn| {
        Ok::<_, nazer_shared::db::DbError>(pausing::pause(conn, &id, None, "late", t0 + Duration::hours(2)).err())
    });
    assert!(matches!(error, Some(PauseError::WrongState(..))), "{error:?}");
    assert_eq!(fire_all(&app, t0 + Duration::hours(2)).warnings.len(), 1);
    app.stop().await;
}
