//! Clocks for other subjects' stages (a violation case's track), started, paused, resumed and
//! stopped by their owner's `stage.*` events: the same ladder as a message's, every level once,
//! events naming the subject and the message it is about — and no message's event reaches them.

mod support;

use chrono::{DateTime, Duration, Utc};
use nazer_deadline_timer::subjects;
use nazer_shared::events::{
    DeadlineMet, MessageDeclined, StageClosed, StageOpened, StagePaused, StageResumed, StageSubject,
};
use nazer_shared::testing::TestApp;
use nazer_shared::testing::fixtures::{message_responded, stored, write};
use support::fire_all;

fn subject(id: &str) -> StageSubject {
    StageSubject { kind: "violation_case".into(), id: id.into() }
}

/// A stage of case `case` about message `m-1`, on a plain `budget` with levels 2 and 3 each
/// `budget` later and reminders at half time.
fn opened(case: &str, stage: &str, budget: &str, at: DateTime<Utc>) -> StageOpened {
    StageOpened {
        subject: subject(case),
        stage: stage.into(),
        stage_fa: "مهلت ارجاع تخلف به مرجع رسیدگی در پرونده پیام".into(),
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "district-3".into(),
        escalation_agency_id: Some("tehran-municipality".into()),
        agency_ancestors: vec!["tehran-municipality".into()],
        budget: budget.into(),
        reminders: Some(vec![0.5]),
        level_2_after: Some(budget.into()),
        level_3_after: Some(budget.into()),
        province: "tehran".into(),
        area_path: vec![],
        opened_at: at,
    }
}

