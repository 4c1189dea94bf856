//! SLA policies end to end in deadline-timer: the policy chosen for a message, reminders,
//! warning levels 1–3 and whom they escalate to, a response stopping the ladder, business
//! budgets on a stored calendar, and the policy and warning APIs. PostgreSQL and RabbitMQ when
//! NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus
//! otherwise. Instants driven by hand lie an hour or more ahead, out of the host loop's reach.

use chrono::{DateTime, Duration, Utc};
use nazer_deadline_timer::deadlines::store;
use nazer_deadline_timer::firing::store::SPECIAL_FOLLOW_UP;
use nazer_deadline_timer::warnings::WarningReason;
use nazer_shared::events::{
    DeadlineMet, DeadlineScheduled, DeadlineState, MessageAcknowledged, MessageAssigned, MessageDeclined, WarningIssued,
};
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, message_responded, stored, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::{Value, json};

mod support;

use support::*;

async fn put(app: &TestApp, path: &str, body: Value) {
    let (status, response) = app.put(path, ADMIN_KEY, &body).await;
    assert!(status == 201 || status == 200, "{path}: {status} {response}");
}

const LADDER: &str = "ladder";

async fn ladder_policy(app: &TestApp) {
    let policy = json!({"id": LADDER, "stages": [
        {"stage": "respond", "budget": "PT1H", "level_2_after": "PT1H", "level_3_after": "PT2H"}]});
    put(app, "/api/v1/sla-policies/ladder", policy).await;
}

