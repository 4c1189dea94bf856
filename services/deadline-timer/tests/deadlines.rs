//! Deadline-timer against a real host: respond clocks started on assignment and stopped by a
//! response, exactly one warning per overdue deadline (also with replicas racing), the firing
//! loop itself, and the API. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and
//! NAZER_TEST_BROKER_URL are set; SQLite and the in-process bus otherwise.
//!
//! The host's own firing loop runs on the system clock, so tests that drive `fire_due` by hand
//! use instants at least an hour ahead, where that loop cannot reach.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use nazer_deadline_timer::deadlines::store;
use nazer_deadline_timer::firing::store as firing_store;
use nazer_deadline_timer::schema::{deadlines, warnings};
use nazer_deadline_timer::warnings::WarningReason;
use nazer_deadline_timer::warnings::store::{self as warning_store, WarningFilter};
use nazer_shared::db::{DbConnection, DbError, to_db_time, write_transaction};
use nazer_shared::events::{DeadlineMet, DeadlineScheduled, DeadlineState, MessageAssigned, Stage, WarningIssued};
use nazer_shared::http::Scope;
use nazer_shared::iran::persian_digits;
use nazer_shared::testing::fixtures::{api_key, envelope, message_responded, stored, write};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
use serde_json::{Value, json};

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_starts_one_respond_clock() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    put_policy(&app, "*", "PT1H").await;
    put_policy(&app, "health.pharmacy", "PT20M").await;
    let (status, body) = app.get("/api/v1/sla-policies", ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sla_policies"].as_array().unwrap().len(), 2, "{body}");

    let now = Utc::now();
    let building = assigned("m-building", "1234567890", "municipal.building", "agency-a");
    let pharmacy = assigned("m-pharmacy", "2234567890", "health.pharmacy", "agency-b");
    let due = schedule(&app, &building, now);
    assert_eq!(due, Some(stored(now) + Duration::hours(1)), "the `*` budget applies to a category without its own");
    assert_eq!(schedule(&app, &pharmacy, now), Some(stored(now) + Duration::minutes(20)), "a category's own budget");

    let rows = deadlines_of(&app, "m-building");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].state.as_str(), rows[0].due()),
        (DeadlineState::Pending.as_str(), stored(now) + Duration::hours(1))
    );
    let mut conn = app.db().get().unwrap();
    let views = store::deadlines_of(&mut conn, "m-building").unwrap();
    drop(conn);
    assert_eq!(views[0].budget, "PT1H");
    assert_eq!(views[0].stage, Stage::Respond);
    assert_eq!(views[0].agency_id, "agency-a");
    assert_eq!(views[0].tracking_code, "1234567890");
    assert_eq!(views[0].started_at, stored(now));

    let scheduled = app.outbox_events("deadline-timer", "deadline.scheduled");
    assert_eq!(scheduled.len(), 2);
    let event: DeadlineScheduled = scheduled[0].decode().unwrap();
    assert_eq!(event.deadline_id, rows[0].id);
    assert_eq!(event.message_id, "m-building");
    assert_eq!(event.tracking_code, "1234567890");
    assert_eq!(event.agency_id, "agency-a");
    assert_eq!(event.stage, Stage::Respond.as_str());
    assert_eq!(event.started_at, stored(now));
    assert_eq!(event.due_at, stored(now) + Duration::hours(1));

    // The same assignment delivered again (handled later) does not restart the clock.
    let again = MessageAssigned { assigned_at: now, ..building.clone() };
    assert_eq!(write(&app, |conn| store::schedule(conn, &again, FALLBACK, now + Duration::minutes(5))), None);
    assert_eq!(deadlines_of(&app, "m-building").len(), 1);
    assert_eq!(deadlines_of(&app, "m-building")[0].due(), stored(now) + Duration::hours(1));
    assert_eq!(app.outbox_events("deadline-timer", "deadline.scheduled").len(), 2, "no second deadline.scheduled");

    // A changed budget applies to clocks started afterwards.
    put_policy(&app, "*", "P2D").await;
    let later = assigned("m-later", "3234567890", "municipal.roads", "agency-a");
    assert_eq!(schedule(&app, &later, now), Some(stored(now) + Duration::days(2)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_budgets_the_configured_default_applies() {
    let mut app = TestApp::start_with(&[nazer_deadline_timer::SERVICE], |settings| {
        settings.deadlines.default_budget = "PT2H".into();
    })
    .await;
    let (status, body) = app.get("/api/v1/sla-policies", ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["sla_policies"].clone(), body["default_budget"].clone()), (json!([]), json!("PT2H")));

    // Through the bus and the consumer, which passes the configured default.
    let event = assigned("m-default", "1234567890", "municipal.building", "agency-a");
    let envelope = envelope("routing", &event);
    app.host.as_ref().unwrap().bus.publish(&envelope).await.unwrap();
    let deadline = eventually(StdDuration::from_secs(10), "the deadline to be scheduled", || async {
        let (_, body) = app.get("/api/v1/deadlines?message_id=m-default", ADMIN_KEY).await;
        body["deadlines"].as_array().and_then(|d| d.first().cloned())
    })
    .await;
    assert_eq!(deadline["budget"], "PT2H");
    assert_eq!(deadline["state"], "pending");
    let started: DateTime<Utc> = serde_json::from_value(deadline["started_at"].clone()).unwrap();
    let due: DateTime<Utc> = serde_json::from_value(deadline["due_at"].clone()).unwrap();
    assert_eq!(due - started, Duration::hours(2));

    // Directly, the fallback is what the store is given.
    let now = Utc::now();
    let direct =
        MessageAssigned { assigned_at: now, ..assigned("m-direct", "1234567890", "municipal.building", "agency-a") };
    assert_eq!(write(&app, |conn| store::schedule(conn, &direct, "PT3H", now)), Some(stored(now) + Duration::hours(3)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_deadline_gets_exactly_one_warning() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = Utc::now() + Duration::hours(1);
    let first = assigned("m-first", "1234567890", "municipal.building", "agency-a");
    let second = assigned("m-second", "9876543210", "municipal.building", "agency-b");
    let first_due = schedule(&app, &first, t0).unwrap();
    let second_due = schedule(&app, &second, t0 + Duration::minutes(30)).unwrap();

    assert!(fire(&app, first_due - Duration::seconds(1)).is_empty(), "nothing is due yet");
    assert!(fire(&app, t0).is_empty());
    assert_eq!(warning_count(&app), 0);

    let issued = fire(&app, first_due);
    assert_eq!(issued.len(), 1, "due exactly now fires");
    let warning = &issued[0];
    let StoredClock { id: deadline_id, state: deadline_state, .. } = deadlines_of(&app, "m-first").remove(0);
    assert_eq!(warning.deadline_id, deadline_id);
    assert_eq!(warning.message_id, "m-first");
    assert_eq!(warning.tracking_code, "1234567890");
    assert_eq!(warning.agency_id, "agency-a");
    assert_eq!(warning.stage, Stage::Respond.as_str());
    assert_eq!(warning.level, 1);
    assert_eq!(warning.reason, WarningReason::Overdue.as_str());
    assert_eq!(warning.due_at, first_due);
    assert_eq!(warning.issued_at, stored(first_due));
    assert!(warning.text_fa.contains(&persian_digits("1234567890")), "{}", warning.text_fa);
    assert!(warning.text_fa.contains("۱۲۳۴۵۶۷۸۹۰"), "{}", warning.text_fa);
    assert!(!warning.text_fa.contains("1234567890"), "no Latin digits: {}", warning.text_fa);
    assert!(warning.text_fa.starts_with("مهلت رسیدگی به پیام"), "{}", warning.text_fa);
    assert_eq!(
        warning.text_fa,
        firing_store::warning_text(firing_store::stage_fa(Stage::Respond), 1, "1234567890", first_due)
    );
    assert_eq!(deadline_state, DeadlineState::Breached.as_str());

    let mut conn = app.db().get().unwrap();
    let listed = warning_store::list_warnings(&mut conn, &WarningFilter { limit: 50, ..Default::default() }).unwrap();
    drop(conn);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].level), (warning.warning_id.as_str(), 1));
    assert_eq!(listed[0].text_fa, warning.text_fa);
    let events = app.outbox_events("deadline-timer", "warning.issued");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].aggregate_id, "m-first");
    assert_eq!(&events[0].decode::<WarningIssued>().unwrap(), warning);

    // Later runs (this replica or another) find nothing more for that deadline.
    assert!(fire(&app, first_due + Duration::minutes(1)).is_empty());
    let issued = fire(&app, second_due + Duration::hours(5));
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].message_id, "m-second");
    assert!(issued[0].text_fa.contains("۹۸۷۶۵۴۳۲۱۰"));
    assert!(fire(&app, second_due + Duration::days(30)).is_empty());
    assert_eq!(warning_count(&app), 2);
    assert_eq!(app.outbox_events("deadline-timer", "warning.issued").len(), 2);

    // The unique key itself refuses a second level-1 warning for the same deadline.
    let duplicate = write_transaction(&mut app.db().get().unwrap(), |conn: &mut DbConnection| {
        diesel::insert_into(warnings::table)
            .values((
                warnings::id.eq("hand-made"),
                warnings::deadline_id.eq(&warning.deadline_id),
                warnings::message_id.eq("m-first"),
                warnings::tracking_code.eq("1234567890"),
                warnings::agency_id.eq("agency-a"),
                warnings::level.eq(1),
                warnings::reason.eq(WarningReason::Overdue.as_str()),
                warnings::text_fa.eq("تکراری"),
                warnings::due_at.eq(to_db_time(first_due)),
                warnings::issued_at.eq(to_db_time(first_due)),
            ))
            .execute(conn)
            .map_err(DbError::from)
    });
    match duplicate {
        Err(error) => assert!(error.is_unique_violation(), "not a unique violation: {error}"),
        Ok(_) => panic!("a second level-1 warning for one deadline was accepted"),
    }
    assert_eq!(warning_count(&app), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_stops_the_clock() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = Utc::now() + Duration::hours(1);
    let event = assigned("m-answered", "1234567890", "municipal.building", "agency-a");
    let due = schedule(&app, &event, t0).unwrap();

    let answer_at = t0 + Duration::minutes(10);
    let met = write(&app, |conn| store::meet(conn, &message_responded("m-answered", "agency-a", answer_at), answer_at));
    assert_eq!(met, 1);
    let rows = deadlines_of(&app, "m-answered");
    assert_eq!(rows[0].state, DeadlineState::Met.as_str());
    let events = app.outbox_events("deadline-timer", "deadline.met");
    assert_eq!(events.len(), 1);
    let met_event: DeadlineMet = events[0].decode().unwrap();
    assert_eq!(met_event.deadline_id, rows[0].id);
    assert_eq!(met_event.message_id, "m-answered");
    assert_eq!(met_event.stage, Stage::Respond.as_str());
    assert_eq!(met_event.due_at, due);
    assert_eq!(met_event.met_at, stored(answer_at));
    assert!(!met_event.answered_late, "answered in time");

    // A second response event (another answer, or a redelivery) meets nothing more.
    let again =
        write(&app, |conn| store::meet(conn, &message_responded("m-answered", "agency-a", answer_at), answer_at));
    assert_eq!(again, 0);
    assert_eq!(app.outbox_events("deadline-timer", "deadline.met").len(), 1);

    assert!(fire(&app, due + Duration::days(1)).is_empty(), "a met deadline never warns");
    assert_eq!(warning_count(&app), 0);
    assert_eq!(deadlines_of(&app, "m-answered")[0].state, DeadlineState::Met.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_overtook_the_assignment_means_no_clock() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = Utc::now() + Duration::hours(1);

    // Assigned at t0, answered at t0+5s, and the answer heard first.
    let answered = t0 + Duration::seconds(5);
    let met = write(&app, |conn| store::meet(conn, &message_responded("m-early", "agency-a", answered), answered));
    assert_eq!(met, 0, "no deadline exists yet");
    let event =
        MessageAssigned { assigned_at: t0, ..assigned("m-early", "1234567890", "municipal.building", "agency-a") };
    let scheduled = write(&app, |conn| store::schedule(conn, &event, FALLBACK, t0 + Duration::seconds(10)));
    assert_eq!(scheduled, None, "nothing left to time");

    let rows = deadlines_of(&app, "m-early");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, DeadlineState::Met.as_str());
    assert!(app.outbox_events("deadline-timer", "deadline.scheduled").is_empty());
    let events = app.outbox_events("deadline-timer", "deadline.met");
    assert_eq!(events.len(), 1);
    let met_event: DeadlineMet = events[0].decode().unwrap();
    assert_eq!((met_event.deadline_id.as_str(), met_event.met_at), (rows[0].id.as_str(), stored(answered)));

    assert!(fire(&app, t0 + Duration::days(30)).is_empty());
    assert_eq!(warning_count(&app), 0);
    // And the assignment arriving again changes nothing.
    assert_eq!(write(&app, |conn| store::schedule(conn, &event, FALLBACK, t0 + Duration::minutes(1))), None);
    assert_eq!(deadlines_of(&app, "m-early").len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_replicas_issue_each_warning_once() {
    const DEADLINES: usize = 200;
    const REPLICAS: usize = 4;
    let mut app = TestApp::start_with(&[nazer_deadline_timer::SERVICE], |settings| {
        settings.database.pool_size = 12;
    })
    .await;
    let t0 = Utc::now() + Duration::hours(1);
    write(&app, |conn| {
        plain_policy(conn, "*", "PT1H")?;
        for n in 0..DEADLINES {
            let event = assigned(&format!("m-{n:03}"), &format!("{:010}", n), "municipal.building", "agency-a");
            store::schedule(conn, &event, FALLBACK, t0)?;
        }
        Ok::<_, DbError>(())
    });
    let fire_at = t0 + Duration::hours(2);

    let issued = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(std::sync::Barrier::new(REPLICAS));
    let threads: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let (db, issued, start) = (app.db().clone(), issued.clone(), start.clone());
            std::thread::spawn(move || {
                let mut conn = db.get().unwrap();
                start.wait();
                loop {
                    let batch = write_transaction(&mut conn, |conn| store::fire_due(conn, fire_at, 7)).unwrap();
                    if batch.deadlines == 0 {
                        break;
                    }
                    issued.lock().unwrap().extend(batch.warnings.into_iter().map(|w| w.deadline_id));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let issued = issued.lock().unwrap().clone();
    let unique: HashSet<&String> = issued.iter().collect();
    assert_eq!(unique.len(), issued.len(), "a deadline was fired twice");
    assert_eq!(issued.len(), DEADLINES, "every deadline fired");
    assert_eq!(warning_count(&app), DEADLINES as i64);
    let mut conn = app.db().get().unwrap();
    let distinct: Vec<String> = warnings::table.select(warnings::deadline_id).distinct().load(&mut *conn).unwrap();
    assert_eq!(distinct.len(), DEADLINES);
    let pending: i64 = deadlines::table
        .filter(deadlines::state.eq(DeadlineState::Pending.as_str()))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(pending, 0);
    drop(conn);
    let events = app.outbox_events("deadline-timer", "warning.issued");
    assert_eq!(events.len(), DEADLINES);
    let event_deadlines: HashSet<String> =
        events.iter().map(|e| e.decode::<WarningIssued>().unwrap().deadline_id).collect();
    assert_eq!(event_deadlines.len(), DEADLINES, "one warning.issued per deadline");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firing_loop_warns_once_when_the_budget_runs_out() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    put_policy(&app, "*", "PT1S").await;
    let event = assigned("m-loop", "1234567890", "municipal.building", "agency-a");
    let envelope = envelope("routing", &event);
    app.host.as_ref().unwrap().bus.publish(&envelope).await.unwrap();

    let path = "/api/v1/warnings?message_id=m-loop";
    let found = eventually(StdDuration::from_secs(10), "the warning of m-loop", || async {
        let (status, body) = app.get(path, ADMIN_KEY).await;
        assert_eq!(status, 200, "{body}");
        let list = body["warnings"].as_array().cloned().unwrap_or_default();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["level"], 1);
    assert_eq!(found[0]["agency_id"], "agency-a");
    assert!(found[0]["text_fa"].as_str().unwrap().contains("۱۲۳۴۵۶۷۸۹۰"));

    tokio::time::sleep(StdDuration::from_millis(1_500)).await;
    let (_, body) = app.get(path, ADMIN_KEY).await;
    assert_eq!(body["warnings"].as_array().unwrap().len(), 1, "still exactly one: {body}");
    assert_eq!(body["warnings"][0]["id"], found[0]["id"]);
    let (_, body) = app.get("/api/v1/deadlines?message_id=m-loop", ADMIN_KEY).await;
    assert_eq!(body["deadlines"][0]["state"], DeadlineState::Breached.as_str(), "{body}");
    assert_eq!(app.outbox_events("deadline-timer", "warning.issued").len(), 1);
    // Operators see how late the loop registers what is due.
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("nazer_deadline_fire_lag_seconds_count{kind=\"warning\"}"), "{metrics}");
    assert!(metrics.contains("nazer_deadlines_running{service=\"deadline-timer\"}"), "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_validates_and_scopes_by_agency() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;

    let warnings = ListContract { app: &app, path: "/api/v1/warnings", key: ADMIN_KEY, items: ("warnings", "id") };
    warnings.refuses("level=7", &["level"]).await;
    warnings.refuses("limit=0", &["limit"]).await;

    // Two agencies, one overdue message each.
    write(&app, |conn| plain_policy(conn, "*", "PT1H"));
    let t0 = Utc::now() + Duration::hours(1);
    schedule(&app, &assigned("m-a", "1111111111", "municipal.building", "agency-a"), t0);
    schedule(&app, &assigned("m-b", "2222222222", "municipal.building", "agency-b"), t0);
    assert_eq!(fire(&app, t0 + Duration::hours(2)).len(), 2);

    let (agency_a, call_center, unbound) = (
        api_key(&app, &[Scope::Agency], Some("agency-a")),
        api_key(&app, &[Scope::CallCenter], None),
        api_key(&app, &[Scope::Agency], None),
    );
    let agencies_of = |body: &Value| -> Vec<String> {
        body["warnings"].as_array().unwrap().iter().map(|w| w["agency_id"].as_str().unwrap().to_string()).collect()
    };
    for path in ["/api/v1/warnings", "/api/v1/warnings?agency_id=agency-b", "/api/v1/warnings?message_id=m-b"] {
        let (status, body) = app.get(path, &agency_a).await;
        assert_eq!(status, 200, "{body}");
        let seen = agencies_of(&body);
        assert!(seen.iter().all(|a| a == "agency-a"), "{path}: an agency saw another's warnings: {body}");
        if path == "/api/v1/warnings" {
            assert_eq!(seen, vec!["agency-a"], "{body}");
        }
    }
    let (_, body) = app.get("/api/v1/deadlines?message_id=m-b", &agency_a).await;
    assert_eq!(body["deadlines"], json!([]), "nor its deadlines");
    let (_, body) = app.get("/api/v1/deadlines?message_id=m-a", &agency_a).await;
    assert_eq!(body["deadlines"].as_array().unwrap().len(), 1);

    let (_, body) = app.get("/api/v1/warnings", ADMIN_KEY).await;
    let mut all = agencies_of(&body);
    all.sort();
    assert_eq!(all, vec!["agency-a", "agency-b"]);
    let (_, body) = app.get("/api/v1/warnings?agency_id=agency-b", &call_center).await;
    assert_eq!(agencies_of(&body), vec!["agency-b"]);
    let (_, body) = app.get("/api/v1/warnings?level=2", ADMIN_KEY).await;
    assert_eq!(body["warnings"], json!([]));

    let (status, body) = app.get("/api/v1/warnings", &unbound).await;
    assert_eq!(status, 403, "an agency key without an agency: {body}");
    let policy = json!({"id": "x", "stages": [{"stage": "respond", "budget": "PT1H"}]});
    let (status, body) = app.put("/api/v1/sla-policies/x", &agency_a, &policy).await;
    assert_eq!(status, 403, "{body}");
    let response = app.client.get(app.url("/api/v1/warnings")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_starts_at_the_assignment_not_when_the_event_is_handled() {
    let mut app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    let assigned_at = Utc::now() - Duration::hours(2);
    let late = MessageAssigned { assigned_at, ..assigned("m-late", "1234567890", "municipal.building", "agency-a") };
    // Handled two hours late (a broker outage, a backlog): the one-hour budget is already spent.
    let handled_at = Utc::now();
    let due = write(&app, |conn| store::schedule(conn, &late, "PT1H", handled_at));
    assert_eq!(due, Some(stored(assigned_at) + Duration::hours(1)));
    // Overdue at once: this host's own firing loop or this call registers it, exactly once.
    fire(&app, handled_at);
    let warnings = eventually(std::time::Duration::from_secs(5), "the warning", || async {
        let mut conn = app.db().get().ok()?;
        let filter = WarningFilter { message_id: Some("m-late".into()), limit: 10, ..Default::default() };
        let listed = warning_store::list_warnings(&mut conn, &filter).ok()?;
        (!listed.is_empty()).then_some(listed)
    })
    .await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].due_at, stored(assigned_at) + Duration::hours(1));
    app.stop().await;
}