async fn start() -> TestApp {
    let app = TestApp::start(&[nazer_deadline_timer::SERVICE]).await;
    write(&app, |conn| nazer_deadline_timer::seed_reference(conn, Utc::now()));
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subjects_stage_runs_its_ladder_once_and_names_the_subject() {
    let mut app = start().await;
    let t0 = stored(Utc::now());
    let stage = opened("case-1", "remedial.referred", "PT10S", t0);
    assert!(write(&app, |conn| subjects::open(conn, &stage, t0)));
    assert!(!write(&app, |conn| subjects::open(conn, &stage, t0)), "the same opening twice starts one clock");

    // A message's answer and decline, for the message the case is about, never reach it.
    let answered = message_responded("m-1", "district-3", t0 + Duration::seconds(1));
    write(&app, |conn| nazer_deadline_timer::deadlines::store::meet(conn, &answered, t0 + Duration::seconds(1)));
    let declined = MessageDeclined {
        message_id: "m-1".into(),
        tracking_code: "1234567890".into(),
        agency_id: "district-3".into(),
        reason: "x".into(),
        decline_count: 1,
        declined_at: t0 + Duration::seconds(2),
    };
    write(&app, |conn| nazer_deadline_timer::deadlines::store::stop_declined(conn, &declined));

    let half = fire_all(&app, t0 + Duration::seconds(5));
    assert_eq!(half.reminders.len(), 1);
    let reminder = &half.reminders[0];
    assert_eq!((reminder.message_id.as_str(), reminder.subject.clone()), ("m-1", Some(subject("case-1"))));
    assert!(reminder.text_fa.starts_with("یادآوری: مهلت ارجاع تخلف به مرجع رسیدگی در پرونده پیام ۱۲۳۴۵۶۷۸۹۰"));

    // Everything at once, long after: each level once, however often firing runs.
    let late = t0 + Duration::seconds(60);
    let warnings = fire_all(&app, late).warnings;
    assert!(fire_all(&app, late + Duration::seconds(30)).warnings.is_empty());
    let levels: Vec<(i32, Option<String>)> = warnings.iter().map(|w| (w.level, w.escalated_to.clone())).collect();
    assert_eq!(levels, [(1, None), (2, Some("tehran-municipality".into())), (3, Some("special-follow-up".into()))]);
    for warning in &warnings {
        assert_eq!((warning.message_id.as_str(), warning.stage.as_str()), ("m-1", "remedial.referred"));
        assert_eq!(warning.subject, Some(subject("case-1")));
    }
    assert!(warnings[0].text_fa.starts_with("مهلت ارجاع تخلف به مرجع رسیدگی در پرونده پیام ۱۲۳۴۵۶۷۸۹۰ در تاریخ"));

    // The owner closes the stage: answered late, announced as the subject's.
    let closed = StageClosed { subject: subject("case-1"), stage: "remedial.referred".into(), closed_at: late };
    assert_eq!(write(&app, |conn| subjects::close(conn, &closed, late)), 0, "met late, not met");
    let met: Vec<DeadlineMet> =
        app.outbox_events("deadline-timer", "deadline.met").iter().map(|e| e.decode().unwrap()).collect();
    assert_eq!(met.len(), 1);
    assert_eq!(
        (met[0].answered_late, met[0].subject.clone(), met[0].message_id.as_str()),
        (true, Some(subject("case-1")), "m-1")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_stage_keeps_its_budget_and_a_close_that_overtook_the_opening_meets_it() {
    let mut app = start().await;
    let t0 = stored(Utc::now());
    let stage = opened("case-2", "remedial.decided", "PT10S", t0);
    write(&app, |conn| subjects::open(conn, &stage, t0));
    let paused = StagePaused {
        subject: subject("case-2"),
        stage: "remedial.decided".into(),
        reason: "کمیسیون".into(),
        paused_at: t0 + Duration::seconds(4),
    };
    // Handled late (at 50 s): the clock stops as of the owner's instant, 4 s in.
    assert!(write(&app, |conn| subjects::pause(conn, &paused, t0 + Duration::seconds(50))));
    assert!(!write(&app, |conn| subjects::pause(conn, &paused, t0 + Duration::seconds(51))), "paused already");
    assert!(fire_all(&app, t0 + Duration::seconds(100)).warnings.is_empty(), "nothing fires while paused");
    let at_100 = t0 + Duration::seconds(100);
    let resumed = StageResumed { subject: subject("case-2"), stage: "remedial.decided".into(), resumed_at: at_100 };
    assert!(write(&app, |conn| subjects::resume(conn, &resumed, at_100)));
    // Six seconds were left: due at 106, not before.
    assert!(fire_all(&app, t0 + Duration::seconds(105)).warnings.is_empty());
    assert_eq!(fire_all(&app, t0 + Duration::seconds(106)).warnings.len(), 1);
    // The pause redelivered after its resumption changes nothing.
    assert!(!write(&app, |conn| subjects::pause(conn, &paused, t0 + Duration::seconds(107))));

    // A resumption that overtook its pause: the pause, arriving after, stops nothing.
    write(&app, |conn| subjects::open(conn, &opened("case-5", "remedial.executed", "PT10S", t0), t0));
    let at_3 = t0 + Duration::seconds(3);
    let resumed_first =
        StageResumed { subject: subject("case-5"), stage: "remedial.executed".into(), resumed_at: at_3 };
    assert!(!write(&app, |conn| subjects::resume(conn, &resumed_first, at_3)));
    let paused_late = StagePaused {
        subject: subject("case-5"),
        stage: "remedial.executed".into(),
        reason: "x".into(),
        paused_at: t0 + Duration::seconds(2),
    };
    assert!(!write(&app, |conn| subjects::pause(conn, &paused_late, t0 + Duration::seconds(4))));
    let case_5 = fire_all(&app, t0 + Duration::seconds(110)).warnings;
    assert_eq!(case_5.iter().filter(|w| w.subject == Some(subject("case-5"))).count(), 3, "never paused: every level");

    // A pause that overtook its opening holds from its instant once the clock starts.
    let paused_first = StagePaused {
        subject: subject("case-6"),
        stage: "remedial.referred".into(),
        reason: "x".into(),
        paused_at: t0 + Duration::seconds(1),
    };
    assert!(!write(&app, |conn| subjects::pause(conn, &paused_first, t0 + Duration::seconds(1))));
    let case_6 = opened("case-6", "remedial.referred", "PT10S", t0);
    write(&app, |conn| subjects::open(conn, &case_6, t0 + Duration::seconds(2)));
    let warned = fire_all(&app, t0 + Duration::seconds(200)).warnings;
    assert!(warned.iter().all(|w| w.subject != Some(subject("case-6"))), "paused from 1 s: {warned:?}");

    // A close delivered before its opening: the clock starts met and never fires.
    let closed = StageClosed {
        subject: subject("case-3"),
        stage: "remedial.referred".into(),
        closed_at: t0 + Duration::seconds(1),
    };
    assert_eq!(write(&app, |conn| subjects::close(conn, &closed, t0 + Duration::seconds(1))), 0);
    write(&app, |conn| subjects::open(conn, &opened("case-3", "remedial.referred", "PT1S", t0), t0));
    assert!(fire_all(&app, t0 + Duration::seconds(60)).warnings.iter().all(|w| w.subject != Some(subject("case-3"))));

    // An owner that names no subject of its own is refused.
    let mut bad = opened("case-4", "remedial.referred", "PT1S", t0);
    bad.subject.kind = "message".into();
    let mut conn = app.db().get().unwrap();
    assert!(subjects::open(&mut conn, &bad, t0).is_err());
    drop(conn);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counterpart_units_warnings_are_left_out_for_callers_who_do_not_oversee_them() {
    use nazer_deadline_timer::warnings::store::{WarningFilter, list_warnings};

    let mut app = start().await;
    let t0 = stored(Utc::now());
    let remedial = opened("case-7", "remedial.referred", "PT1S", t0);
    let culpability = StageOpened {
        agency_id: "unit:inspection-urban-planning".into(),
        escalation_agency_id: Some("special-follow-up".into()),
        agency_ancestors: vec![],
        ..opened("case-7", "culpability.findings_recorded", "PT1S", t0)
    };
    let committee_stage = StageOpened { agency_id: "committee:compliance".into(), ..culpability.clone() };
    let committee_stage = StageOpened { stage: "culpability.decided".into(), ..committee_stage };
    write(&app, |conn| subjects::open(conn, &remedial, t0));
    write(&app, |conn| subjects::open(conn, &culpability, t0));
    write(&app, |conn| subjects::open(conn, &committee_stage, t0));
    assert_eq!(fire_all(&app, t0 + Duration::milliseconds(1500)).warnings.len(), 3, "level 1 of each");

    let mut conn = app.db().get().unwrap();
    let stages = |filter: &WarningFilter, conn: &mut nazer_shared::db::DbConnection| -> Vec<String> {
        let mut stages: Vec<String> = list_warnings(conn, filter).unwrap().into_iter().map(|w| w.stage).collect();
        stages.sort();
        stages
    };
    let everyone = WarningFilter { limit: 50, ..WarningFilter::default() };
    assert_eq!(
        stages(&everyone, &mut conn),
        ["culpability.decided", "culpability.findings_recorded", "remedial.referred"]
    );
    let call_centre = WarningFilter { agencies_only: true, ..everyone.clone() };
    assert_eq!(stages(&call_centre, &mut conn), ["remedial.referred"]);
    // The agency's parent sees the remedial warning of its district, never the unit's.
    let parent = WarningFilter { visible_to: Some("tehran-municipality".into()), agencies_only: true, ..everyone };
    assert_eq!(stages(&parent, &mut conn), ["remedial.referred"]);
    drop(conn);

    // Over the API: the unit reads and acknowledges its own warning, and nothing else; another
    // unit and the call centre never see it.
    use nazer_shared::http::Scope;
    use nazer_shared::testing::fixtures::{api_key, unit_key};
    let unit = unit_key(&app, &[Scope::CounterpartUnit], "inspection-urban-planning");
    let other_unit = unit_key(&app, &[Scope::CounterpartUnit], "inspection-finance-transactions");
    let call_centre = api_key(&app, &[Scope::CallCenter], None);
    let listed = |body: &serde_json::Value| -> Vec<String> {
        body["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(|w| w["stage"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let (status, own) = app.get("/api/v1/warnings?agency_id=district-3", &unit).await;
    assert_eq!((status, listed(&own)), (200, vec!["culpability.findings_recorded".to_string()]), "{own}");
    let (_, none) = app.get("/api/v1/warnings", &other_unit).await;
    assert!(listed(&none).is_empty(), "{none}");
    let (_, staff_free) = app.get("/api/v1/warnings", &call_centre).await;
    assert_eq!(listed(&staff_free), ["remedial.referred"], "{staff_free}");
    let committee = api_key(&app, &[Scope::ComplianceCommittee], None);
    let (_, its_own) = app.get("/api/v1/warnings", &committee).await;
    assert_eq!(listed(&its_own), ["culpability.decided"], "{its_own}");
    let id = own["warnings"][0]["id"].as_str().unwrap_or_default().to_string();
    let path = format!("/api/v1/warnings/{id}/acknowledgement");
    assert_eq!(app.post(&path, &other_unit, &serde_json::json!({})).await.0, 404, "not its warning");
    let (status, acknowledged) = app.post(&path, &unit, &serde_json::json!({})).await;
    assert!(status == 200 && acknowledged["acknowledged_at"].is_string(), "{acknowledged}");
    app.stop().await;
}