fn escalating(message_id: &str) -> MessageAssigned {
    MessageAssigned {
        parent_agency_id: Some("ministry".into()),
        agency_ancestors: vec![],
        ..assigned(message_id, "1234567890", "roads", "agency-a")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_reminds_then_warns_level_by_level() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    ladder_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    assert_eq!(schedule(&app, &escalating("m-1"), t0), Some(t0 + Duration::minutes(30)), "first step: 50 %");

    assert_eq!(fire_all(&app, t0 + Duration::minutes(29)).deadlines, 0);
    let half = fire_all(&app, t0 + Duration::minutes(30));
    assert_eq!((half.reminders.len(), half.warnings.len()), (1, 0));
    let reminder = &half.reminders[0];
    assert_eq!(
        (reminder.fraction, reminder.due_at, reminder.agency_id.as_str()),
        (0.5, t0 + Duration::hours(1), "agency-a")
    );
    assert!(reminder.text_fa.starts_with("یادآوری: مهلت رسیدگی به پیام ۱۲۳۴۵۶۷۸۹۰"), "{}", reminder.text_fa);
    assert_eq!(fire_all(&app, t0 + Duration::minutes(47)).deadlines, 0);
    assert_eq!(fire_all(&app, t0 + Duration::minutes(48)).reminders[0].fraction, 0.8);

    let level_1 = fire_all(&app, t0 + Duration::hours(1)).warnings;
    assert_eq!(level_1.len(), 1);
    assert_eq!(
        (level_1[0].level, level_1[0].reason.as_str(), level_1[0].escalated_to.clone()),
        (1, WarningReason::Overdue.as_str(), None)
    );
    let view = only_deadline(&app, "m-1");
    assert_eq!(
        (view.state.as_str(), view.next_step_at),
        (DeadlineState::Breached.as_str(), Some(t0 + Duration::hours(2)))
    );

    let level_2 = fire_all(&app, t0 + Duration::hours(2)).warnings;
    assert_eq!(level_2.len(), 1);
    assert_eq!((level_2[0].level, level_2[0].reason.as_str()), (2, WarningReason::Escalated.as_str()));
    assert_eq!(level_2[0].escalated_to.as_deref(), Some("ministry"), "level 2 goes to the parent agency");
    assert!(level_2[0].text_fa.ends_with("تذکر مرحله دوم به مقام مافوق دستگاه"), "{}", level_2[0].text_fa);
    assert_eq!(fire_all(&app, t0 + Duration::hours(4) - Duration::seconds(1)).deadlines, 0);
    let level_3 = fire_all(&app, t0 + Duration::hours(4)).warnings;
    assert_eq!((level_3[0].level, level_3[0].reason.as_str()), (3, WarningReason::SpecialFollowUp.as_str()));
    assert_eq!(level_3[0].escalated_to.as_deref(), Some(SPECIAL_FOLLOW_UP));
    assert_eq!(level_3[0].due_at, t0 + Duration::hours(1), "every level names the stage's due instant");

    // The ladder is spent: nothing more, ever.
    assert_eq!(fire_all(&app, t0 + Duration::days(30)).deadlines, 0);
    let view = only_deadline(&app, "m-1");
    assert_eq!(view.next_step_at, None);
    assert!(view.steps.iter().all(|s| s.done), "{:?}", view.steps);
    assert_eq!(app.outbox_events("deadline-timer", "deadline.reminder").len(), 2);
    let levels: Vec<i32> = app
        .outbox_events("deadline-timer", "warning.issued")
        .iter()
        .map(|e| e.decode::<WarningIssued>().unwrap().level)
        .collect();
    assert_eq!(levels, [1, 2, 3]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_firing_skips_stale_reminders_but_registers_every_level() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    ladder_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &escalating("m-late"), t0);
    // The service was down for a day: reminders are pointless now, warnings are not.
    let fired = fire_all(&app, t0 + Duration::days(1));
    assert_eq!(fired.reminders.len(), 0);
    assert_eq!(fired.warnings.iter().map(|w| w.level).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(fire_all(&app, t0 + Duration::days(2)).deadlines, 0);
    assert!(app.outbox_events("deadline-timer", "deadline.reminder").is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_stops_what_is_left_of_the_ladder() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    ladder_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &escalating("m-early"), t0);
    schedule(&app, &escalating("m-late"), t0);
    assert_eq!(fire_all(&app, t0 + Duration::minutes(30)).reminders.len(), 2);

    // Answered in time: met, and the 80 % reminder never comes.
    let at = t0 + Duration::minutes(40);
    assert_eq!(write(&app, |conn| store::meet(conn, &message_responded("m-early", "agency-a", at), at)), 1);
    // Answered after level 1: level 2 and 3 never come.
    assert_eq!(fire_all(&app, t0 + Duration::hours(1)).warnings.len(), 1);
    let at = t0 + Duration::minutes(90);
    assert_eq!(
        write(&app, |conn| store::meet(conn, &message_responded("m-late", "agency-a", at), at)),
        0,
        "nothing was still pending"
    );
    assert_eq!(fire_all(&app, t0 + Duration::days(1)).deadlines, 0);

    let early = only_deadline(&app, "m-early");
    assert_eq!((early.state.as_str(), early.next_step_at), (DeadlineState::Met.as_str(), None));
    let late = only_deadline(&app, "m-late");
    assert_eq!((late.state.as_str(), late.next_step_at), (DeadlineState::AnsweredLate.as_str(), None));
    assert_eq!(app.outbox_events("deadline-timer", "warning.issued").len(), 1);
    // Both closings are announced, each saying whether the answer came in time.
    let met: Vec<DeadlineMet> =
        app.outbox_events("deadline-timer", "deadline.met").iter().map(|e| e.decode().unwrap()).collect();
    let late_or_not: Vec<(&str, bool)> = met.iter().map(|m| (m.message_id.as_str(), m.answered_late)).collect();
    assert_eq!(late_or_not, [("m-early", false), ("m-late", true)]);
    assert_eq!((met[1].deadline_id.as_str(), met[1].met_at), (late.id.as_str(), t0 + Duration::minutes(90)));
    assert_eq!(met[1].due_at, late.due_at);
    app.stop().await;
}

const TEHRAN_CALENDAR: &str = r#"{"id": "iran-gov", "timezone": "Asia/Tehran",
 "weekly_days_off": ["thursday", "friday"], "working_hours": [{"from": "07:30", "to": "14:30"}],
 "holidays": [], "closures": [{"date": "1405-09-10", "province": "tehran", "reason": "آلودگی هوا"}]}"#;

/// Worked by hand: from Monday 1405-09-09 07:30, 8 business hours are Monday's 7 and one more;
/// Tuesday 1405-09-10 is closed in Tehran only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_budgets_count_on_the_policys_calendar_for_the_messages_province() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    put(&app, "/api/v1/calendars/iran-gov", serde_json::from_str(TEHRAN_CALENDAR).unwrap()).await;
    put(
        &app,
        "/api/v1/sla-policies/office",
        json!({"id": "office", "calendar": "iran-gov", "stages": [
        {"stage": "acknowledge", "budget": "8h", "reminders": []},
        {"stage": "respond", "budget": "3d", "reminders": [], "level_2_after": "1d"}]}),
    )
    .await;
    put(
        &app,
        "/api/v1/sla-policies/urgent-by-phone",
        json!({"id": "urgent-by-phone", "priority": "urgent",
        "channel": "call_center", "stages": [{"stage": "respond", "budget": "PT4H"}]}),
    )
    .await;
    let monday = DateTime::parse_from_rfc3339("2026-11-30T07:30:00+03:30").unwrap().with_timezone(&Utc);
    let in_province = |message_id: &str, province: &str| MessageAssigned {
        province: province.into(),
        assigned_at: monday,
        ..assigned(message_id, "1234567890", "roads", "agency-a")
    };
    for (message_id, province) in [("m-tehran", "tehran"), ("m-fars", "fars")] {
        let event = in_province(message_id, province);
        write(&app, |conn| store::schedule(conn, &event, "P7D", Utc::now()));
    }
    let due = |message_id: &str| -> Vec<(String, String)> {
        let mut conn = app.db().get().unwrap();
        let views = store::deadlines_of(&mut conn, message_id).unwrap();
        views
            .into_iter()
            .map(|v| (v.stage.to_string(), v.due_at.with_timezone(&nazer_shared::iran::tehran_offset()).to_rfc3339()))
            .collect()
    };
    assert_eq!(
        due("m-tehran"),
        [
            ("acknowledge".to_string(), "2026-12-02T08:30:00+03:30".to_string()),
            ("respond".to_string(), "2026-12-06T14:30:00+03:30".to_string()),
        ],
        "Tuesday is closed in Tehran; Thursday and Friday are off: Wed, Sat, Sun are the 3 days"
    );
    assert_eq!(due("m-fars")[0].1, "2026-12-01T08:30:00+03:30");
    assert_eq!(due("m-fars")[1].1, "2026-12-05T14:30:00+03:30", "Tuesday counts outside Tehran");
    let scheduled = app.outbox_events("deadline-timer", "deadline.scheduled");
    assert_eq!(scheduled.len(), 4, "one clock per stage");
    let stages: Vec<String> = scheduled.iter().map(|e| e.decode::<DeadlineScheduled>().unwrap().stage).collect();
    assert_eq!(stages.iter().filter(|s| *s == "acknowledge").count(), 2);

    // An urgent call is held to its own, round-the-clock policy.
    let urgent = MessageAssigned { priority: "urgent".into(), ..in_province("m-urgent", "tehran") };
    let first = write(&app, |conn| store::schedule(conn, &urgent, "P7D", Utc::now()));
    assert_eq!(first, Some(monday + Duration::hours(2)), "50 % of 4 hours");
    let view = only_deadline(&app, "m-urgent");
    assert_eq!((view.policy_id.as_deref(), view.due_at), (Some("urgent-by-phone"), monday + Duration::hours(4)));
    let by_web = MessageAssigned { channel: Some("web".into()), ..urgent.clone() };
    let by_web = MessageAssigned { message_id: "m-urgent-web".into(), ..by_web };
    write(&app, |conn| store::schedule(conn, &by_web, "P7D", Utc::now()));
    assert_eq!(only_deadline(&app, "m-urgent-web").policy_id.as_deref(), Some("office"));
    app.stop().await;
}

async fn two_stages_policy(app: &TestApp) {
    put(
        app,
        "/api/v1/sla-policies/two-stages",
        json!({"id": "two-stages", "stages": [
        {"stage": "acknowledge", "budget": "PT1H", "reminders": []},
        {"stage": "respond", "budget": "PT5H", "reminders": []}]}),
    )
    .await;
}

fn acknowledged(message_id: &str, at: DateTime<Utc>) -> MessageAcknowledged {
    MessageAcknowledged {
        message_id: message_id.into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        acknowledged_at: at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_meets_the_acknowledge_stage_only() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    two_stages_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-ack", "1234567890", "roads", "agency-a"), t0);
    let at = t0 + Duration::minutes(10);
    assert_eq!(write(&app, |conn| store::acknowledge(conn, &acknowledged("m-ack", at), at)), 1);
    assert_eq!(write(&app, |conn| store::acknowledge(conn, &acknowledged("m-ack", at), at)), 0, "once");
    let views = {
        let mut conn = app.db().get().unwrap();
        store::deadlines_of(&mut conn, "m-ack").unwrap()
    };
    let states: Vec<(&str, &str)> = views.iter().map(|v| (v.stage.as_str(), v.state.as_str())).collect();
    assert_eq!(states, [("acknowledge", DeadlineState::Met.as_str()), ("respond", DeadlineState::Pending.as_str())]);
    let warned = fire_all(&app, t0 + Duration::hours(6)).warnings;
    assert_eq!(warned.iter().map(|w| w.stage.as_str()).collect::<Vec<_>>(), ["respond"]);
    assert!(warned[0].text_fa.starts_with("مهلت رسیدگی به پیام"), "{}", warned[0].text_fa);

    // Acknowledged before deadline-timer heard of the assignment: met from the start.
    write(&app, |conn| store::acknowledge(conn, &acknowledged("m-early", t0), t0));
    schedule(&app, &assigned("m-early", "1234567890", "roads", "agency-a"), t0);
    let views = {
        let mut conn = app.db().get().unwrap();
        store::deadlines_of(&mut conn, "m-early").unwrap()
    };
    let states: Vec<(&str, &str)> = views.iter().map(|v| (v.stage.as_str(), v.state.as_str())).collect();
    assert_eq!(states, [("acknowledge", DeadlineState::Met.as_str()), ("respond", DeadlineState::Pending.as_str())]);
    app.stop().await;
}

/// An agency that acknowledged (its acknowledge stage met) and then declined: the next agency
/// still gets clocks of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_agency_gets_clocks_after_an_acknowledged_decline() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    two_stages_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-passed", "1234567890", "roads", "agency-a"), t0);
    let at = t0 + Duration::minutes(10);
    write(&app, |conn| store::acknowledge(conn, &acknowledged("m-passed", at), at));
    let declined = MessageDeclined {
        message_id: "m-passed".into(),
        tracking_code: "1234567890".into(),
        agency_id: "agency-a".into(),
        reason: "خارج از حوزه".into(),
        decline_count: 1,
        declined_at: at + Duration::minutes(1),
    };
    assert_eq!(write(&app, |conn| store::stop_declined(conn, &declined)), 1, "the running respond clock");
    let next = assigned("m-passed", "1234567890", "roads", "agency-b");
    assert!(schedule(&app, &next, at + Duration::minutes(2)).is_some(), "agency-b's clocks start");
    let views = {
        let mut conn = app.db().get().unwrap();
        store::deadlines_of(&mut conn, "m-passed").unwrap()
    };
    let mut clocks: Vec<(&str, &str, &str)> =
        views.iter().map(|v| (v.agency_id.as_str(), v.stage.as_str(), v.state.as_str())).collect();
    clocks.sort();
    assert_eq!(
        clocks,
        [
            ("agency-a", "acknowledge", DeadlineState::Met.as_str()),
            ("agency-a", "respond", DeadlineState::Declined.as_str()),
            ("agency-b", "acknowledge", DeadlineState::Pending.as_str()),
            ("agency-b", "respond", DeadlineState::Pending.as_str()),
        ]
    );
    // The same assignment arriving again changes nothing.
    let again = MessageAssigned { assigned_at: at + Duration::minutes(2), ..next.clone() };
    assert_eq!(write(&app, |conn| store::schedule(conn, &again, "P7D", at + Duration::minutes(3))), None);

    // Declined by agency-b too, a supervisor sends it back to agency-a: fresh clocks again,
    // though agency-a's met acknowledge clock of the first assignment stays.
    let declined_again = MessageDeclined {
        agency_id: "agency-b".into(),
        decline_count: 2,
        declined_at: at + Duration::minutes(5),
        ..declined.clone()
    };
    write(&app, |conn| store::stop_declined(conn, &declined_again));
    let back = assigned("m-passed", "1234567890", "roads", "agency-a");
    assert!(schedule(&app, &back, at + Duration::minutes(10)).is_some(), "agency-a's second clocks start");
    let running = {
        let mut conn = app.db().get().unwrap();
        store::deadlines_of(&mut conn, "m-passed").unwrap()
    };
    let pending: Vec<&str> =
        running.iter().filter(|v| v.state == DeadlineState::Pending).map(|v| v.agency_id.as_str()).collect();
    assert_eq!(pending, ["agency-a", "agency-a"]);
    // A late copy of agency-a's first decline (retried, or replayed from parking) stops nothing
    // of the later assignment.
    assert_eq!(write(&app, |conn| store::stop_declined(conn, &declined)), 0);
    app.stop().await;
}

/// A response arriving while a replica is registering the level-1 warning of the same stage
/// (its batch not yet committed) must still stop the rest of the ladder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_racing_the_firing_of_level_one_still_stops_the_ladder() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    ladder_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &escalating("m-race"), t0);
    let due = t0 + Duration::hours(1);
    let (claimed_tx, claimed_rx) = std::sync::mpsc::channel();
    let db = app.db().clone();
    let firing = std::thread::spawn(move || {
        let mut conn = db.get().unwrap();
        nazer_shared::db::write_transaction(&mut conn, |conn| {
            let fired = store::fire_due(conn, due, 500)?;
            claimed_tx.send(()).unwrap();
            // Hold the claim while the response comes in.
            std::thread::sleep(std::time::Duration::from_millis(500));
            Ok::<_, nazer_shared::db::DbError>(fired.warnings.len())
        })
        .unwrap()
    });
    claimed_rx.recv().unwrap();
    let answered_at = due + Duration::seconds(1);
    write(&app, |conn| store::meet(conn, &message_responded("m-race", "agency-a", answered_at), answered_at));
    assert_eq!(firing.join().unwrap(), 1, "level 1 was registered");
    let view = only_deadline(&app, "m-race");
    assert_eq!((view.state.as_str(), view.next_step_at), (DeadlineState::AnsweredLate.as_str(), None));
    assert!(fire_all(&app, t0 + Duration::days(1)).warnings.is_empty(), "no level 2 or 3 after the answer");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_agency_sees_and_acknowledges_the_warning_escalated_to_it() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    ladder_policy(&app).await;
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &escalating("m-up"), t0);
    let fired = fire_all(&app, t0 + Duration::hours(2)).warnings;
    assert_eq!(fired.iter().map(|w| w.level).collect::<Vec<_>>(), [1, 2]);
    let (ministry, stranger) =
        (api_key(&app, &[Scope::Agency], Some("ministry")), api_key(&app, &[Scope::Agency], Some("stranger")));
    let (_, body) = app.get("/api/v1/warnings", &ministry).await;
    let levels: Vec<i64> = body["warnings"].as_array().unwrap().iter().map(|w| w["level"].as_i64().unwrap()).collect();
    assert_eq!(levels, [2], "only what was escalated to it: {body}");
    let level_2 = &fired[1].warning_id;
    let path = format!("/api/v1/warnings/{level_2}/acknowledgement");
    assert_eq!(app.post(&path, &stranger, &json!({})).await.0, 404);
    let (status, body) = app.post(&path, &ministry, &json!({})).await;
    assert_eq!((status, body["acknowledged_at"].is_string()), (200, true), "{body}");
    let (_, body) = app.get("/api/v1/warnings", &stranger).await;
    assert_eq!(body["warnings"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ladder_is_parked_and_the_others_still_fire() {
    use diesel::prelude::*;
    use nazer_deadline_timer::schema::deadlines;
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = stored(Utc::now() + Duration::hours(1));
    schedule(&app, &assigned("m-broken", "1", "roads", "agency-a"), t0);
    schedule(&app, &assigned("m-fine", "2", "roads", "agency-a"), t0 + Duration::seconds(1));
    write(&app, |conn| {
        diesel::update(deadlines::table.filter(deadlines::message_id.eq("m-broken")))
            .set(deadlines::ladder.eq("not json"))
            .execute(conn)
            .map_err(nazer_shared::db::DbError::from)
    });
    let fired = fire_all(&app, t0 + Duration::hours(2));
    assert_eq!(fired.warnings.iter().map(|w| w.message_id.as_str()).collect::<Vec<_>>(), ["m-fine"]);
    assert_eq!(fire_all(&app, t0 + Duration::hours(3)).deadlines, 0, "the broken one does not block the queue");
    app.stop().await;
}
